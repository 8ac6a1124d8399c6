"""Application materials through the gateway: each refusal, required kinds at submission, the
freeze, who may read, the expert's watermarked copy, names, ETag and Range."""

import io
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from tests.service.applications.support import from_now, publish_review_event
from tests.support import documents
from tests.support.servers import wait_until

pytestmark = pytest.mark.service

NAME = "湖南长沙职院 申报书（终稿）.pdf"


def materials_path(application: dict) -> str:
    return f"/v1/applications/{application['id']}/materials"


def upload(world, session, application, data: bytes, kind="application_form", filename=NAME, **kwargs):
    return session.post(
        world.stack.url(materials_path(application)),
        params={"kind": kind, "filename": filename},
        data=data,
        timeout=30,
        **kwargs,
    )


def refused(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    problem = response.json()
    assert " / " in problem["detail"], "a refusal says it in Chinese and English"
    assert all(word in problem["detail"] for word in words), problem["detail"]
    return problem


def test_refusals_required_kinds_and_the_freeze(world):
    call = world.call(required_materials=["application_form"])
    institution = world.institution()
    school = world.as_institution(institution)
    draft = world.draft(institution, call)

    refused(upload(world, school, draft, b"MZ\x90\x00 not a document"), 415, "仅接受", "Only PDF")
    refused(upload(world, school, draft, documents.pdf(encrypt="pw")), 422, "加密", "Encrypted")
    refused(upload(world, school, draft, documents.pdf_with_javascript()), 422, "JavaScript")
    macro = documents.ooxml(extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})
    refused(upload(world, school, draft, macro, filename="方案.docm"), 422, "宏", "macros")
    nested = documents.ooxml(extra={"word/embeddings/a.zip": documents.ooxml()})
    refused(upload(world, school, draft, nested, filename="方案.docx"), 422, "压缩包", "Archives")
    refused(upload(world, school, draft, documents.pdf(), filename="../申报书.pdf"), 422, "路径", "path")
    unknown_kind = upload(world, school, draft, documents.pdf(), kind="photo")
    assert unknown_kind.status_code == 422 and "申报书" in unknown_kind.json()["errors"]["kind"][0]
    refused(upload(world, school, draft, b"\0" * (2 * 2**20 + 1)), 413, "2.0 MB")
    chunked = iter([b"%PDF-1.4\n" + b"\0" * 2**20, b"\0" * 2**20, b"\0" * 2**20])  # no Content-Length
    refused(upload(world, school, draft, chunked), 413, "2.0 MB")
    assert world.ok(world.get(school, materials_path(draft)))["items"] == [], "nothing refused was kept"

    missing = refused(world.post(school, f"/v1/applications/{draft['id']}/submit"), 422, "申报书")
    assert "application_form" in missing["errors"]["materials"][0]

    plan = documents.ooxml("word/document.xml")
    assert world.ok(upload(world, school, draft, plan, kind="construction_plan", filename="方案.docx"), 201)
    form = documents.pdf()
    with ThreadPoolExecutor(2) as pool:  # the same content twice at once: stored once all the same
        first, second = (
            world.ok(answer, 201)
            for answer in pool.map(
                lambda name: upload(world, world.as_institution(institution), draft, form, filename=name),
                (NAME, "副本.pdf"),
            )
        )
    assert first["sha256"] == second["sha256"] and first["media_type"] == "application/pdf"
    assert (
        world.stack.db("applications")["material_blobs.files"].count_documents({"metadata.sha256": first["sha256"]})
        == 1
    ), "the same content is stored once"
    assert len(world.stack.db("applications").materials.distinct("blob_id", {"sha256": first["sha256"]})) == 1
    assert school.delete(world.stack.url(f"{materials_path(draft)}/{second['id']}"), timeout=30).status_code == 204

    world.ok(world.post(school, f"/v1/applications/{draft['id']}/submit"))
    refused(
        upload(world, school, draft, documents.png(), kind="evidence", filename="证书.png"), 409, "提交", "submitted"
    )
    refused(school.delete(world.stack.url(f"{materials_path(draft)}/{first['id']}"), timeout=30), 409)
    listed = world.ok(world.get(school, materials_path(draft)))["items"]
    assert sorted(m["kind"] for m in listed) == ["application_form", "construction_plan"]
    assert all(m["uploaded_by"].startswith("institution:") and m["uploaded_at"].endswith("Z") for m in listed)
    page = world.ok(world.get(school, f"/v1/applications/{draft['id']}"))
    assert page["materials"] == listed and listed[0]["download"] == f"{materials_path(draft)}/{listed[0]['id']}"
    steps = [(h["event"], h.get("material", {}).get("filename")) for h in page["history"]]
    assert sorted(step for step in steps if step[0].startswith("material")) == sorted(
        [
            ("material_added", NAME),
            ("material_added", "副本.pdf"),
            ("material_added", "方案.docx"),
            ("material_removed", "副本.pdf"),
        ]
    )
    removed = steps.index(("material_removed", "副本.pdf"))
    assert steps.index(("material_added", "副本.pdf")) < removed < [event for event, _ in steps].index("submit")


