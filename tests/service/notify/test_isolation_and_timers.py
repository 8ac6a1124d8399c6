"""No recipient ever receives another's message; experts are reminded once per window;
dead letters piling up alert the province."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.common.envelope import new_event
from services.common.messaging import service_exchange
from services.contracts.notify import WEBHOOK_KINDS
from tests.service.notify.conftest import PROVINCE_EMAIL
from tests.service.notify.support import deliveries, inbox, put_settings, subscribe, uid
from tests.support.servers import wait_until
from tests.unit.notify import samples as s

pytestmark = pytest.mark.service


def soon(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_recipient_ever_receives_another_s_message(notify_stack, producers, mailbox, receiver, province):
    stack, n = notify_stack, uid()
    call = f"call_i_{n}"
    x, y = f"inst_x_{n}", f"inst_y_{n}"  # two institutions of one prefecture
    xa, ya = f"app_x_{n}", f"app_y_{n}"
    title = {xa: f"工业机器人 {n}", ya: f"烹饪工艺 {n}"}
    people = {
        x: (stack.client("institution", institution_id=x), f"x-{n}@hnjd.edu.cn", f"/ok/x-{n}"),
        y: (stack.client("institution", institution_id=y), f"y-{n}@hnsw.edu.cn", f"/ok/y-{n}"),
    }
    hooks = {}
    for inst, (client, address, path) in people.items():
        put_settings(stack, client, email=address)
        hooks[inst] = subscribe(stack, client, receiver.url(path), WEBHOOK_KINDS)
    ex, ey = (stack.client("expert", expert_id=f"exp_{w}_{n}") for w in "xy")

    mine = {x: [], y: []}
    for inst, app in ((x, xa), (y, ya)):
        mine[inst].append(
            producers.publish(
                "application_submitted", app, s.application_submitted(app, call, inst, "湘潭市", title[app])
            )
        )
        mine[inst].append(
            producers.publish("eligibility_checked", app, s.eligibility_checked(app, call, inst, "湘潭市", title[app]))
        )
    producers.publish(
        "experts_assigned",
        call,
        s.experts_assigned(
            call, [(f"as_x_{n}", xa, f"exp_x_{n}", soon(500)), (f"as_y_{n}", ya, f"exp_y_{n}", soon(500))]
        ),
    )
    ranked = [s.entry(ya, y, "湘潭市", 1)]
    producers.publish("ranking_published", call, s.ranking_published(call, ranked, [s.entry(xa, x, "湘潭市", 2)]))
    wait_until(
        lambda: any(m["subject"] == call for m in inbox(stack, province) if m["kind"] == "ranking_published"),
        timeout=30,
        what="the ranking to be handled",
    )
    # the objection against Y's application is upheld: Y is removed, X promoted from the reserve
    resolved = producers.publish(
        "objection_resolved",
        f"obj_{n}",
        s.objection_resolved(call, f"obj_{n}", ya, upheld=True, removed=[ya], promoted=[xa]),
    )
    mine[y].append(resolved)
    everything = mine[x] + mine[y] + [resolved]

    wait_until(
        lambda: (
            all(d["status"] == "sent" for d in deliveries(stack, [e.id for e in everything]))
            and len(inbox(stack, people[x][0])) == 3
            and len(inbox(stack, people[y][0])) == 3
        ),
        timeout=60,
        what="everything sent",
    )

    for inst, other in ((x, y), (y, x)):
        client, address, path = people[inst]
        app, other_app = (xa, ya) if inst == x else (ya, xa)
        messages = inbox(stack, client)
        assert {m["subject"] for m in messages} <= {app, f"obj_{n}"}
        assert all(title[other_app] not in m["title"] + m["body"] for m in messages)
        assert all(title[other_app] not in m["text"] for m in mailbox.to(address))
        received = {e["id"] for e in receiver.events(path)}
        assert {e.id for e in mine[inst]} <= received and not received & {e.id for e in mine[other]}
        # another's message, webhook: as if they did not exist
        theirs = inbox(stack, people[other][0])[0]
        assert client.post(stack.url(f"/v1/inbox/{theirs['id']}/read"), timeout=30).status_code == 404
        assert client.get(stack.url(f"/v1/webhooks/{hooks[other]['id']}"), timeout=30).status_code == 404
        assert client.delete(stack.url(f"/v1/webhooks/{hooks[other]['id']}"), timeout=30).status_code == 404
        assert [h["id"] for h in client.get(stack.url("/v1/webhooks"), timeout=30).json()["items"]] == [
            hooks[inst]["id"]
        ]
    assert all(m["read_at"] is None for m in inbox(stack, people[y][0]))

    # X learns it was promoted, but the objection's reasons (about Y) reach Y alone, webhook included
    promoted = next(m for m in inbox(stack, people[x][0]) if m["kind"] == "objection_resolved")
    assert "递补" in promoted["body"] and resolved.data["reason"] not in promoted["body"]
    assert resolved.id not in {e["id"] for e in receiver.events(people[x][2])}
    # each expert hears of its own assignment only
    for expert, own, other_app in ((ex, f"as_x_{n}", ya), (ey, f"as_y_{n}", xa)):
        told = [m for m in inbox(stack, expert) if m["kind"] == "experts_assigned"]
        assert len(told) == 1 and own in told[0]["body"] and title[other_app] not in told[0]["body"]


def test_experts_are_reminded_once_per_window_of_open_reviews_due_within_it(notify_stack, producers, mailbox):
    stack, n = notify_stack, uid()
    call = f"call_r_{n}"
    r, r2, r3 = (f"exp_r{i}_{n}" for i in (1, 2, 3))
    clients = {e: stack.client("expert", expert_id=e) for e in (r, r2, r3)}
    put_settings(stack, clients[r], email=f"r-{n}@csu.edu.cn")

    def reminders(expert):
        return [m for m in inbox(stack, clients[expert]) if m["kind"] == "review_reminder"]

    # R2 submitted its review before this service heard of the assignment (they travel by different subjects)
    producers.publish("review_submitted", f"as_r3_{n}", s.review_submitted(call, f"as_r3_{n}", f"app_3_{n}", r2))
    producers.publish(
        "experts_assigned",
        call,
        s.experts_assigned(
            call,
            [
                (f"as_r1_{n}", f"app_1_{n}", r, soon(10)),
                (f"as_r2_{n}", f"app_2_{n}", r, soon(100)),
                (f"as_r3_{n}", f"app_3_{n}", r2, soon(10)),
            ],
        ),
    )
    first = wait_until(lambda: reminders(r), timeout=30, what="R's reminder")
    # a later pass of the timer reminds R3, whose review came due after R's reminder...
    producers.publish("experts_assigned", call, s.experts_assigned(call, [(f"as_r4_{n}", f"app_4_{n}", r3, soon(5))]))
    wait_until(lambda: reminders(r3), timeout=30, what="R3's reminder")

    # ...and has not reminded R again, nor R2 of a review already in
    assert len(reminders(r)) == 1 and reminders(r2) == []
    assert f"app_1_{n}" in first[0]["body"] and f"app_2_{n}" not in first[0]["body"]
    mails = wait_until(
        lambda: [m for m in mailbox.to(f"r-{n}@csu.edu.cn") if m["subject"].startswith("评审即将截止")],
        timeout=30,
        what="R's reminder by mail",
    )
    assert len(mails) == 1


def test_dead_letters_piling_up_alert_the_province(notify_stack, producers, province, mailbox):
    stack, n = notify_stack, uid()
    broken = new_event(
        "applications", "application_submitted", f"app_broken_{n}", {"application_id": f"app_broken_{n}"}, sequence=1
    )
    producers.publisher.publish(service_exchange("applications"), broken.name, broken.to_dict(), message_id=broken.id)

    alerts = wait_until(
        lambda: [m for m in inbox(stack, province) if m["kind"] == "dead_letters"],
        timeout=30,
        what="the province to be alerted",
    )
    assert len(alerts) == 1 and "notify.applications.dead：1 条" in alerts[0]["body"]
    wait_until(
        lambda: [m for m in mailbox.to(PROVINCE_EMAIL) if "死信" in m["subject"]], timeout=30, what="the alert by mail"
    )
