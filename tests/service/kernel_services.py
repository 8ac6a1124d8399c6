"""Two tiny services that exercise the kernel exactly as the business services use it."""

from marshmallow import Schema, fields
import eventlet
from services.common.rpc import rpc
from pymongo import ASCENDING, IndexModel

from services.common.messaging import handles
from services.common.providers import ChuyiService, MongoStore
from services.common.store import BaseStore


class Numbered(Schema):
    n = fields.Integer(required=True)
    delay_s = fields.Float(load_default=0)


class KernelStore(BaseStore):
    events = {"recorded": Numbered(), "fragile": Numbered(), "slow": Numbered(), "held": Numbered()}
    indexes = {
        "records": [],
        "effects": [
            IndexModel([("event_id", ASCENDING)], name="by_event"),
            IndexModel([("subject", ASCENDING)], name="by_subject"),
        ],
        "switches": [],
    }

    def record(self, subject: str, n: int) -> None:
        """A state change and the event it raises, in one write."""

        def work():
            self.db.records.insert_one({"subject": subject, "n": n}, session=self.session)
            self.emit("recorded", subject, {"n": n})

        self.atomic(work)

    def apply(self, event) -> None:
        position = self.db.effects.count_documents({"subject": event.subject}, session=self.session)
        self.db.effects.insert_one(
            {
                "event_id": event.id,
                "subject": event.subject,
                "sequence": event.sequence,
                "position": position,
                "n": event.data.get("n"),
            },
            session=self.session,
        )

    def is_broken(self) -> bool:
        return self.db.switches.find_one({"_id": "broken"}, session=self.session) is not None

    def hold_while_switched(self, event) -> None:
        """Says that it began, then waits until the `held` switch is gone (both outside the event's
        transaction, whose snapshot would never see the switch go)."""
        self.db.begun.insert_one({"event_id": event.id})
        while self.db.switches.find_one({"_id": "held"}) is not None:
            eventlet.sleep(0.05)

    def applied_count(self) -> int:
        return self.db.effects.count_documents({})


class ProducerService(ChuyiService):
    name = "producer"
    store = MongoStore(KernelStore)

    @rpc
    def record(self, subject, n):
        self.store.record(subject, n)


class ConsumerService(ChuyiService):
    name = "consumer"
    store = MongoStore(KernelStore)

    @handles("producer", "recorded")
    def on_recorded(self, event):
        self.store.apply(event)

    @handles("producer", "slow")
    def on_slow(self, event):
        eventlet.sleep(event.data.get("delay_s", 0))  # a handler still at work when SIGTERM comes
        self.store.apply(event)

    @handles("producer", "held")
    def on_held(self, event):
        self.store.hold_while_switched(event)
        self.store.apply(event)

    @rpc
    def applied(self):
        return self.store.applied_count()

    @handles("producer", "fragile")
    def on_fragile(self, event):
        if self.store.is_broken():
            raise RuntimeError("the fragile handler is broken")
        self.store.apply(event)
