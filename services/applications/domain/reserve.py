"""A call's reserve list (候补名单), and the province's choice to give the place of a project
that left (动态调整) to it instead of returning it to the category for a later call.

The reserve list is review's final cut below the line (after upheld objections), carried by
`selection_finalized`. It stays valid for `RESERVE_VALIDITY` after the selection was finalized:
a year, the span of one round of calls, after which the province has run or can run the next
call for the freed place (docs/projects.md). The successor is the best-ranked application still
waiting on the list that the call's per-prefecture cap admits among the call's standing
selections (so a one-per-prefecture call fills a prefecture's place from that prefecture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.contracts.applications import remaining_quota
from services.applications.domain.messages import (
    Bilingual,
    PlaceTaken,
    ProjectNotLeft,
    ReserveEmpty,
    ReserveExpired,
    rfc3339,
)
from services.applications.domain.projects import LEFT
from services.contracts.catalogue import Category

RESERVE_VALIDITY = timedelta(days=365)


def reserve_valid_until(finalized_at: datetime) -> datetime:
    return finalized_at + RESERVE_VALIDITY


def check_place_free(project: Mapping[str, Any]) -> None:
    """The project has left and its place has not gone to the reserve list yet. Raises
    ProjectNotLeft or PlaceTaken."""
    if project["state"] not in LEFT:
        raise ProjectNotLeft(
            Bilingual(
                f"project {project['_id']} has not left the action (state {project['state']}): only the place of a "
                "failed or withdrawn project can go to the reserve list",
                f"项目 {project['_id']} 未退出（当前状态 {project['state']}）：只有未通过或被撤销项目的名额才能由候补递补",
            )
        )
    if project.get("succeeded_by"):
        raise PlaceTaken(
            Bilingual(
                f"the place of project {project['_id']} went to project {project['succeeded_by']} already: a place "
                "goes to the reserve list once",
                f"项目 {project['_id']} 的名额已由项目 {project['succeeded_by']} 递补：一个名额只能递补一次",
            )
        )


def check_place_available(category: Category, selected: int, held: int) -> None:
    """The freed place is still the category's: no later call holds it. Raises PlaceTaken."""
    if remaining_quota(category, selected, held) < 1:
        raise PlaceTaken(
            Bilingual(
                f"{category.code} has no place left (target {category.quota}, {selected} selected, {held} held by "
                "unfinished calls): a later call holds the freed place, so it cannot go to the reserve list",
                f"“{category.name_zh}”已无剩余名额（总名额{category.quota}，已遴选{selected}，未结束批次占用{held}）："
                "退出项目的名额已由后续批次占用，不能再由候补递补",
            )
        )


def check_reserve_valid(call_id: str, valid_until: datetime | None, at: datetime) -> None:
    """Raises ReserveEmpty when the call's selection came without a reserve list, ReserveExpired
    after its validity."""
    if valid_until is None:
        raise ReserveEmpty(
            Bilingual(
                f"call {call_id} has no reserve list: its selection was finalized without one",
                f"批次 {call_id} 没有候补名单：其立项结果未附候补名单",
            )
        )
    if at > valid_until:
        raise ReserveExpired(
            Bilingual(
                f"the reserve list of call {call_id} was valid until {rfc3339(valid_until)} (one year after its "
                "selection was finalized): the place returns to the category for a later call",
                f"批次 {call_id} 的候补名单有效期至 {rfc3339(valid_until)}（立项后一年），已过期：名额退回该类别，"
                "由后续批次遴选",
            )
        )


def next_on_reserve(
    call_id: str,
    reserve: Sequence[Mapping[str, Any]],
    waiting: set[str],
    standing_by_prefecture: Mapping[str, int],
    prefecture_cap: int,
) -> Mapping[str, Any]:
    """The best-ranked entry of `reserve` (in rank order) still `waiting` (not selected, not
    promoted) whose prefecture is below the cap among the call's standing selections. Raises
    ReserveEmpty."""
    for entry in reserve:
        if entry["application_id"] in waiting and standing_by_prefecture.get(entry["prefecture"], 0) < prefecture_cap:
            return entry
    raise ReserveEmpty(
        Bilingual(
            f"no application remains on the reserve list of call {call_id} ({len(reserve)} listed) that its cap of "
            f"{prefecture_cap} per prefecture admits: the place returns to the category for a later call",
            f"批次 {call_id} 的候补名单（共{len(reserve)}项）中已无符合每市州{prefecture_cap}项上限的候补："
            "名额退回该类别，由后续批次遴选",
        )
    )
