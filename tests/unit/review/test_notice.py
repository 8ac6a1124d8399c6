from datetime import date, datetime, timedelta, timezone

import pytest

from services.common.statemachine import ReasonRequired, TransitionNotAllowed
from services.review.domain.notice import (
    ObjectionNotFound,
    PublicNotice,
    TransitionBlocked,
    notice_closes_at,
    publish_notice,
    stage_move,
    window_closes_at,
)
from services.review.domain.ranking import QuotaPolicy, RankEntry, rank
from services.common.errors import FieldErrors

BEIJING = timezone(timedelta(hours=8))
# 2025 Labour Day, as the State Council office arranged it: 5月1日至5日放假调休，4月27日（周日）上班
LABOUR_DAY_2025 = {date(2025, 5, d) for d in range(1, 6)}
MAKEUP_2025 = {date(2025, 4, 27)}


def beijing(*args):
    return datetime(*args, tzinfo=BEIJING)


@pytest.mark.parametrize(
    "start, closes",
    [
        # Monday 10:00: the day itself does not count; Tue..Mon are the five working days
        (beijing(2026, 3, 2, 10, 0), beijing(2026, 3, 10, 0, 0)),
        # Friday 23:30: Mon..Fri of the next week
        (beijing(2026, 3, 6, 23, 30), beijing(2026, 3, 14, 0, 0)),
        # Saturday: Mon..Fri
        (beijing(2026, 3, 7, 9, 0), beijing(2026, 3, 14, 0, 0)),
        # Sunday 23:59 UTC is already Monday in Beijing
        (datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc), beijing(2026, 3, 10, 0, 0)),
    ],
)
def test_window_is_five_working_days_after_the_day_of_publication(start, closes):
    closing = notice_closes_at(start)
    assert closing == closes
    assert closing.utcoffset() == timedelta(0)


def test_holidays_are_skipped():
    start = beijing(2025, 4, 28, 9, 0)  # Monday; Tue 29, Wed 30, then Tue 6 .. Thu 8
    assert notice_closes_at(start) == beijing(2025, 5, 6, 0, 0)  # without the holidays
    assert notice_closes_at(start, holidays=LABOUR_DAY_2025) == beijing(2025, 5, 9, 0, 0)


def test_makeup_sunday_counts_as_a_working_day():
    start = beijing(2025, 4, 25, 9, 0)  # Friday; Sun 27 (调休), Mon 28, Tue 29, Wed 30, Tue 6
    closing = notice_closes_at(start, holidays=LABOUR_DAY_2025, makeup_workdays=MAKEUP_2025)
    assert closing == beijing(2025, 5, 7, 0, 0)


def test_other_lengths_of_window():
    assert notice_closes_at(beijing(2026, 3, 2, 10, 0), 1) == beijing(2026, 3, 4, 0, 0)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"working_days": 0}, "working_days"),
        ({"holidays": {date(2025, 4, 27)}, "makeup_workdays": MAKEUP_2025}, "makeup_workdays"),
    ],
)
def test_bad_window_settings_name_the_field(kwargs, field):
    with pytest.raises(FieldErrors) as caught:
        notice_closes_at(beijing(2025, 4, 25, 9, 0), **kwargs)
    assert field in caught.value.errors


def test_naive_start_is_refused():
    with pytest.raises(FieldErrors):
        notice_closes_at(datetime(2026, 3, 2, 10, 0))


PUBLISHED_AT = beijing(2026, 3, 2, 10, 0)
DURING = PUBLISHED_AT + timedelta(days=2)
CLOSES = beijing(2026, 3, 10, 0, 0)


def entry(app_id, calibrated, prefecture):
    submitted_at = PUBLISHED_AT - timedelta(days=30)
    return RankEntry(app_id, prefecture, calibrated, calibrated, 150, submitted_at)


@pytest.fixture
def notice():
    ranking = rank(
        [
            entry("cs1", 9500, "长沙市"),
            entry("cs2", 9400, "长沙市"),
            entry("zz1", 9000, "株洲市"),
            entry("xt1", 8000, "湘潭市"),
        ],
        2,
        QuotaPolicy(prefecture_cap=1),
    )
    return publish_notice("call-1", ranking, who="province:1", now=PUBLISHED_AT)


