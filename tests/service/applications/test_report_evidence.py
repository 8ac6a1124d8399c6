"""An annual report's evidence files (佐证材料) through the gateway: added while the report is a
draft, frozen once filed, added again once returned, frozen again when refiled; read by the
institution, its recommending authority and the province, and by no one else; a Chinese name
survives the round trip; the report's page lists them and its history says who added and
removed what.

This module owns the session stack's reporting window of 2025 (one window per year)."""

from urllib.parse import quote

import pytest

from tests.service.applications.support import CHANGSHA, HENGYANG, from_now
from tests.support import documents

pytestmark = pytest.mark.service

YEAR = 2025
TARGETS = [{"year": YEAR, "target": "新建校企合作实训基地2个"}]
NAME = "校企合作协议（盖章版）.pdf"


def content(status: str = "met") -> dict:
    return {
        "summary": "本年度新建实训基地2个。",
        "assessments": [{"target_index": 0, "status": status, "evidence": f"见佐证材料《{NAME}》"}],
    }


@pytest.fixture(scope="module")
def window(world):
    return world.ok(world.post(world.province, "/v1/report-windows", {"year": YEAR, "due_at": from_now(3600)}), 201)


def upload(world, session, report: dict, data: bytes, filename: str = NAME, **params):
    return session.post(
        world.stack.url(f"/v1/annual-reports/{report['id']}/materials"),
        params={"filename": filename, **params},
        data=data,
        timeout=30,
    )


