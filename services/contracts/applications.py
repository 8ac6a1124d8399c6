"""The applications service's vocabulary, as its replies carry it and the gateway documents it,
and the Chinese labels portals and reports show for it. Plain data: the applications domain
names these too."""
from __future__ import annotations

from services.common.bilingual import Bilingual

# ---------------------------------------------------------------- materials

#: Each kind of material (申报材料, 佐证材料), by code, with its name in Chinese and English.
MATERIAL_KINDS: dict[str, Bilingual] = {
    "application_form": Bilingual("application form", "申报书"),
    "construction_plan": Bilingual("construction plan", "建设方案"),
    "evidence": Bilingual("supporting evidence", "佐证材料"),
    "other": Bilingual("other", "其他材料"),
}
#: The kinds of material an annual report's evidence files may be (an application takes every kind).
REPORT_MATERIAL_KINDS = ("evidence", "other")

#: The media types a material may be, decided from its bytes alone.
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JPEG = "image/jpeg"
PNG = "image/png"
MEDIA_TYPES = (PDF, DOCX, XLSX, JPEG, PNG)

# ---------------------------------------------------------------- supervision

#: What a prefecture is scored on in the yearly supervision (考核督导), each a share in [0, 1]
#: (see docs/supervision.md), and the weights the province uses unless it sets its own for the
#: year (they sum to 100).
SUPERVISION_MEASURES: dict[str, str] = {
    "projects": "立项项目",          # its projects against the provincial mean per prefecture
    "local_money": "地方资金到位",    # local money disbursed against allocated
    "milestones": "中期与验收",       # milestones passed against recorded
    "reports": "年度报告按时",        # annual reports on time against due
    "duties": "结构性任务",           # the structural duties met
}
DEFAULT_SUPERVISION_WEIGHTS: dict[str, int] = {
    "projects": 15, "local_money": 25, "milestones": 20, "reports": 15, "duties": 25}
