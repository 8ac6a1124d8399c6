"""The funding service's nameko entrypoints."""
from services.common.providers import ChuyiService, MongoStore

from .store import FundingStore


class FundingService(ChuyiService):
    name = "funding"
    store = MongoStore(FundingStore)
