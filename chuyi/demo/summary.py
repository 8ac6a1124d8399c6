"""The round's summary as `make demo` prints it: each call's figures, the allocation by source,
the inboxes, the progress report against the 2025 targets, and each institution's projects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


from chuyi.demo.console import Console, table, wan
from chuyi.demo.plan import DemoResult
from services.contracts.funding import SOURCE_NAMES_ZH, SOURCES


def print_summary(console: Console, result: DemoResult) -> None:
    calls = result.calls
    console.print()
    console.print("Summary of the round")
    rows = []
    for call in calls:
        milestones = Counter(m["result"] for m in call.milestones if m["milestone"] == "mid_term")
        rows.append(
            [
                call.category,
                call.quota,
                len(call.submitted),
                len(call.recommended),
                len(call.eligible),
                len(call.assignments),
                len(call.reviews),
                len(call.selected),
                len(call.approved),
                wan(call.allocation["total"]["total"]),
                f"{milestones['pass']}/{milestones['rectify']}/{milestones['fail']}",
            ]
        )
    console.print(
        table(
            [
                "call",
                "quota",
                "submitted",
                "recommended",
                "eligible",
                "reviews assigned",
                "reviews done",
                "selected",
                "after objection",
                "allocated 万元",
                "mid-term pass/rectify/fail",
            ],
            rows,
        )
    )
    console.print()
    console.print("Allocated by source (万元)")
    used = [s for s in SOURCES if any(c.allocation["total"]["by_source"].get(s) for c in calls)]
    console.print(
        table(
            ["call", *(SOURCE_NAMES_ZH[s] for s in used), "total"],
            [
                [
                    c.category,
                    *(wan(c.allocation["total"]["by_source"].get(s, 0)) for s in used),
                    wan(c.allocation["total"]["total"]),
                ]
                for c in calls
            ],
        )
    )
    for call in calls:
        if call.objection:
            console.print(
                f"\nObjection {call.objection['id']} ({call.category}): upheld; removed "
                f"{', '.join(call.objection['removed'])}, promoted {', '.join(call.objection['promoted'])}"
            )
    console.print("\nInboxes (GET /v1/inbox)")
    for label, box in result.inboxes.items():
        items = box["items"]
        unread = sum(1 for i in items if not i["read_at"])
        console.print(f"  {label}: {len(items)} messages, {unread} unread; latest: {items[0]['title']}")
        console.print("    " + ", ".join(f"{k}×{n}" for k, n in sorted(Counter(i["kind"] for i in items).items())))
    print_progress_report(console, result.progress_report)
    print_projects(console, result.projects)
    if result.years:
        console.print("\n" + result.years.summary())
    console.print(f"\nThe round and its years took {result.seconds:.0f}s and {result.requests} HTTP requests.")


def print_progress_report(console: Console, report: Mapping) -> None:
    console.print(f"\nProgress report (GET /v1/reports/progress): targets to {report['quota_year']}")
    rows = [[c["code"], c["quota"], *_figures(c)] for c in report["categories"]]
    rows.append(["total", report["totals"]["quota"], *_figures(report["totals"])])
    console.print(table(["category", "quota", *FIGURES], rows))
    console.print()
    console.print(
        table(
            ["prefecture", *FIGURES],
            [[p["prefecture"], *_figures(p)] for p in sorted(report["prefectures"], key=lambda p: -p["approved"])],
        )
    )


def print_projects(console: Console, projects: Mapping[str, list[dict]]) -> None:
    """What each institution sees of its own projects (立项项目)."""
    console.print("\nProjects per institution (GET /v1/projects, as each institution)")
    for name, items in projects.items():
        console.print(f"\n  {name}")
        console.print(
            table(
                ["project", "category", "year", "rank", "state", "award 万元", "milestones"],
                [
                    [
                        p["plan"]["title"],
                        p["category"],
                        p["year"],
                        p["rank"],
                        p["state"],
                        wan(p["award"]["total"]),
                        ", ".join(f"{m['trigger']}:{m['state']}" for m in p["milestones"]),
                    ]
                    for p in items
                ],
            )
        )


FIGURES = ("approved", "funded", "allocated 万元", "disbursed 万元", "clawed back 万元", "mid-term passed", "accepted")


def _figures(row: Mapping) -> list:
    return [
        row["approved"],
        row["funded_projects"],
        wan(row["allocated"]["total"]),
        wan(row["disbursed"]["total"]),
        wan(row["clawed_back"]["total"]),
        row["milestones_passed"]["mid_term"],
        row["milestones_passed"]["acceptance"],
    ]
