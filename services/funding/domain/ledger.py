"""The double-entry ledger of the funding service, in integer fen.

Every movement is one or more entries; each entry debits one account and credits
another by the same positive amount, both of the same funding source. An account's
balance is debits minus credits.

Accounts (one per funding source; ids never contain ':'):

    appropriation:<year>:<category>:<source>  where a budget line's money comes from
                                              (credit-normal: its balance is <= 0)
    budget:<year>:<category>:<source>         budgeted and not yet reserved (available)
    reserved:<project>:<source>               awarded, still scheduled (not released)
    released:<project>:<source>               paid to the project and not clawed back
    withheld:<project>:<source>               awarded but never to be paid (failed milestone)
    clawed_back:<project>:<source>            paid, then reclaimed (failed milestone)

Movements (debit <- credit):

    appropriation  budget       <- appropriation   a budget line is funded
    reservation    reserved     <- budget          a project's award, per source
    release        released     <- reserved        a tranche is paid
    withholding    withheld     <- reserved        an unpaid tranche is cancelled
    clawback       clawed_back  <- released        a paid tranche is reclaimed

So for every project and source, reserved + released + withheld + clawed_back equals
the award at every moment, and every account but `appropriation` stays >= 0.
Withheld and clawed-back money stays on the project's accounts: handing it back to a
budget line is a separate decision of the province, not made here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.funding.domain.budget import BudgetKey
from services.contracts.funding import CURRENCY, MOVEMENTS, SOURCES
from services.funding.domain.money import check_fen

PROJECT_KINDS = ("reserved", "released", "withheld", "clawed_back")
BUDGET_KINDS = ("appropriation", "budget")


class LedgerError(ValueError):
    """The ledger breaks a rule; the message names the entry (its position) and the rule."""


def check_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not value or ":" in value:
        raise ValueError(f"{name} must be a non-empty string without ':', got {value!r}")
    return value


def budget_account(key: BudgetKey, kind: str = "budget") -> str:
    return f"{kind}:{key.year}:{key.category}:{key.source}"


def project_account(kind: str, project_id: str, source: str) -> str:
    return f"{kind}:{check_id(project_id, 'project_id')}:{source}"


@dataclass(frozen=True)
class Account:
    kind: str
    owner: str  # "<year>:<category>" for budget kinds, the project id for project kinds
    source: str

    @classmethod
    def parse(cls, name: str) -> "Account":
        kind, _, rest = name.partition(":")
        owner, _, source = rest.rpartition(":")
        if kind not in PROJECT_KINDS + BUDGET_KINDS or source not in SOURCES or not owner:
            raise LedgerError(f"{name!r} is not a ledger account")
        return cls(kind, owner, source)


@dataclass(frozen=True)
class Entry:
    movement: str
    debit: str
    credit: str
    amount: int
    source: str
    at: datetime
    project_id: str | None = None
    tranche: int | None = None  # the tranche's index in the plan, for tranche movements

    def as_dict(self) -> dict[str, Any]:
        return {
            "movement": self.movement,
            "debit": self.debit,
            "credit": self.credit,
            "amount": self.amount,
            "currency": CURRENCY,
            "source": self.source,
            "at": self.at,
            "project_id": self.project_id,
            "tranche": self.tranche,
        }


def appropriation(key: BudgetKey, amount: int, at: datetime) -> Entry:
    """A budget line is funded with `amount` fen."""
    check_fen(amount, "amount", positive=True)
    return Entry("appropriation", budget_account(key), budget_account(key, "appropriation"), amount, key.source, at)


def reservation(year: int, category: str, project_id: str, by_source: Mapping[str, int], at: datetime) -> list[Entry]:
    """A project's award leaves the budget lines of (year, category), per source."""
    return [
        Entry(
            "reservation",
            project_account("reserved", project_id, source),
            budget_account(BudgetKey(year, category, source)),
            amount,
            source,
            at,
            project_id,
        )
        for source, amount in by_source.items()
        if amount
    ]


