"""A small, framework-free state machine: declared transitions and an audit entry per move.

Services declare their states and transitions once (event name -> from-states -> to-state)
and move an aggregate with `apply`, which returns the new state and the audit entry
(who, when, from, to, why) to store with it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone


class TransitionNotAllowed(Exception):
    """The event is not allowed from the current state."""

    def __init__(self, from_state: str, event: str, allowed_events: Iterable[str]):
        self.from_state = from_state
        self.event = event
        self.allowed_events = tuple(allowed_events)
        allowed = ", ".join(self.allowed_events) or "none"
        super().__init__(
            f"'{event}' is not allowed in state '{from_state}' (allowed events: {allowed})"
        )


class UnknownState(ValueError):
    def __init__(self, machine: str, state: str):
        self.machine = machine
        self.state = state
        super().__init__(f"'{state}' is not a state of the {machine} state machine")


class ReasonRequired(ValueError):
    def __init__(self, event: str):
        self.event = event
        super().__init__(f"'{event}' needs a reason")


@dataclass(frozen=True)
class Transition:
    event: str
    sources: frozenset[str]
    target: str
    requires_reason: bool = False

    def __post_init__(self):
        # Declarations may give any iterable of from-states.
        object.__setattr__(self, "sources", frozenset(self.sources))


@dataclass(frozen=True)
class AuditEntry:
    event: str
    from_state: str
    to_state: str
    actor: str
    at: datetime
    reason: str | None

    def as_dict(self) -> dict:
        return asdict(self)


class StateMachine:
    def __init__(self, name: str, states: Iterable[str], transitions: Iterable[Transition]):
        transitions = tuple(transitions)
        self.name = name
        self.states = tuple(states)
        self.transitions = {t.event: t for t in transitions}
        self._check_declaration(transitions)

    def _check_declaration(self, transitions: tuple[Transition, ...]) -> None:
        problems = []
        if len(set(self.states)) != len(self.states):
            problems.append("states are declared twice")
        if len(self.transitions) != len(transitions):
            problems.append("an event is declared twice")
        for t in transitions:
            if not t.sources:
                problems.append(f"event '{t.event}' has no from-state")
            for state in sorted(t.sources | {t.target}):
                if state not in self.states:
                    problems.append(f"event '{t.event}' names undeclared state '{state}'")
        if problems:
            raise ValueError(f"{self.name} state machine: " + "; ".join(problems))

    def _known(self, state: str) -> None:
        if state not in self.states:
            raise UnknownState(self.name, state)

    def allowed_events(self, state: str) -> tuple[str, ...]:
        self._known(state)
        return tuple(e for e, t in self.transitions.items() if state in t.sources)

    def can(self, state: str, event: str) -> bool:
        return event in self.allowed_events(state)

    def is_terminal(self, state: str) -> bool:
        return not self.allowed_events(state)

    def apply(
        self, current: str, event: str, actor: str, reason: str | None, at: datetime
    ) -> tuple[str, AuditEntry]:
        """Move from `current` by `event`; raise TransitionNotAllowed, ReasonRequired,
        UnknownState, or ValueError (no actor, naive time)."""
        allowed = self.allowed_events(current)
        if event not in allowed:
            raise TransitionNotAllowed(current, event, allowed)
        if not isinstance(actor, str) or not actor.strip():
            raise ValueError("a transition needs an actor")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("a transition time must be timezone-aware (UTC)")
        transition = self.transitions[event]
        reason = (reason or "").strip() or None
        if transition.requires_reason and not reason:
            raise ReasonRequired(event)
        entry = AuditEntry(
            event=event,
            from_state=current,
            to_state=transition.target,
            actor=actor,
            at=at.astimezone(timezone.utc),
            reason=reason,
        )
        return transition.target, entry
