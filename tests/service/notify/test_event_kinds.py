"""Each event kind reaches the right recipients on each channel they set up: the inbox
always, mail through a real SMTP server, SMS through the logging provider, and signed
webhooks to a real HTTP receiver. A call's whole life is published as the producing
services publish it."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from services.contracts.notify import EVENT_KINDS, WEBHOOK_KINDS
from services.notify.domain.signature import verify
from tests.service.notify.conftest import FINANCE_EMAIL, PROVINCE_EMAIL
from tests.service.notify.support import deliveries, inbox, put_settings, subscribe, uid
from tests.support.servers import wait_until
from tests.unit.notify import samples as s

pytestmark = pytest.mark.service

PROVINCE_KINDS = (
    "assignment_declined",
    "ranking_published",
    "objection_filed",
    "objection_resolved",
    "budget_exhausted",
)


def soon(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_event_kind_reaches_the_right_recipients_on_each_channel(
    notify_stack, producers, mailbox, receiver, province, finance
):
    stack, n = notify_stack, uid()
    call, call2, obj, as3 = f"call_{n}", f"call2_{n}", f"obj_{n}", f"as3_{n}"
    inst_a, inst_b, e1, e2 = f"inst_a_{n}", f"inst_b_{n}", f"exp_1_{n}", f"exp_2_{n}"
    a1, a2, b1, b2 = (f"app_{x}_{n}" for x in ("a1", "a2", "b1", "b2"))

    clients = {
        f"institution:{inst_a}": stack.client("institution", institution_id=inst_a),
        f"institution:{inst_b}": stack.client("institution", institution_id=inst_b),
        "prefecture:长沙市": stack.client("prefecture", prefecture="长沙市"),
        "prefecture:株洲市": stack.client("prefecture", prefecture="株洲市"),
        f"expert:{e1}": stack.client("expert", expert_id=e1),
        f"expert:{e2}": stack.client("expert", expert_id=e2),
        "province": province,
        "finance": finance,
    }
    emails = {
        f"institution:{inst_a}": f"a-{n}@csvtc.edu.cn",
        f"institution:{inst_b}": f"b-{n}@zzrtvc.edu.cn",
        "prefecture:长沙市": "zjc@csedu.gov.cn",
        "prefecture:株洲市": "zjc@zzedu.gov.cn",
        f"expert:{e1}": f"e1-{n}@hnu.edu.cn",
        "province": PROVINCE_EMAIL,
        "finance": FINANCE_EMAIL,
    }
    phones = {f"institution:{inst_a}": "13800138000", f"expert:{e1}": "13900139000"}
    for recipient, client in clients.items():
        if recipient not in ("province", "finance"):
            put_settings(stack, client, email=emails.get(recipient), phone=phones.get(recipient))
    webhook_paths = {
        f"institution:{inst_a}": f"/ok/a-{n}",
        "province": f"/ok/province-{n}",
        "finance": f"/ok/finance-{n}",
    }
    secrets = {
        f"institution:{inst_a}": subscribe(
            stack, clients[f"institution:{inst_a}"], receiver.url(f"/ok/a-{n}"), WEBHOOK_KINDS
        ),
        "province": subscribe(stack, province, receiver.url(f"/ok/province-{n}"), PROVINCE_KINDS),
        "finance": subscribe(stack, finance, receiver.url(f"/ok/finance-{n}"), EVENT_KINDS["funding"]),
    }

    published = []

    def publish(name, subject, data):
        published.append(producers.publish(name, subject, data))

    def handled(recipient, kind, subject):
        """Events of different subjects may be handled in any order (notify runs several workers):
        who hears of an event is who is known when it is handled, so a step that depends on an
        earlier one of another subject waits for it, as the months between them would."""
        wait_until(
            lambda: any((m["kind"], m["subject"]) == (kind, subject) for m in inbox(stack, clients[recipient])),
            timeout=60,
            what=f"{kind} of {subject} to be handled",
        )

    publish("call_opened", call, s.call_opened(call, title=f"2026年楚怡专业群遴选 {n}"))
    handled("prefecture:株洲市", "call_opened", call)  # told to the institutions known then: not yet A and B
    for app, inst, pref, title in (
        (a1, inst_a, "长沙市", f"智能制造专业群 {n}"),
        (a2, inst_a, "长沙市", f"现代物流专业群 {n}"),
        (b1, inst_b, "株洲市", f"轨道交通专业群 {n}"),
        (b2, inst_b, "株洲市", f"新能源汽车专业群 {n}"),
    ):
        publish("application_submitted", app, s.application_submitted(app, call, inst, pref, title))
    publish(
        "application_recommended", a1, s.application_decision("application_recommended", a1, call, inst_a, "长沙市")
    )
    publish(
        "application_recommended", b1, s.application_decision("application_recommended", b1, call, inst_b, "株洲市")
    )
    publish("application_withdrawn", a2, s.application_withdrawn(a2, call, inst_a, "长沙市"))
    publish(
        "application_declined",
        b2,
        s.application_decision("application_declined", b2, call, inst_b, "株洲市", "超出推荐名额"),
    )
    publish("eligibility_checked", a1, s.eligibility_checked(a1, call, inst_a, "长沙市", f"智能制造专业群 {n}"))
    publish("eligibility_checked", b1, s.eligibility_checked(b1, call, inst_b, "株洲市", f"轨道交通专业群 {n}"))
    for recipient, kind, subject in (
        (f"institution:{inst_a}", "application_submitted", a1),
        (f"institution:{inst_a}", "application_submitted", a2),
        (f"institution:{inst_b}", "application_submitted", b1),
        (f"institution:{inst_b}", "application_submitted", b2),
    ):
        handled(recipient, kind, subject)  # the closing is told to the call's parties known then
    publish("call_closed", call, s.call_closed(call, 4))
    publish(
        "experts_assigned",
        call,
        s.experts_assigned(
            call, [(f"as1_{n}", a1, e1, soon(240)), (f"as2_{n}", b1, e1, soon(240)), (as3, a1, e2, soon(240))]
        ),
    )
    publish("assignment_declined", as3, s.assignment_declined(call, as3, a1, e2))
    ranked = [s.entry(a1, inst_a, "长沙市", 1), s.entry(b1, inst_b, "株洲市", 2)]
    publish("ranking_published", call, s.ranking_published(call, ranked))
    publish("notice_published", call, s.notice_published(call, ranked))
    publish("objection_filed", obj, s.objection_filed(call, obj, b1))
    publish("objection_resolved", obj, s.objection_resolved(call, obj, b1, upheld=False))
    publish(
        "selection_finalized",
        call,
        s.selection_finalized(
            call,
            [
                s.approved(a1, inst_a, "长沙市", 1, f"智能制造专业群 {n}"),
                s.approved(b1, inst_b, "株洲市", 2, f"轨道交通专业群 {n}"),
            ],
        ),
    )
    # funding allocates once it has handled selection_finalized; this service hears both, by two queues
    handled(f"institution:{inst_b}", "selection_finalized", call)
    publish("funds_allocated", a1, s.funds_allocated(a1, call, 1))
    publish("tranche_released", a1, s.tranche_released(a1, call))
    publish("funds_allocated", b1, s.funds_allocated(b1, call, 2))
    publish("tranche_withheld", b1, s.tranche_withheld(b1, call))
    publish("funds_clawed_back", b1, s.funds_clawed_back(b1, call))
    publish("budget_exhausted", call, s.budget_exhausted(call))
    publish("call_opened", call2, s.call_opened(call2, title=f"2027年楚怡专业群遴选 {n}"))  # A and B are known by now

    both = {("call_opened", call2), ("call_closed", call), ("notice_published", call), ("selection_finalized", call)}
    expected = {
        f"institution:{inst_a}": both
        | {
            ("application_submitted", a1),
            ("application_submitted", a2),
            ("application_recommended", a1),
            ("application_withdrawn", a2),
            ("eligibility_checked", a1),
            ("funds_allocated", a1),
            ("tranche_released", a1),
        },
        f"institution:{inst_b}": both
        | {
            ("application_submitted", b1),
            ("application_submitted", b2),
            ("application_recommended", b1),
            ("application_declined", b2),
            ("eligibility_checked", b1),
            ("objection_resolved", obj),
            ("funds_allocated", b1),
            ("tranche_withheld", b1),
            ("funds_clawed_back", b1),
        },
        "prefecture:长沙市": both
        | {
            ("call_opened", call),
            ("application_submitted", a1),
            ("application_submitted", a2),
            ("application_withdrawn", a2),
        },
        "prefecture:株洲市": both
        | {("call_opened", call), ("application_submitted", b1), ("application_submitted", b2)},
        f"expert:{e1}": {("experts_assigned", call)},
        f"expert:{e2}": {("experts_assigned", call)},
        "province": {
            ("assignment_declined", as3),
            ("ranking_published", call),
            ("objection_filed", obj),
            ("objection_resolved", obj),
            ("budget_exhausted", call),
        },
        "finance": {
            ("funds_allocated", a1),
            ("tranche_released", a1),
            ("funds_allocated", b1),
            ("tranche_withheld", b1),
            ("funds_clawed_back", b1),
            ("budget_exhausted", call),
        },
    }
    subscribed = {
        f"institution:{inst_a}": set(WEBHOOK_KINDS),
        "province": set(PROVINCE_KINDS),
        "finance": set(EVENT_KINDS["funding"]),
    }
    channels = {r: {c for c, book in (("email", emails), ("sms", phones)) if r in book} for r in expected}
    expected_deliveries = {
        (r, kind, subject, channel)
        for r, told in expected.items()
        for kind, subject in told
        for channel in channels[r] | ({"webhook"} if kind in subscribed.get(r, ()) else set())
    }

    event_of = {e.id: e for e in published}
    ours = set(expected)

    def settled():
        found = [d for d in deliveries(stack, event_of) if d["recipient"] in ours]
        return len(found) >= len(expected_deliveries) and all(d["status"] == "sent" for d in found) and found

    sent = wait_until(settled, timeout=90, what="every delivery of the call's life to be sent")
    assert {
        (d["recipient"], d["kind"], event_of[d["origin_id"]].subject, d["channel"]) for d in sent
    } == expected_deliveries

    # the inbox: exactly the expected kinds and subjects for each recipient, among this test's subjects
    subjects = {e.subject for e in published}
    for recipient, client in clients.items():
        told = {(m["kind"], m["subject"]) for m in inbox(stack, client) if m["subject"] in subjects}
        assert told == expected[recipient], recipient
    any_prefecture = stack.client("prefecture", prefecture="湘西土家族苗族自治州")
    assert ("call_opened", call) in {(m["kind"], m["subject"]) for m in inbox(stack, any_prefecture)}

    # mail: each email delivery arrived once, at its recipient's address, in Chinese
    for d in (d for d in sent if d["channel"] == "email"):
        mails = mailbox.with_id(d["_id"])
        assert len(mails) == 1 and mails[0]["to"] == [emails[d["recipient"]]], d
        assert mails[0]["subject"] == d["content"]["subject"] and "楚怡" in mails[0]["html"]
    assert any("智能制造专业群" in m["subject"] for m in mailbox.to(emails[f"institution:{inst_a}"]))

    # webhooks: each arrived once with the CloudEvent and a valid signature under the owner's secret
    for d in (d for d in sent if d["channel"] == "webhook"):
        requests = [
            r for r in receiver.received(webhook_paths[d["recipient"]]) if r["headers"]["Chuyi-Delivery"] == d["_id"]
        ]
        assert len(requests) == 1, d
        request = requests[0]
        assert request["headers"]["Content-Type"].startswith("application/cloudevents+json")
        assert verify(
            secrets[d["recipient"]]["secret"], request["body"], request["headers"]["Chuyi-Signature"], int(time.time())
        )
        assert json.loads(request["body"]) == event_of[d["origin_id"]].to_dict()
