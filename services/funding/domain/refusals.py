"""What the funding service refuses, in both languages: each refusal is a conflict with the
current state (HTTP 409), with its own problem type."""

from __future__ import annotations

from services.common.bilingual import Bilingual
from services.common.errors import DomainError


class Conflict(DomainError):
    """A command that the current state does not allow (HTTP 409); `message` says why, in both languages."""

    status, kind = 409, "changed-meanwhile"


class RuleExists(Conflict):
    kind = "rule-exists"

    def __init__(self, rule_id: str):
        super().__init__(
            Bilingual(
                f"a funding rule with the id {rule_id!r} exists already; rules do not change once "
                "calls may reference them: create one with another id",
                f"资金规则 {rule_id} 已存在；规则一经可被批次引用便不再修改，请以新的 id 创建",
            )
        )


class AllocationBlocked(Conflict):
    """The call cannot be allocated now; on selection_finalized the call stays pending with this reason."""


class NoSelection(AllocationBlocked):
    kind = "no-selection"

    def __init__(self, call_id: str):
        super().__init__(
            Bilingual(
                f"no selection_finalized has arrived for call {call_id}: its approved projects are not "
                "known yet (the call is finalized with POST /v1/calls/{id}/finalize)",
                f"尚未收到批次 {call_id} 的立项结果（selection_finalized），立项项目未知"
                "（确定立项：POST /v1/calls/{id}/finalize）",
            )
        )


class AlreadyAllocated(Conflict):
    kind = "already-allocated"

    def __init__(self, call_id: str, year: int):
        super().__init__(
            Bilingual(
                f"call {call_id} is allocated already (from the {year} budget); allocation runs once per call",
                f"批次 {call_id} 已按{year}年预算分配资金；每个批次只分配一次",
            )
        )


class RuleMissing(AllocationBlocked):
    kind = "rule-missing"

    def __init__(self, call_id: str, rule_id: str):
        super().__init__(
            Bilingual(
                f"call {call_id} is funded by the funding rule {rule_id!r}, which does not exist: create it "
                "with POST /v1/funding-rules, then allocate",
                f"批次 {call_id} 所用资金规则 {rule_id} 不存在：请先创建（POST /v1/funding-rules）再分配",
            )
        )


class AllocationImpossible(AllocationBlocked):
    kind = "allocation-impossible"

    def __init__(self, call_id: str, why: str):
        super().__init__(Bilingual(f"call {call_id} cannot be allocated: {why}", f"批次 {call_id} 无法分配资金：{why}"))


class NotFundedYet(Conflict):
    kind = "not-funded-yet"

    def __init__(self, project_id: str, call_id: str):
        super().__init__(
            Bilingual(
                f"project {project_id} is approved in call {call_id}, which is not allocated yet: "
                "its milestones are recorded once it is funded (POST /v1/calls/{id}/allocation)",
                f"项目 {project_id} 已在批次 {call_id} 立项，但该批次资金尚未分配：资金下达后才能记录考核结果"
                "（POST /v1/calls/{id}/allocation）",
            )
        )
