"""The review service's vocabulary, as its replies carry it and the gateway documents it.
Plain data: the review domain names these too."""

from __future__ import annotations

# Who may object to a noticed selection (docs/security.md): the applicants and those who
# sponsor or recommend them. The province publishes the notice and resolves objections, so it
# does not file them; experts had their say in review; finance pays what was decided.
OBJECTORS = ("institution", "prefecture", "hrss")
# Objections one filer (an institution, a prefecture bureau, an HRSS department) may file on
# one notice: every open objection blocks finalization.
MAX_OBJECTIONS_PER_FILER = 3

#: The states of an expert panel (中期检查, 验收), in order.
PANEL_STATES = ("open", "reviewing", "proposed", "closed")
#: A panel's thresholds unless the province sets its own: calibrated scores in hundredths of a
#: point (pass from 75.00, rectify from 60.00), and the days a project has to rectify.
DEFAULT_PASS_FROM = 7500
DEFAULT_RECTIFY_FROM = 6000
DEFAULT_RECTIFY_DAYS = 90
