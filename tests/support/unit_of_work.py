"""The unit of work of a store held in memory, for use-case tests (cosmicpython's fakes): a
subclass names the attributes that hold its `tables` and its `events` schemas. `atomic`
rolls a refused command's writes back, as the transaction would; `emitted` keeps the staged
events, each checked against its schema as the outbox does."""

from __future__ import annotations

import copy


class InMemoryUnitOfWork:
    tables: tuple[str, ...] = ()
    events: dict = {}

    def __init__(self):
        self.emitted: list[tuple[str, str, dict]] = []
        self.in_transaction = False

    def atomic(self, work):
        if self.in_transaction:
            return work()
        before = copy.deepcopy({name: getattr(self, name) for name in (*self.tables, "emitted")})
        self.in_transaction = True
        try:
            return work()
        except BaseException:
            for name, value in before.items():
                setattr(self, name, value)
            raise
        finally:
            self.in_transaction = False

    def emit(self, name: str, subject: str, data: dict) -> None:
        assert self.in_transaction, "emit() outside atomic()"
        errors = self.events[name].validate(data)
        assert not errors, (name, errors)
        self.emitted.append((name, subject, data))

    def emitted_names(self) -> list[str]:
        return [name for name, _, _ in self.emitted]
