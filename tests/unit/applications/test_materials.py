import io
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from services.applications.domain import content
from services.applications.domain.materials import (
    ANNUAL_REPORT,
    APPLICATION as APPLICATION_OWNER,
    Limits,
    Owner,
    TooLarge,
    check_changeable,
    check_complete,
    check_kind,
    check_readable,
    watermark_text,
)
from services.applications.domain.messages import FieldsRefused, NotEditable, NotFound
from services.common.actor import Actor
from services.applications.domain.watermark import watermark
from services.contracts.applications import DOCX, PDF, PNG, XLSX, material_link
from tests.support import documents

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)
APPLICATION = {
    "institution_id": "inst_1",
    "prefecture": "长沙市",
    "recommender_key": "prefecture:长沙市",
    "state": "draft",
}
REPORT = {**APPLICATION, "recommender_key": "hrss:湖南省人力资源和社会保障厅"}


@pytest.mark.parametrize(
    "data, expected",
    [
        (documents.pdf(), PDF),
        (documents.ooxml("word/document.xml"), DOCX),
        (documents.ooxml("xl/workbook.xml"), XLSX),
        (documents.png(), PNG),
    ],
)
def test_the_type_comes_from_the_content(data, expected):
    assert content.media_type(io.BytesIO(data)) == expected