def refused(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    problem = response.json()
    assert " / " in problem["detail"], "a refusal says it in Chinese and English"
    assert all(word in problem["detail"] for word in words), problem["detail"]
    return problem


def test_evidence_is_added_to_a_draft_frozen_when_filed_thawed_when_returned_and_read_by_the_right_parties(
    world, stack, window
):
    school, other = world.institution(), world.institution()
    call = world.call("hv-group", year=YEAR, quota=1)
    project = world.eligible(school, call, yearly_targets=TARGETS)
    world.selected(call, [project])
    mine, bureau = world.as_institution(school), world.bureau(CHANGSHA)

    drafts = f"/v1/projects/{project['id']}/annual-reports/drafts"
    assert world.post(world.as_institution(other), drafts, {"year": YEAR}).status_code == 404
    draft = world.ok(world.post(mine, drafts, {"year": YEAR}), 201)
    assert (draft["state"], draft["filings"], draft["first_filed_at"]) == ("draft", 0, None)
    refused(world.post(mine, drafts, {"year": YEAR}), 409, "草稿", "draft")
    path = f"/v1/annual-reports/{draft['id']}"
    overdue = world.ok(world.get(world.province, f"/v1/report-windows/{window['id']}/overdue"))
    assert project["id"] in [p["project_id"] for p in overdue["missing"]], "a draft is not a filed report"

    refused(upload(world, mine, draft, b"MZ\x90\x00 not a document"), 415, "仅接受", "Only PDF")
    refused(upload(world, mine, draft, documents.pdf(encrypt="pw")), 422, "加密", "Encrypted")
    refused(upload(world, mine, draft, documents.pdf(), filename="../协议.pdf"), 422, "路径", "path")
    wrong_kind = upload(world, mine, draft, documents.pdf(), kind="photo")
    assert wrong_kind.status_code == 422 and "evidence（佐证材料）" in wrong_kind.json()["errors"]["kind"][0]
    refused(upload(world, mine, draft, b"\0" * (2 * 2**20 + 1)), 413, "2.0 MB")
    assert upload(world, world.as_institution(other), draft, documents.pdf()).status_code == 404
    assert upload(world, bureau, draft, documents.pdf()).status_code == 403

    agreement = documents.pdf("校企合作协议 盖章页")
    evidence = world.ok(upload(world, mine, draft, agreement), 201)
    assert (evidence["kind"], evidence["report_id"], evidence["filename"]) == ("evidence", draft["id"], NAME)
    assert evidence["download"] == f"{path}/materials/{evidence['id']}"
    photo = world.ok(upload(world, mine, draft, documents.png(), filename="实训基地.png", kind="other"), 201)
    assert mine.delete(stack.url(f"{path}/materials/{photo['id']}"), timeout=30).status_code == 204

    filed = world.ok(world.post(mine, f"/v1/projects/{project['id']}/annual-reports", {"year": YEAR, **content()}), 201)
    assert (filed["id"], filed["state"], filed["filings"], filed["late"]) == (draft["id"], "submitted", 1, False)
    refused(upload(world, mine, draft, documents.png(), filename="补充.png"), 409, "报送", "filed")
    refused(mine.delete(stack.url(f"{path}/materials/{evidence['id']}"), timeout=30), 409, "draft or returned")

    world.ok(world.post(bureau, f"{path}/return", {"reason": "请补充实训基地照片"}))
    added = world.ok(upload(world, mine, draft, documents.png(), filename="实训基地照片.png"), 201)
    world.ok(world.post(mine, f"{path}/refile", content()))
    refused(upload(world, mine, draft, documents.png(), filename="再补充.png"), 409)

    page = world.ok(world.get(mine, path))
    assert [m["filename"] for m in page["materials"]] == [NAME, "实训基地照片.png"]
    steps = [(h["event"], h["to_state"], h.get("material", {}).get("filename")) for h in page["history"]]
    assert steps == [
        ("create", "draft", None),
        ("material_added", "draft", NAME),
        ("material_added", "draft", "实训基地.png"),
        ("material_removed", "draft", "实训基地.png"),
        ("file", "submitted", None),
        ("return", "returned", None),
        ("material_added", "returned", "实训基地照片.png"),
        ("refile", "submitted", None),
    ]
    assert all(h["actor"].startswith("institution:") for h in page["history"] if h["event"].startswith("material"))

    download = stack.url(f"{path}/materials/{evidence['id']}")
    for reader in (mine, bureau, world.province):
        got = reader.get(download, timeout=30)
        assert got.status_code == 200 and got.content == agreement
        assert got.headers["Content-Type"] == "application/pdf"
        assert got.headers["ETag"] == f'"{evidence["sha256"]}"'
        assert got.headers["Content-Disposition"].endswith(f"filename*=UTF-8''{quote(NAME, safe='')}")
        listed = world.ok(world.get(reader, f"{path}/materials"))["items"]
        assert [m["id"] for m in listed] == [evidence["id"], added["id"]]
    part = mine.get(download, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == agreement[:100]

    strangers = (
        world.as_institution(other),
        world.bureau(HENGYANG),
        world.hrss(),
        stack.client("finance"),
        stack.client("expert", expert_id="exp-any"),
    )
    for stranger in strangers:
        assert stranger.get(download, timeout=30).status_code == 404
    for stranger in strangers:
        assert world.get(stranger, f"{path}/materials").status_code == 404
    assert world.get(stack.client("finance"), path).status_code == 200, "finance reads the report, not its files"


def test_a_report_filed_without_a_draft_takes_evidence_only_once_returned(world, stack, window):
    school = world.institution(prefecture=HENGYANG, county="衡阳县")
    call = world.call("hv-group", year=YEAR, quota=1)
    project = world.eligible(school, call, yearly_targets=TARGETS)
    world.selected(call, [project])
    mine, bureau = world.as_institution(school), world.bureau(HENGYANG)
    report = world.ok(
        world.post(mine, f"/v1/projects/{project['id']}/annual-reports", {"year": YEAR, **content("partly_met")}), 201
    )
    refused(upload(world, mine, report, documents.pdf()), 409, "draft or returned")
    world.ok(world.post(bureau, f"/v1/annual-reports/{report['id']}/return", {"reason": "缺佐证"}))
    world.ok(upload(world, mine, report, documents.pdf()), 201)
    world.ok(world.post(mine, f"/v1/annual-reports/{report['id']}/refile", content("met")))
    world.ok(world.post(bureau, f"/v1/annual-reports/{report['id']}/endorse", {}))
    refused(upload(world, mine, report, documents.png(), filename="照片.png"), 409, "draft or returned")
