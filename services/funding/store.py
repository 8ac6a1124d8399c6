"""The funding service's MongoDB repository: the only code that knows its collections."""
from services.common.store import BaseStore


class FundingStore(BaseStore):
    indexes: dict = {}
