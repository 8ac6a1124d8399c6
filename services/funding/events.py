"""The events the funding service emits on `funding.events`: name (routing key) -> the
marshmallow schema of its data. The schemas are a contract apart
(services/contracts/funding_events.py), mirroring docs/asyncapi.yaml."""
from services.contracts.funding_events import EVENT_DATA_SCHEMAS

EVENTS = EVENT_DATA_SCHEMAS
