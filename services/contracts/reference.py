"""Reference data every service shares: the types of institution (院校类型), the province's
prefectures (市州), the years of the action, and institutions (申报单位) as every service names
them: their ownership and who recommends them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from dataclasses import dataclass, fields

VOCATIONAL_UNDERGRADUATE = "vocational_undergraduate"
HIGHER_VOCATIONAL = "higher_vocational"
SECONDARY_VOCATIONAL = "secondary_vocational"
TECHNICIAN = "technician"

INSTITUTION_TYPES: dict[str, str] = {
    VOCATIONAL_UNDERGRADUATE: "职业本科",
    HIGHER_VOCATIONAL: "高职专科",
    SECONDARY_VOCATIONAL: "中职",
    TECHNICIAN: "技工院校",
}

#: The 14 prefecture-level divisions of Hunan, in the official order.
PREFECTURES: tuple[str, ...] = (
    "长沙市",
    "株洲市",
    "湘潭市",
    "衡阳市",
    "邵阳市",
    "岳阳市",
    "常德市",
    "张家界市",
    "益阳市",
    "郴州市",
    "永州市",
    "怀化市",
    "娄底市",
    "湘西土家族苗族自治州",
)

#: The years of the action (湘教发〔2022〕7号): every call belongs to one of them.
ACTION_YEARS = range(2022, 2026)

#: Who runs an institution (办学性质): public (公办) or private (民办).
PUBLIC = "public"
PRIVATE = "private"
OWNERSHIPS: dict[str, str] = {PUBLIC: "公办", PRIVATE: "民办"}
#: GB 32100's first character: "1" is the staffing authority (机构编制), which registers public
#: institutions (事业单位); a private school is registered by civil affairs ("5") or as a company ("9").
_PUBLIC_REGISTRATION_AUTHORITY = "1"


def ownership_of(credit_code: str) -> str:
    """Public or private, read from the credit code's registration authority: what the
    register records when the province does not say."""
    return PUBLIC if credit_code[:1] == _PUBLIC_REGISTRATION_AUTHORITY else PRIVATE


PREFECTURE_BUREAU = "prefecture_bureau"
HRSS = "hrss"


@dataclass(frozen=True)
class Recommender:
    """The competent authority that recommends an institution's applications.

    `kind` is `prefecture_bureau` (authority: the prefecture's name) or `hrss`
    (authority: the human-resources-and-social-security sponsor of a technician school).
    """

    kind: str
    authority: str

    @property
    def key(self) -> str:
        """One string per authority, for counting recommendations against a cap."""
        return f"{self.kind}:{self.authority}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "authority": self.authority}


@dataclass(frozen=True)
class Institution:
    name: str
    type: str
    prefecture: str
    county: str
    sponsor: str
    credit_code: str
    id: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Institution:
        """Build from a stored or loaded record; keys other than the fields are ignored."""
        # A field the record lacks is None: stored and loaded records have them all.
        values: dict[str, Any] = {f.name: record.get(f.name) for f in fields(cls)}
        return cls(**values)

    @property
    def recommender(self) -> Recommender:
        # 技工院校 belong to the HRSS system: their sponsor recommends, not the education bureau.
        if self.type == TECHNICIAN:
            return Recommender(HRSS, self.sponsor)
        return Recommender(PREFECTURE_BUREAU, self.prefecture)
