"""The review service's use cases: plain functions over one unit of work (load, decide with
the domain, save and emit through the store)."""
