"""The notify service's nameko entrypoints."""
from services.common.providers import ChuyiService, MongoStore

from .store import NotifyStore


class NotifyService(ChuyiService):
    name = "notify"
    store = MongoStore(NotifyStore)
