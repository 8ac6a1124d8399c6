"""The applications service's use cases: each loads, decides with the domain, saves and
emits through one unit of work (the store's transaction), one module per area."""
