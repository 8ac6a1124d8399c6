"""The province's dashboard in real headless Chromium (Debian's `chromium`), served by the
stack's gateway: the page reads the token from its URL fragment, fetches the progress report
and shows it. The test reads the DOM after the scripts ran (`--dump-dom`), checks what it
shows against the report's JSON, and saves a screenshot in its tmp dir."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from services.contracts.catalogue import catalogue
from services.contracts.reference import PREFECTURES
from tests.service.reports.support import CATEGORY, Reports

pytestmark = pytest.mark.e2e

HUAIHUA = "怀化市"  # no other test approves projects in it
AWARD = 2_345_678
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Dashboard(HTMLParser):
    """What the rendered page shows: its state, the text of each table row's fields (keyed by
    ("category" | "prefecture" | "source", key)), the summary and the chart's categories."""

    def __init__(self, dom: str):
        super().__init__()
        self.state: str | None = None
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self.summary: dict[str, str] = {}
        self.charted: list[str] = []
        self._into: dict | None = None
        self._row: dict | None = None
        self._field: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "body":
            self.state = attributes.get("data-state")
        elif tag == "tr":
            for kind in ("category", "prefecture", "source", "supervised"):
                if f"data-{kind}" in attributes:
                    self._row = self.rows.setdefault((kind, attributes[f"data-{kind}"]), {})
        elif tag == "g" and "data-category" in attributes:
            self.charted.append(attributes["data-category"])
        elif "data-field" in attributes and tag in ("td", "dd"):
            self._into = self.summary if tag == "dd" else self._row
            self._field = attributes["data-field"]
            if self._into is not None:
                self._into[self._field] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "dd"):
            self._field = self._into = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._into is not None and self._field:
            self._into[self._field] += data

    def of(self, kind: str) -> dict[str, dict[str, str]]:
        return {key: fields for (row_kind, key), fields in self.rows.items() if row_kind == kind}


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} 元"


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        message = "Debian's chromium is not installed: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def chromium(binary: str, profile: Path, *args: str) -> str:
    """Headless Chromium on a fresh profile, with enough virtual time for the page's fetch."""
    done = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8")


def test_the_dashboard_shows_progress_against_the_2025_targets_per_category_and_prefecture(
    stack, chromium_binary, tmp_path
):
    reports = Reports(stack)
    reports.seed([HUAIHUA, HUAIHUA], AWARD)
    url = stack.url(f"/dashboard#token={stack.token('province')}")

    page = Dashboard(chromium(chromium_binary, tmp_path / "profile-dom", "--dump-dom", url))
    report = reports.report()

    assert page.state == "ready"
    categories = page.of("category")
    total = categories.pop("total")
    assert list(categories) == [c.code for c in catalogue()] == page.charted
    for category in report["categories"]:
        shown = categories[category["code"]]
        assert (shown["name"], shown["quota"], shown["approved"]) == (
            category["name_zh"],
            str(category["quota"]),
            str(category["approved"]),
        )
        assert shown["allocated"] == yuan(category["allocated"]["total"])
        assert shown["disbursed"] == yuan(category["disbursed"]["total"])
    seeded = categories[CATEGORY]
    assert (seeded["name"], seeded["quota"]) == ("楚怡教师教学创新团队", "400") and int(seeded["approved"]) >= 2
    assert (total["quota"], total["approved"]) == (str(report["totals"]["quota"]), str(report["totals"]["approved"]))
    assert page.summary["approved"] == f"{report['totals']['approved']} / {report['totals']['quota']}"

    prefectures = page.of("prefecture")
    assert list(prefectures) == list(PREFECTURES)
    for row in report["prefectures"]:
        shown = prefectures[row["prefecture"]]
        assert (shown["approved"], shown["funded_projects"], shown["allocated"]) == (
            str(row["approved"]),
            str(row["funded_projects"]),
            yuan(row["allocated"]["total"]),
        )
    assert int(prefectures[HUAIHUA]["approved"]) >= 2
    assert set(page.of("source")) == set(report["sources"])
    supervised = page.of("supervised")  # the supervision of the year, ranked
    assert sorted(supervised) == sorted(PREFECTURES)
    assert sorted(int(row["rank"]) for row in supervised.values()) == list(range(1, len(PREFECTURES) + 1))

    screenshot = tmp_path / "dashboard.png"
    chromium(chromium_binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,2000", url)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    print(f"dashboard screenshot: {screenshot}")
