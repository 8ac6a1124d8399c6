"""The review service's nameko entrypoints."""
from services.common.providers import ChuyiService, MongoStore

from .store import ReviewStore


class ReviewService(ChuyiService):
    name = "review"
    store = MongoStore(ReviewStore)
