"""The round's money through the API: a funding rule per call and the budget lines its quota
needs, the allocation that follows each selection, the mid-term reviews by direct record, each
project's funding as finance reads it, and the reference finance consumer's reconciliation
against it. Each step takes the `Round` (its client, ids and console), as years.py's do."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from kombu import Connection

from chuyi.demo.api import FINANCE, PROVINCE, DemoError, wait_for
from chuyi.demo.console import wan
from chuyi.demo.plan import DEFAULT_RULE, FUNDING_RULES, CallRound, budget_needed
from examples.finance_consumer.consumer import FinanceConsumer, finance_queue

if TYPE_CHECKING:  # the driver imports this module
    from chuyi.demo.driver import Round


def funding_setup(round_: Round, calls: list[CallRound]) -> None:
    """A funding rule per call and budget lines enough for its quota, in the round's action year."""
    step = "funding rules and budgets"
    budgets = Counter()
    for call in calls:
        rule = FUNDING_RULES.get(call.category, DEFAULT_RULE)
        call.rule = {"id": call.body["funding_rule"], **rule}
        reply = round_.api.post(
            step,
            "/v1/funding-rules",
            PROVINCE,
            {**call.rule, "name": call.body["title"]},
            create=True,
            expect=(201, 409),
        )
        if reply.status == 409:
            _same_rule(round_, step, call.rule)
        for source, amount in budget_needed(rule, call.quota, call.body["budget_max_fen"]).items():
            budgets[(call.category, source)] += amount
    for (category, source), amount in budgets.items():
        round_.api.post(
            step,
            "/v1/budgets",
            PROVINCE,
            {"year": round_.year, "category": category, "source": source, "amount": amount},
            create=True,
            expect=(201,),
        )
    round_.say(
        f"funding: a rule per call, {len(budgets)} budget line(s) for {round_.year} funded with "
        f"{wan(sum(budgets.values()))} 万元"
    )


def _same_rule(round_: Round, step: str, rule: dict) -> None:
    """A rule of this id exists (an earlier round): use it if it says the same."""
    stored = round_.api.get(step, f"/v1/funding-rules/{rule['id']}").body
    if any(stored[k] != rule[k] for k in ("award", "sources", "tranches")):
        raise DemoError(f"step {step!r}: the funding rule {rule['id']} exists with other terms: {stored}")


def allocate(round_: Round, calls: list[CallRound]) -> None:
    """Allocation follows each selection_finalized by itself (rule and budgets exist);
    a call still pending after a while is allocated by the province's command."""
    step = "allocation"
    for call in calls:
        started = time.monotonic()

        def allocated(call=call, started=started) -> dict | None:
            reply = round_.api.get(step, f"/v1/calls/{call.id}/allocation", expect=(200, 404))
            if reply.status == 200 and reply.body["status"] == "allocated":
                return reply.body
            if reply.status == 200 and time.monotonic() - started > 20:
                round_.say(
                    f"allocation {call.category} still pending ({reply.body['pending_reason']}): allocating by command"
                )
                return round_.api.post(
                    step,
                    f"/v1/calls/{call.id}/allocation",
                    PROVINCE,
                    {"year": round_.year},
                    create=True,
                    expect=(201,),
                ).body
            return None

        call.allocation = wait_for(f"the allocation of {call.id}", allocated)
    total = sum(c.allocation["total"]["total"] for c in calls)
    round_.say(
        f"allocated {wan(total)} 万元 to {sum(len(c.allocation['awards']) for c in calls)} projects "
        f"(approval tranches released)"
    )


def record_milestones(round_: Round, calls: list[CallRound], panel: CallRound | None = None) -> None:
    """Mid-term reviews by the province's direct record (an override, with its reason): the
    top third of each call's projects pass; its last one is told to rectify. The `panel`
    call's review is left to an expert panel in the years (years.py)."""
    step = "mid-term review"
    work = []
    for call in calls:
        if call is panel:
            continue
        projects = sorted(call.allocation["awards"], key=lambda a: a["rank"])
        passing = projects[: math.ceil(len(projects) / 3)]
        work += [
            (
                call,
                p["project_id"],
                {"milestone": "mid_term", "result": "pass", "reason": "省级直接认定：中期建设任务按期完成。"},
            )
            for p in passing
        ]
        if len(projects) >= 3:
            work.append(
                (
                    call,
                    projects[-1]["project_id"],
                    {
                        "milestone": "mid_term",
                        "result": "rectify",
                        "reason": "部分年度建设任务滞后，经费执行率偏低，限期三个月整改。",
                    },
                )
            )

    def record(item: tuple[CallRound, str, dict]) -> tuple[CallRound, dict]:
        call, project, body = item
        return call, round_.api.post(
            step, f"/v1/projects/{project}/milestones", PROVINCE, body, create=True, expect=(201,)
        ).body

    for call, answer in round_.each("mid-term reviews", work, record):
        call.milestones.append(answer)
    results = Counter(m["result"] for c in calls for m in c.milestones)
    later = f"; {panel.category}'s goes to an expert panel in the years" if panel else ""
    round_.say(
        f"mid-term reviews by direct record: {results['pass']} passed (mid-term tranche released), "
        f"{results['rectify']} to rectify (tranche held){later}"
    )


def read_funding(round_: Round, calls: list[CallRound]) -> None:
    work = [(call, a["project_id"]) for call in calls for a in call.allocation["awards"]]

    def read(item: tuple[CallRound, str]) -> tuple[CallRound, dict]:
        call, project = item
        return call, round_.api.get("read project funding", f"/v1/projects/{project}/funding", FINANCE).body

    for call, funding in round_.each("reading project funding", work, read):
        call.funding[funding["project_id"]] = funding


# ---------------------------------------------------------------- finance consumer


def reconcile(consumer: FinanceConsumer, calls: Sequence[CallRound]) -> dict[str, dict] | None:
    """The consumer's reconciliation of the round's projects, once it equals what the
    funding service answers for each (None until then)."""
    book = consumer.reconciliation()
    mine = {project: book.get(project) for call in calls for project in call.funding}
    for call in calls:
        for project, funding in call.funding.items():
            if mine[project] is None or _columns(mine[project]) != _funding_columns(funding):
                return None
    return mine


def drop_queue(amqp_uri: str, name: str) -> None:
    """The demo's finance queue is the round's own: left behind, it would fill with every
    later funding event of the stack, with no one to read them."""
    with Connection(amqp_uri) as connection:
        finance_queue(name)(connection.default_channel).delete()


COLUMNS = {"allocated": "award", "released": "released", "withheld": "withheld", "clawed_back": "clawed_back"}


def _columns(reconciled: Mapping[str, Mapping[str, int]]) -> dict:
    return {column: {s: v[column] for s, v in reconciled.items() if v[column]} for column in COLUMNS}


def _funding_columns(funding: Mapping) -> dict:
    return {column: {s: v for s, v in funding[name]["by_source"].items() if v} for column, name in COLUMNS.items()}
