from __future__ import annotations

import pytest

from services.notify.domain.recipients import Party


class FakeDirectory:
    """The directory as plain dicts: what the service would have learned from earlier events."""

    def __init__(self):
        self.calls: dict[str, str] = {}
        self.applications: dict[str, Party] = {}
        self.approvals: dict[tuple[str, int], Party] = {}
        self.projects: dict[str, tuple[str, int]] = {}
        self.call_of: dict[str, str] = {}

    def add(self, party: Party, call_id: str = "call_1") -> Party:
        self.applications[party.application_id] = party
        self.call_of[party.application_id] = call_id
        return party

    def call_name(self, call_id):
        return self.calls.get(call_id)

    def application(self, application_id):
        return self.applications.get(application_id)

    def parties_of_call(self, call_id):
        return [p for a, p in self.applications.items() if self.call_of.get(a) == call_id]

    def known_institutions(self):
        return sorted({p.institution_id for p in self.applications.values()})

    def approval(self, call_id, rank):
        return self.approvals.get((call_id, rank))

    def project(self, project_id):
        key = self.projects.get(project_id)
        return self.approvals.get(key) if key else None


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()
