"""The notify service's use cases: each loads, decides with the domain (who is told of what,
on which routes), saves and emits through one unit of work (the store's transaction), one
module per area. Sending is the senders' job (sending.py), beside the transactions."""
