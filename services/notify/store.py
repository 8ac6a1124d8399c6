"""The notify service's MongoDB repository: the only code that knows its collections."""
from services.common.store import BaseStore


class NotifyStore(BaseStore):
    indexes: dict = {}
