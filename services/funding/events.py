"""The events the funding service emits on `funding.events`: name (routing key) -> the
marshmallow schema of its data. The schemas live in `schemas.py` beside the AsyncAPI
contract they mirror (docs/asyncapi.yaml); subjects and order are described there."""
from services.funding.schemas import EVENT_DATA_SCHEMAS

EVENTS = EVENT_DATA_SCHEMAS
