"""A reference finance consumer of the `funding.events` exchange, in plain kombu."""