def test_publish_opens_the_window_and_records_it(notice):
    assert notice.status == "published"
    assert (notice.opens_at, notice.closes_at) == (PUBLISHED_AT, CLOSES)
    assert notice.ranking.selected_ids == ("cs1", "zz1")
    assert notice.history == (
        {
            "subject": "notice:call-1",
            "event": "publish",
            "from_state": "ranked",
            "to_state": "published",
            "actor": "province:1",
            "at": PUBLISHED_AT,
            "reason": None,
        },
    )


def test_anyone_may_object_during_the_window(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="业绩材料不实")
    (objection,) = filed.open_objections
    assert (objection.application_id, objection.filed_by, objection.grounds) == (
        "zz1",
        "institution:9",
        "业绩材料不实",
    )
    assert filed.history[-1]["subject"] == "objection:o1"
    assert (filed.history[-1]["from_state"], filed.history[-1]["to_state"]) == ("new", "open")
    assert notice.objections == ()  # the earlier notice is unchanged


@pytest.mark.parametrize("now", [PUBLISHED_AT - timedelta(seconds=1), CLOSES])
def test_no_objection_outside_the_window(notice, now):
    with pytest.raises(TransitionBlocked) as caught:
        notice.file_objection("o1", "zz1", who="institution:9", now=now, grounds="材料不实")
    assert "window" in caught.value.why
    assert (caught.value.from_state, caught.value.to_state) == ("new", "open")


def test_objection_needs_grounds_and_a_selected_application(notice):
    with pytest.raises(ReasonRequired):
        notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds=" ")
    with pytest.raises(FieldErrors) as caught:
        notice.file_objection("o1", "xt1", who="institution:9", now=DURING, grounds="材料不实")
    assert "application_id" in caught.value.errors


def test_objection_ids_are_unique(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="材料不实")
    with pytest.raises(FieldErrors) as caught:
        filed.file_objection("o1", "cs1", who="institution:8", now=DURING, grounds="材料不实")
    assert "objection_id" in caught.value.errors


def test_upheld_objection_moves_the_reserve_up_under_the_same_constraints(notice):
    filed = notice.file_objection("o1", "cs1", who="institution:9", now=DURING, grounds="业绩造假")
    upheld = filed.resolve_objection("o1", upheld=True, who="province:1", now=DURING, reason="查实")
    # cs2 is next in score but 长沙市 may still have only one; it moves up, xt1 stays reserve
    assert upheld.ranking.selected_ids == ("cs2", "zz1")
    audit = upheld.history[-1]
    assert (audit["from_state"], audit["to_state"], audit["reason"]) == ("open", "upheld", "查实")
    assert (audit["removed"], audit["promoted"]) == ("cs1", ["cs2"])
    assert upheld.objection("o1").status == "upheld"


def test_dismissed_objection_changes_nothing_else(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="材料不实")
    dismissed = filed.resolve_objection("o1", upheld=False, who="province:1", now=DURING, reason="经核查，材料属实")
    assert dismissed.ranking == notice.ranking
    assert dismissed.objection("o1").resolution == "经核查，材料属实"


def test_an_objection_is_resolved_once_and_with_reasons(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="材料不实")
    with pytest.raises(ReasonRequired):
        filed.resolve_objection("o1", upheld=False, who="province:1", now=DURING, reason="")
    dismissed = filed.resolve_objection("o1", upheld=False, who="province:1", now=DURING, reason="不成立")
    with pytest.raises(TransitionNotAllowed):
        dismissed.resolve_objection("o1", upheld=True, who="province:1", now=DURING, reason="改判")
    with pytest.raises(ObjectionNotFound):
        dismissed.resolve_objection("o2", upheld=True, who="province:1", now=DURING, reason="改判")


def test_finalize_waits_for_the_window_to_close(notice):
    with pytest.raises(TransitionBlocked) as caught:
        notice.finalize(who="province:1", now=CLOSES - timedelta(seconds=1))
    assert "closes" in caught.value.why
    final = notice.finalize(who="province:1", now=CLOSES)
    assert final.status == "finalized"
    assert final.ranking.selected_ids == ("cs1", "zz1")
    assert final.history[-1]["to_state"] == "finalized"


def test_finalize_waits_for_open_objections_even_after_the_window(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="材料不实")
    with pytest.raises(TransitionBlocked) as caught:
        filed.finalize(who="province:1", now=CLOSES)
    assert "o1" in caught.value.why
    later = CLOSES + timedelta(days=1)
    upheld = filed.resolve_objection("o1", upheld=True, who="province:1", now=later, reason="查实")
    assert upheld.finalize(who="province:1", now=later).ranking.selected_ids == ("cs1", "xt1")