def test_who_reads_what_and_the_experts_watermarked_copy(world, stack):
    call = world.call(closes_at=from_now(6))
    institution = world.institution()
    school = world.as_institution(institution)
    draft = world.draft(institution, call)
    material = world.ok(upload(world, school, draft, documents.pdf("建设任务书 正文")), 201)
    application = world.ok(world.post(school, f"/v1/applications/{draft['id']}/submit"))
    world.wait_for_call_state(call["id"], "closed")
    publish_review_event(
        stack.amqp_uri,
        "experts_assigned",
        call["id"],
        1,
        {
            "call_id": call["id"],
            "unfilled": [],
            "assignments": [
                {
                    "assignment_id": "asg-now",
                    "application_id": application["id"],
                    "expert_id": "exp-now",
                    "review_deadline": from_now(3600),
                },
                {
                    "assignment_id": "asg-late",
                    "application_id": application["id"],
                    "expert_id": "exp-late",
                    "review_deadline": from_now(-1),
                },
            ],
        },
    )
    world.wait_for_call_state(call["id"], "in_review")
    path = world.stack.url(f"{materials_path(application)}/{material['id']}")

    own = school.get(path, timeout=30)
    assert own.status_code == 200 and own.headers["Content-Type"] == "application/pdf"
    assert own.headers["ETag"] == f'"{material["sha256"]}"'
    assert own.headers["Content-Disposition"].endswith(f"filename*=UTF-8''{quote(NAME, safe='')}")
    assert "仅供评审使用" not in PdfReader(io.BytesIO(own.content)).pages[0].extract_text()
    assert school.get(path, headers={"If-None-Match": own.headers["ETag"]}, timeout=30).status_code == 304
    part = school.get(path, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == own.content[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(own.content)}"
    outside = refused(school.get(path, headers={"Range": "bytes=99999999-"}, timeout=30), 416, "Range", "范围")
    assert outside["type"].endswith("range-not-satisfiable")
    assert world.bureau(institution["prefecture"]).get(path, timeout=30).status_code == 200
    assert world.bureau("株洲市").get(path, timeout=30).status_code == 404

    expert = stack.client("expert", sub="王评审", expert_id="exp-now")
    copy = wait_until(
        lambda: (r := expert.get(path, timeout=30)).status_code == 200 and r,
        what="the expert's access from the assignment event",
    )
    text = PdfReader(io.BytesIO(copy.content)).pages[0].extract_text()
    assert "仅供评审使用 · 王评审 (exp-now)" in text and "建设任务书" in text
    assert "ETag" not in copy.headers
    assert stack.db("applications").material_reads.count_documents({"material_id": material["id"]}) == 1
    listed = world.ok(world.get(expert, materials_path(application)))["items"]
    assert [m["id"] for m in listed] == [material["id"]]

    for stranger in (stack.client("expert", expert_id="exp-late"), stack.client("expert", expert_id="exp-other")):
        assert stranger.get(path, timeout=30).status_code == 404
        assert world.get(stranger, materials_path(application)).status_code == 404
