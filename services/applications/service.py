"""The applications service's nameko entrypoints."""
from services.common.providers import ChuyiService, MongoStore

from .store import ApplicationsStore


class ApplicationsService(ChuyiService):
    name = "applications"
    store = MongoStore(ApplicationsStore)
