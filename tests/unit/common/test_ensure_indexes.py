"""BaseStore.ensure_indexes when several processes start on one database at once (a service's
replicas, review and its job runner): a collection another created since the list is left be,
its indexes still made; any other failure to create one stops the start."""

from unittest.mock import MagicMock

import pytest
from pymongo.errors import CollectionInvalid, OperationFailure

from services.review.store import ReviewStore


def racing_db(error: Exception) -> MagicMock:
    """A database whose every collection another process creates between the list and the create."""
    db = MagicMock()
    db.list_collection_names.return_value = []
    db.create_collection.side_effect = error
    return db


@pytest.mark.parametrize(
    "created_meanwhile",
    [CollectionInvalid("collection runs already exists"), OperationFailure("exists", code=48)],
)
def test_a_collection_created_meanwhile_by_another_process_is_no_failure(created_meanwhile):
    db = racing_db(created_meanwhile)
    ReviewStore.ensure_indexes(db)
    indexed = {call.args[0] for call in db.__getitem__.call_args_list}
    assert {"runs", "assignments", "staged_assignments", "outbox"} <= indexed


def test_any_other_failure_to_create_a_collection_stops_the_start():
    with pytest.raises(OperationFailure):
        ReviewStore.ensure_indexes(racing_db(OperationFailure("not authorized", code=13)))