def tranche_movement(
    movement: str, project_id: str, tranche: int, by_source: Mapping[str, int], at: datetime
) -> list[Entry]:
    """`release`, `withholding` or `clawback` of one tranche's per-source amounts."""
    if movement not in ("release", "withholding", "clawback"):
        raise ValueError(f"{movement!r} is not a tranche movement")
    debit_kind, credit_kind = MOVEMENTS[movement]
    return [
        Entry(
            movement,
            project_account(debit_kind, project_id, source),
            project_account(credit_kind, project_id, source),
            amount,
            source,
            at,
            project_id,
            tranche,
        )
        for source, amount in by_source.items()
        if amount
    ]


@dataclass(frozen=True)
class LedgerBalances:
    """Balances (debits - credits) after a replay, keyed by account name."""

    accounts: Mapping[str, int]

    def project_position(self, project_id: str) -> dict[str, dict[str, int]]:
        """{source: {reserved, released, withheld, clawed_back}} for one project."""
        position: dict[str, dict[str, int]] = {}
        for name, balance in self.accounts.items():
            account = Account.parse(name)
            if account.kind in PROJECT_KINDS and account.owner == project_id:
                position.setdefault(account.source, dict.fromkeys(PROJECT_KINDS, 0))[account.kind] = balance
        return {s: position[s] for s in SOURCES if s in position}

    def available(self, key: BudgetKey) -> int:
        return self.accounts.get(budget_account(key), 0)


def check_ledger(entries: Iterable[Entry]) -> LedgerBalances:
    """Replay `entries` in order and check that each entry moves a positive integer
    amount between two accounts of its own source, of the kinds its movement
    prescribes, never between two projects; and that after each entry no account is
    below zero (`appropriation` accounts: above zero).

    Since every entry is then balanced within one source and one project, the ledger
    balances per source (debits == credits) and per project (its accounts hold exactly
    what was reserved for it) at every moment. Returns the final balances; raises
    `LedgerError` at the first broken rule.
    """
    balances: dict[str, int] = defaultdict(int)
    for position, entry in enumerate(entries):
        for account, name, signed in _legs(position, entry):
            balances[name] += signed
            _check_sign(position, entry, account, name, balances[name])
    return LedgerBalances(dict(balances))


def _legs(position: int, entry: Entry) -> tuple[tuple[Account, str, int], tuple[Account, str, int]]:
    if entry.movement not in MOVEMENTS:
        raise LedgerError(f"entry {position}: unknown movement {entry.movement!r}")
    if isinstance(entry.amount, bool) or not isinstance(entry.amount, int) or entry.amount <= 0:
        raise LedgerError(f"entry {position}: amount must be a positive integer number of fen, got {entry.amount!r}")
    debit, credit = Account.parse(entry.debit), Account.parse(entry.credit)
    if (debit.kind, credit.kind) != MOVEMENTS[entry.movement]:
        raise LedgerError(
            f"entry {position}: movement {entry.movement!r} debits {MOVEMENTS[entry.movement][0]} and credits "
            f"{MOVEMENTS[entry.movement][1]}, not {debit.kind} and {credit.kind}"
        )
    if not debit.source == credit.source == entry.source:
        raise LedgerError(f"entry {position}: both accounts must be of source {entry.source!r}")
    project_owners = {a.owner for a in (debit, credit) if a.kind in PROJECT_KINDS}
    if project_owners and project_owners != {entry.project_id}:
        raise LedgerError(
            f"entry {position}: its project accounts belong to {sorted(project_owners)}, "
            f"not to its project {entry.project_id!r}"
        )
    return (debit, entry.debit, entry.amount), (credit, entry.credit, -entry.amount)


def _check_sign(position: int, entry: Entry, account: Account, name: str, balance: int) -> None:
    credit_normal = account.kind == "appropriation"
    if (balance > 0) if credit_normal else (balance < 0):
        raise LedgerError(
            f"entry {position} ({entry.movement}) takes {name} to {balance} fen; "
            f"it must not go {'above' if credit_normal else 'below'} zero"
        )