def test_finalized_notice_takes_no_more_moves(notice):
    final = notice.finalize(who="province:1", now=CLOSES)
    with pytest.raises(TransitionNotAllowed) as caught:
        final.finalize(who="province:1", now=CLOSES)
    assert not isinstance(caught.value, TransitionBlocked)
    with pytest.raises(TransitionBlocked):
        final.file_objection("o9", "cs1", who="institution:9", now=DURING, grounds="材料不实")


def test_a_province_may_lengthen_the_window_but_not_shorten_it():
    later = CLOSES + timedelta(days=3)
    assert window_closes_at(PUBLISHED_AT, closes_at=later) == later
    with pytest.raises(FieldErrors) as caught:
        window_closes_at(PUBLISHED_AT, closes_at=CLOSES - timedelta(hours=1))
    assert "never shortened" in caught.value.errors["closes_at"][0]


def test_a_short_window_is_a_test_aid_that_still_must_lie_ahead():
    soon = PUBLISHED_AT + timedelta(seconds=5)
    assert window_closes_at(PUBLISHED_AT, closes_at=soon, allow_short_window=True) == soon
    with pytest.raises(FieldErrors) as caught:
        window_closes_at(PUBLISHED_AT, closes_at=PUBLISHED_AT, allow_short_window=True)
    assert "closes_at" in caught.value.errors


def test_a_notice_record_gives_back_the_same_notice_with_its_objections(notice):
    filed = notice.file_objection("o1", "zz1", who="institution:9", now=DURING, grounds="材料不实")
    upheld = filed.resolve_objection("o1", upheld=True, who="province:1", now=DURING, reason="查实")
    again = PublicNotice.from_record("call-1", upheld.to_record(), upheld.ranking)
    assert again.objections == upheld.objections and again.upheld_application_ids == ("zz1",)
    assert (again.status, again.opens_at, again.closes_at, again.history) == (
        "published",
        upheld.opens_at,
        upheld.closes_at,
        (),
    )


def test_the_ranking_is_published_once_before_its_notice():
    stage, audit = stage_move("call-1", "reviewing", "rank", who="province:1", now=PUBLISHED_AT)
    assert (stage, audit["subject"], audit["from_state"], audit["to_state"]) == (
        "ranked",
        "notice:call-1",
        "reviewing",
        "ranked",
    )
    with pytest.raises(TransitionNotAllowed):
        stage_move("call-1", "ranked", "rank", who="province:1", now=PUBLISHED_AT)
    with pytest.raises(TransitionNotAllowed):
        stage_move("call-1", "reviewing", "publish", who="province:1", now=PUBLISHED_AT)


def test_one_party_objects_once_to_an_application_and_a_few_times_to_a_notice():
    """The probe: one institution filed 12 objections (6 identical) to one application."""
    from services.review.domain.notice import ObjectionRefused
    from services.contracts.review import MAX_OBJECTIONS_PER_FILER

    apps = [f"a{n}" for n in range(MAX_OBJECTIONS_PER_FILER + 1)]
    ranking = rank([entry(app, 9000 - n, "长沙市") for n, app in enumerate(apps)], len(apps), QuotaPolicy())
    notice = publish_notice("call-1", ranking, who="province:1", now=PUBLISHED_AT)

    def file(notice, number, application, party, person="u1"):
        return notice.file_objection(
            f"o{number}",
            application,
            who=f"institution:{person}",
            filer=f"institution:{party}",
            now=DURING,
            grounds="材料不实",
        )

    filed = file(notice, 0, apps[0], "inst_9")
    with pytest.raises(ObjectionRefused, match="already objected"):
        file(filed, 1, apps[0], "inst_9", person="u2")  # another person of the same institution
    filed = file(filed, 2, apps[0], "inst_8")  # another institution may
    for number, application in enumerate(apps[1:MAX_OBJECTIONS_PER_FILER], start=3):
        filed = file(filed, number, application, "inst_9")
    assert len(filed.objections) == MAX_OBJECTIONS_PER_FILER + 1
    with pytest.raises(ObjectionRefused, match="the most one party may"):
        file(filed, 99, apps[-1], "inst_9")
