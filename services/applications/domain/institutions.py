"""Institutions (申报单位): their types, the 14 prefectures, and who recommends them."""
from __future__ import annotations

from collections.abc import Mapping
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
    def from_record(cls, record: Mapping) -> Institution:
        """Build from a stored or loaded record; keys other than the fields are ignored."""
        return cls(**{f.name: record.get(f.name) for f in fields(cls)})

    @property
    def recommender(self) -> Recommender:
        # 技工院校 belong to the HRSS system: their sponsor recommends, not the education bureau.
        if self.type == TECHNICIAN:
            return Recommender(HRSS, self.sponsor)
        return Recommender(PREFECTURE_BUREAU, self.prefecture)
