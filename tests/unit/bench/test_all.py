"""bench/all.py: failures are reported, never dropped, and the document ends with the headline JSON."""

import json
import signal
import textwrap
from datetime import datetime, timezone

import pytest

import bench.all as aggregator
from bench.all import Benchmark, Row, document, run, table


def sample(name="sample", script="bench/sample.py", timeout_s=60) -> Benchmark:
    return Benchmark(
        name,
        script,
        "What it measures.",
        rows=lambda r: [Row("things per second", r["rps"], "things/s", "raw things", r["raw_rps"])],
        headline=lambda r: {f"{name}_rps": r["rps"]},
        timeout_s=timeout_s,
    )


@pytest.fixture
def logs(tmp_path, monkeypatch):
    monkeypatch.setattr(aggregator, "LOGS", tmp_path / "logs")
    return tmp_path


def script(path, body: str) -> str:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)  # absolute: taken as is under the repository


def test_a_benchmark_that_succeeds_gives_its_rows_with_the_ratio(logs):
    good = script(
        logs / "good.py",
        """
        print("a table")
        print('{"rps": 50, "raw_rps": 200}')
    """,
    )
    outcome = run(sample(script=good))
    assert not outcome.failed and outcome.exit_code == 0
    lines = table([outcome])
    assert lines[2] == "| `sample` | things per second | 50.0 | things/s | raw things | 200.0 | 0.250 |"


def test_a_benchmark_that_crashes_is_reported_failed_with_its_exit_code_and_last_lines(logs):
    bad = script(
        logs / "bad.py",
        """
        import sys
        print("half a table")
        sys.exit("the wire server did not start")
    """,
    )
    outcome = run(sample(script=bad))
    assert outcome.failed and outcome.exit_code == 1
    assert "half a table" in outcome.tail and "the wire server did not start" in outcome.tail
    text = document([outcome], {"cores": 2, "load_average": [1.0, 0.5, 0.25]}, datetime.now(timezone.utc), 3.0)
    assert "| `sample` | **FAILED** (exit 1): exited with 1 |" in text
    assert "the wire server did not start" in text.split("## Failed")[1]


def test_a_missing_script_and_a_last_line_without_the_expected_keys_are_failures(logs):
    missing = run(sample(script=str(logs / "nowhere.py")))
    assert missing.failed and "does not exist" in missing.error
    wrong = run(sample(script=script(logs / "wrong.py", "print('{\"requests\": 3}')\n")))
    assert wrong.failed and wrong.exit_code == 0 and "rps" in wrong.error


@pytest.fixture
def started_in_the_background(monkeypatch):
    """SIGINT ignored, as a shell leaves it for a command it starts with `&` (nohup, cron, CI); a
    benchmark that does not stop on SIGINT is killed after 5 s, not GRACE_S."""
    monkeypatch.setattr(aggregator, "GRACE_S", 5)
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, ignored)


def test_a_benchmark_past_its_limit_is_stopped_and_failed_and_stops_what_it_started(logs, started_in_the_background):
    stopped = logs / "stopped"
    slow = script(
        logs / "slow.py",
        f"""
        import time
        try:
            time.sleep(60)
        finally:
            open({str(stopped)!r}, "w").close()  # as its servers and vhost are stopped
        """,
    )
    outcome = run(sample(script=slow, timeout_s=0.5))
    assert outcome.failed and "still running after its limit" in outcome.error
    assert stopped.exists(), "the benchmark was killed before it could stop what it started"


def test_the_document_ends_with_one_json_object_of_the_headline_figures(logs):
    good = script(logs / "good.py", 'print(\'{"rps": 50, "raw_rps": 200}\')\n')
    outcomes = [run(sample("first", good)), run(sample("second", str(logs / "absent.py")))]
    text = document(
        outcomes, {"cores": 2, "load_average": [1.0, 0.5, 0.25]}, datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc), 600.0
    )
    headline = json.loads(text.splitlines()[-1])
    assert headline["first_rps"] == 50 and headline["failed"] == ["second"]
    assert headline["command"] == "make bench" and "`make bench`" in text


def test_make_bench_prints_the_headline_last_and_keeps_the_sections_measured_apart(logs, monkeypatch, capsys):
    good = script(logs / "good.py", 'print(\'{"rps": 50, "raw_rps": 200}\')\n')
    monkeypatch.setattr(aggregator, "BENCHMARKS", [sample("first", good)])
    out = logs / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\nold table\n\n{aggregator.KEPT}\n\nA run by hand.\n", encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["all.py", "--out", str(out)])
    with pytest.raises(SystemExit) as ended:
        aggregator.main()
    assert ended.value.code == 0
    headline = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert headline["first_rps"] == 50 and headline["failed"] == []
    written = out.read_text(encoding="utf-8")
    assert "old table" not in written and written.endswith(f"{aggregator.KEPT}\n\nA run by hand.\n")


def test_rows_ratio_is_absent_without_a_baseline():
    assert Row("seconds, full scale", 25.0, "s", "—", None).ratio is None
    assert Row("p50", 120.0, "ms", "floor p50", 30.0).ratio == 4.0


def test_memory_rows_list_each_service_idle_and_under_load_but_not_the_kernel_floor_itself():
    memory = next(b for b in aggregator.BENCHMARKS if b.name == "memory")
    rows = memory.rows(
        {
            "kernel_floor_idle_mb": 60.0,
            "gateway_workers": 2,
            "services": {
                "notify": {"idle_mb": 72.0, "load_mb": 90.0},
                "kernel floor": {"idle_mb": 60.0, "load_mb": 60.5},
            },
        }
    )
    assert [(r.figure, r.baseline_value, r.ratio) for r in rows] == [
        ("notify RSS idle", 60.0, 1.2),
        ("notify RSS under load", 72.0, 1.25),
    ]


def test_materials_rows_and_headline_name_the_ratios_and_the_growth():
    materials = next(b for b in aggregator.BENCHMARKS if b.name == "materials")
    result = {
        "file_mb": 20,
        "upload_mb_per_s": 8.0,
        "raw_put_mb_per_s": 16.0,
        "download_mb_per_s": 60.0,
        "raw_get_mb_per_s": 80.0,
        "upload_ratio": 0.5,
        "download_ratio": 0.75,
        "gateway_rss_growth_mb": 3.0,
        "service_rss_growth_mb": 2.0,
    }
    assert [r.ratio for r in materials.rows(result)] == [0.5, 0.75, 0.15, 0.1]
    assert materials.headline(result) == {
        "materials_upload_ratio": 0.5,
        "materials_download_ratio": 0.75,
        "materials_gateway_rss_growth_mb": 3.0,
        "materials_service_rss_growth_mb": 2.0,
    }


def test_the_materials_benchmark_files_a_pdf_the_content_checks_accept():
    import io
    from bench.materials import pdf_of
    from services.applications.domain import content
    from services.contracts.applications import PDF

    data = pdf_of(300_000)
    assert abs(len(data) - 300_000) < 4096 and content.media_type(io.BytesIO(data)) == PDF