@pytest.mark.parametrize(
    "data, refusal, words",
    [
        (b"MZ\x90\x00 an executable", content.UnsupportedType, "Only PDF"),
        (documents.pdf()[:200], content.UnsupportedType, "cannot be read"),
        (documents.pdf(encrypt="secret"), content.UnsafeContent, "Encrypted"),
        (documents.pdf_with_javascript(), content.UnsafeContent, "JavaScript"),
        (documents.ooxml(content_types=False), content.UnsupportedType, "Content_Types"),
        (documents.ooxml("ppt/presentation.xml"), content.UnsupportedType, "DOCX and XLSX"),
        (documents.ooxml(extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"}), content.UnsafeContent, "macros"),
        (documents.ooxml(extra={"word/embeddings/inner.zip": documents.ooxml()}), content.UnsafeContent, "Archives"),
        (documents.png()[:-12], content.UnsupportedType, "truncated"),
    ],
)
def test_refused_content_says_why_in_both_languages(data, refusal, words):
    with pytest.raises(refusal) as caught:
        content.media_type(io.BytesIO(data))
    assert words in caught.value.message.en and caught.value.message.zh


def test_a_launch_action_in_an_uncompressed_pdf_is_found_across_read_boundaries():
    data = documents.pdf()
    at = data.index(b"/Type /Catalog")
    armed = data[:at] + b"/OpenAction << /S /Launch /F (calc.exe) >> " + data[at:]
    with pytest.raises(content.UnsafeContent):
        content.media_type(io.BytesIO(armed))


@pytest.mark.parametrize("name", ["../申报书.pdf", "a/b.pdf", "C:\\x.pdf", "", "..", "a\x00.pdf"])
def test_a_name_with_a_path_is_refused(name):
    with pytest.raises(content.BadFilename):
        content.check_filename(name)


def test_a_plain_chinese_name_is_kept():
    assert content.check_filename("2025年 申报书（终稿）.pdf") == "2025年 申报书（终稿）.pdf"


def test_limits_name_the_one_that_binds():
    limits = Limits(file_bytes=20, application_bytes=100)
    assert limits.room(0) == 20 and limits.room(90) == 10
    assert limits.refusal(0).message.en == "A file may have at most 20 bytes."
    assert (
        limits.refusal(90).message.en
        == "The application's materials may total at most 100 bytes (90 bytes are already filed)."
    )
    assert isinstance(limits.refusal(90), TooLarge)


def test_kinds_and_required_kinds():
    assert check_kind("evidence") == "evidence"
    with pytest.raises(FieldsRefused) as caught:
        check_kind("photo")
    assert "kind" in caught.value.errors
    check_complete(["application_form"], ["evidence", "application_form"])
    with pytest.raises(FieldsRefused) as caught:
        check_complete(["application_form", "construction_plan"], ["application_form"])
    assert (
        "construction_plan" in caught.value.errors["materials"][0]
        and "建设方案" in caught.value.errors["materials"][0].zh
    )


def test_materials_freeze_at_submission():
    check_changeable(APPLICATION)
    with pytest.raises(NotEditable):
        check_changeable({**APPLICATION, "state": "submitted"})


@pytest.mark.parametrize(
    "actor, deadline, readable",
    [
        (Actor("institution", "i", institution_id="inst_1"), None, True),
        (Actor("institution", "i", institution_id="inst_2"), None, False),
        (Actor("prefecture", "b", prefecture="长沙市"), None, True),
        (Actor("province", "p"), None, True),
        (Actor("finance", "f"), None, False),
        (Actor("expert", "e", expert_id="exp_1"), NOW + timedelta(days=1), True),
        (Actor("expert", "e", expert_id="exp_1"), NOW - timedelta(seconds=1), False),
        (Actor("expert", "e", expert_id="exp_1"), None, False),
    ],
)
def test_who_may_read(actor, deadline, readable):
    if readable:
        check_readable(actor, APPLICATION, deadline, NOW)
    else:
        with pytest.raises(NotFound):
            check_readable(actor, APPLICATION, deadline, NOW)


def test_the_watermark_names_the_reader_and_can_be_read_back():
    text = watermark_text(Actor("expert", "张评审", expert_id="exp_1"), NOW)
    stamped = io.BytesIO()
    watermark(io.BytesIO(documents.pdf("原文", pages=2)), text, stamped)
    pages = PdfReader(stamped).pages
    assert len(pages) == 2
    assert all("仅供评审使用 · 张评审 (exp_1) · 2026-12-05 08:00" in page.extract_text() for page in pages)
    assert "原文" in pages[1].extract_text()


def test_the_history_says_who_added_and_removed_which_file_when():
    from services.applications.domain.materials import material_history

    status = [
        {"event": "create", "from_state": None, "to_state": "draft", "actor": "institution:a", "at": NOW},
        {
            "event": "submit",
            "from_state": "draft",
            "to_state": "submitted",
            "actor": "institution:a",
            "at": NOW + timedelta(hours=3),
        },
    ]
    filed = [
        {
            "_id": "mat_1",
            "kind": "application_form",
            "filename": "申报书.pdf",
            "sha256": "ab",
            "size": 10,
            "uploaded_by": "institution:a",
            "uploaded_at": NOW + timedelta(hours=1),
            "removed_at": None,
        },
        {
            "_id": "mat_2",
            "kind": "evidence",
            "filename": "证书.png",
            "sha256": "cd",
            "size": 5,
            "uploaded_by": "institution:b",
            "uploaded_at": NOW + timedelta(minutes=30),
            "removed_at": NOW + timedelta(hours=2),
            "removed_by": "institution:a",
        },
    ]
    steps = [(h["event"], h.get("material", {}).get("id"), h["actor"]) for h in material_history(status, filed)]
    assert steps == [
        ("create", None, "institution:a"),
        ("material_added", "mat_2", "institution:b"),
        ("material_added", "mat_1", "institution:a"),
        ("material_removed", "mat_2", "institution:a"),
        ("submit", None, "institution:a"),
    ]


def test_a_pdf_that_cannot_be_stamped_is_refused_never_sent_unstamped():
    from services.applications.domain.watermark import Unstampable

    broken = documents.pdf().replace(b"/MediaBox", b"/MediaBxx")  # passes a reader, not a stamp's page box
    with pytest.raises(Unstampable) as refused:
        watermark(io.BytesIO(broken), "仅供评审使用", io.BytesIO())
    assert "评审水印" in refused.value.message.zh and "cannot be stamped" in refused.value.message.en


# ------------------------------------------------------------------ an annual report's evidence files


def test_a_reports_evidence_changes_while_a_draft_or_returned_and_freezes_otherwise():
    for state in ("draft", "returned"):
        check_changeable({**REPORT, "state": state}, ANNUAL_REPORT)
    for state in ("submitted", "endorsed", "accepted"):
        with pytest.raises(NotEditable) as frozen:
            check_changeable({**REPORT, "state": state}, ANNUAL_REPORT)
        assert "draft or returned" in frozen.value.message.en and "退回" in frozen.value.message.zh
    with pytest.raises(NotEditable):
        check_changeable({**APPLICATION, "state": "returned"})  # an application's freeze is unchanged


def test_a_report_takes_evidence_and_other_files_only():
    assert check_kind("evidence", ANNUAL_REPORT) == "evidence" and check_kind("other", ANNUAL_REPORT) == "other"
    with pytest.raises(FieldsRefused) as caught:
        check_kind("application_form", ANNUAL_REPORT)
    assert "evidence（佐证材料）" in caught.value.errors["kind"][0].zh


def test_a_reports_limit_is_its_own_and_named_in_the_refusal():
    limits = Limits(file_bytes=20, application_bytes=100, report_bytes=50)
    assert limits.room(40, ANNUAL_REPORT) == 10 and limits.room(40) == 20
    refusal = limits.refusal(40, ANNUAL_REPORT)
    assert (
        refusal.message.en == "The annual report's materials may total at most 50 bytes (40 bytes are already filed)."
    )
    assert "年度报告" in refusal.message.zh


@pytest.mark.parametrize(
    "actor, readable",
    [
        (Actor("institution", "i", institution_id="inst_1"), True),
        (Actor("institution", "i", institution_id="inst_2"), False),
        (Actor("hrss", "h", sponsor="湖南省人力资源和社会保障厅"), True),
        (Actor("hrss", "h", sponsor="长沙市人力资源和社会保障局"), False),
        (Actor("prefecture", "b", prefecture="长沙市"), True),
        (Actor("prefecture", "b", prefecture="衡阳市"), False),
        (Actor("province", "p"), True),
        (Actor("finance", "f"), False),
    ],
)
def test_who_reads_a_reports_evidence(actor, readable):
    if readable:
        check_readable(actor, REPORT, None, NOW, ANNUAL_REPORT)
    else:
        with pytest.raises(NotFound) as caught:
            check_readable(actor, REPORT, None, NOW, ANNUAL_REPORT)
        assert caught.value.message.zh == "年度报告不存在"


def test_no_expert_reads_a_reports_evidence_even_with_a_review_deadline_ahead():
    with pytest.raises(NotFound):
        check_readable(Actor("expert", "e", expert_id="exp_1"), REPORT, NOW + timedelta(days=1), NOW, ANNUAL_REPORT)


def test_a_material_names_its_owner_and_its_download_link():
    assert material_link({"id": "mat_1", "application_id": "app_1"}) == "/v1/applications/app_1/materials/mat_1"
    assert material_link({"id": "mat_2", "report_id": "rpt_1"}) == "/v1/annual-reports/rpt_1/materials/mat_2"
    assert Owner(APPLICATION_OWNER, "app_1").query == {"application_id": "app_1"}
    assert Owner(ANNUAL_REPORT, "rpt_1").query == {"report_id": "rpt_1"}


def test_the_history_says_in_which_state_of_the_report_a_file_came_and_went():
    from services.applications.domain.materials import material_history

    status = [{"event": "create", "from_state": None, "to_state": "draft", "actor": "institution:a", "at": NOW}]
    filed = [
        {
            "_id": "mat_1",
            "kind": "evidence",
            "filename": "协议.pdf",
            "sha256": "ab",
            "size": 10,
            "uploaded_by": "institution:a",
            "uploaded_at": NOW + timedelta(hours=1),
            "owner_state": "returned",
            "removed_at": NOW + timedelta(hours=2),
            "removed_by": "institution:b",
            "removed_in": "returned",
        }
    ]
    steps = [(h["event"], h["to_state"], h["actor"]) for h in material_history(status, filed)]
    assert steps == [
        ("create", "draft", "institution:a"),
        ("material_added", "returned", "institution:a"),
        ("material_removed", "returned", "institution:b"),
    ]


def test_the_reports_total_is_configured_apart_from_the_applications():
    from services.applications.usecases.materials import limits_from_env

    assert limits_from_env({}) == Limits(20 * 2**20, 100 * 2**20, 50 * 2**20)
    assert limits_from_env({"MATERIALS_MAX_REPORT_BYTES": "1000"}).total(ANNUAL_REPORT) == 1000
    assert limits_from_env({"MATERIALS_MAX_REPORT_BYTES": "1000"}).total(APPLICATION_OWNER) == 100 * 2**20
