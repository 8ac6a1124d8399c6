"""The catalogue's programmes (categories) with their quota standing."""

from __future__ import annotations

from services.applications.domain.calls import quota_standing
from services.applications.store import ApplicationsStore


def programmes(store: ApplicationsStore) -> list[dict]:
    """Each category with its quota standing: selected in every year, held, available."""
    held, by_year = store.held_by_category(), store.standing_selections_by_year()
    answer = []
    for category in store.catalogue:
        standing = quota_standing(category, by_year.get(category.code, {}), held.get(category.code, 0))
        answer.append(
            {
                **category.as_dict(),
                "quota_year": store.catalogue.quota_year,
                "selected_count": standing.selected,
                **standing.as_dict(),
            }
        )
    return answer
