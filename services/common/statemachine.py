"""A small, framework-free state machine: declared transitions and an audit entry per move.

Services declare their states and transitions once (event name -> from-states -> to-state)
and move an aggregate with `apply`, which returns the new state and the audit entry
(who, when, from, to, why) to store with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any, NamedTuple
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from .bilingual import Bilingual


class TransitionNotAllowed(Exception):
    """The event is not allowed from the current state; `machine` names the state machine
    that refused it (its `StateGuide` explains the refusal to a portal), `why` the rule that
    refused it when the state alone does not say (in both languages)."""

    def __init__(
        self,
        from_state: str,
        event: str,
        allowed_events: Iterable[str],
        machine: str | None = None,
        why: Bilingual | None = None,
    ):
        self.from_state = from_state
        self.event = event
        self.allowed_events = tuple(allowed_events)
        self.machine = machine
        self.why = why
        allowed = ", ".join(self.allowed_events) or "none"
        super().__init__(f"'{event}' is not allowed in state '{from_state}' (allowed events: {allowed})")


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
    sources: Set[str]  # a frozenset once built
    target: str
    requires_reason: bool = False

    def __post_init__(self) -> None:
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

    def as_dict(self) -> dict[str, Any]:
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

    def refuse(self, state: str, event: str) -> TransitionNotAllowed:
        """The refusal of `event` in `state`, for a rule that refuses a move the declaration allows."""
        return TransitionNotAllowed(state, event, self.allowed_events(state), self.name)

    def next_step(self, state: str, event: str) -> str | None:
        """The first event on the shortest way from `state` to a state that allows `event`:
        the step that would let `event` happen; None when no way leads there."""
        self._known(state)
        first_steps: dict[str, str | None] = {state: None}
        frontier = [state]
        while frontier:
            reached = []
            for here in frontier:
                for step in self.allowed_events(here):
                    there = self.transitions[step].target
                    if there in first_steps:
                        continue
                    first_steps[there] = first_steps[here] or step
                    if self.can(there, event):
                        return first_steps[there]
                    reached.append(there)
            frontier = reached
        return None

    def can(self, state: str, event: str) -> bool:
        return event in self.allowed_events(state)

    def is_terminal(self, state: str) -> bool:
        return not self.allowed_events(state)

    def apply(self, current: str, event: str, actor: str, reason: str | None, at: datetime) -> tuple[str, AuditEntry]:
        """Move from `current` by `event`; raise TransitionNotAllowed, ReasonRequired,
        UnknownState, or ValueError (no actor, naive time)."""
        allowed = self.allowed_events(current)
        if event not in allowed:
            raise TransitionNotAllowed(current, event, allowed, self.name)
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


#: The from-state of a record's first history entry: it did not exist before.
NEW = "new"


def creation_entry(initial_state: str, actor: str, at: datetime, reason: str | None = None) -> AuditEntry:
    """The first entry of every history: who created the record, when, in which state."""
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("a creation needs an actor")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a creation time must be timezone-aware (UTC)")
    return AuditEntry("create", NEW, initial_state, actor, at.astimezone(timezone.utc), reason)


class PublicState(NamedTuple):
    """A state as a portal knows it: the `code` its API shows, and what it means in both languages."""

    code: str
    en: str
    zh: str


@dataclass(frozen=True)
class StateGuide:
    """How the refusals of one state machine read to a portal: the record, each state as the
    public state the API shows, and each event as the step that makes it (in both languages,
    with the route that takes it, or what the caller waits for). A refused move then names
    the public state and the step that would allow it (`StateMachine.next_step`)."""

    machine: StateMachine
    record: Bilingual
    states: Mapping[str, PublicState]
    steps: Mapping[str, Bilingual]
    type: str = "transition-not-allowed"

    def __post_init__(self) -> None:
        missing = [f"state '{s}'" for s in self.machine.states if s not in self.states]
        missing += [f"event '{e}'" for e in self.machine.transitions if e not in self.steps]
        if missing:
            raise ValueError(f"the guide to the {self.machine.name} state machine lacks: {', '.join(missing)}")

    def blocked(self, refused: TransitionNotAllowed) -> bool:
        """Whether a rule refused a move the state allows (its `why` says which rule)."""
        return self.machine.can(refused.from_state, refused.event)

    def problem_type(self, refused: TransitionNotAllowed) -> str:
        return "transition-blocked" if self.blocked(refused) else self.type

    def explain(self, refused: TransitionNotAllowed) -> Bilingual:
        """What a portal is told of the refusal: the public state, the rule that refused it if
        any, and the step that would allow the move."""
        state, step = self.states[refused.from_state], self.steps[refused.event]
        en = f"Cannot {step.en}: the {self.record.en} is {state.en} ('{state.code}')"
        zh = f"{self.record.zh}当前{state.zh}（{state.code}），不能{step.zh}"
        if refused.why:
            en, zh = f"{en}; {refused.why.en}", f"{zh}：{refused.why.zh}"
        en, zh = en + ".", zh + "。"
        if self.blocked(refused):
            return Bilingual(en, zh)
        following = self.machine.next_step(refused.from_state, refused.event)
        if following is None:
            en, zh = en + " No step leads from there to it.", zh + "此后已无可行步骤。"
        else:
            en, zh = en + f" Next step: {self.steps[following].en}.", zh + f"下一步：{self.steps[following].zh}。"
        return Bilingual(en, zh)
