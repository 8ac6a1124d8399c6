"""The kinds of notice the service sends, and the channels it sends them on.

A kind is the name of the event that caused the notice (so a webhook subscribes to the
same names as the events it receives), or one of the platform's own notices.
"""
from __future__ import annotations

EVENT_KINDS = {
    "applications": ("call_opened", "call_closed", "call_extended", "call_cancelled", "application_submitted",
                     "application_withdrawn", "application_recommended", "application_declined",
                     "eligibility_checked", "project_established", "project_replaced", "annual_report_due", "annual_report_filed",
                     "annual_report_returned", "annual_report_endorsed", "annual_report_accepted",
                     "annual_reports_missing"),
    "review": ("experts_assigned", "assignment_declined", "ranking_published", "notice_published",
               "objection_filed", "objection_resolved", "selection_finalized", "panel_experts_assigned",
               "panel_results_proposed", "panel_result_confirmed", "rectification_due"),
    "funding": ("funds_allocated", "tranche_released", "tranche_withheld", "funds_clawed_back",
                "project_failed", "project_withdrawn", "budget_exhausted"),
}
#: Events the service learns from without telling anyone.
SILENT_EVENTS = {"review": ("review_submitted", "panel_review_submitted", "panel_assignment_declined")}

REVIEW_REMINDER = "review_reminder"
DEAD_LETTERS = "dead_letters"
WEBHOOK_DISABLED = "webhook_disabled"
PLATFORM_KINDS = (REVIEW_REMINDER, DEAD_LETTERS, WEBHOOK_DISABLED)

#: What a webhook may subscribe to: it receives the CloudEvent itself.
WEBHOOK_KINDS = tuple(kind for kinds in EVENT_KINDS.values() for kind in kinds)
KINDS = WEBHOOK_KINDS + PLATFORM_KINDS

INBOX, EMAIL, SMS, WEBHOOK = "inbox", "email", "sms", "webhook"
#: Channels a recipient chooses per kind (the inbox always receives; webhooks are subscribed apart).
PERSONAL_CHANNELS = (EMAIL, SMS)
#: Channels with a sender of their own, each independent of the others.
SENT_CHANNELS = (EMAIL, SMS, WEBHOOK)
#: Channels with templates (a webhook carries the CloudEvent as it is).
TEMPLATED_CHANNELS = (INBOX, EMAIL, SMS)
