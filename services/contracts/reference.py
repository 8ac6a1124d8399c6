"""Reference data every service shares: the types of institution (院校类型) and the province's
prefectures (市州)."""
from __future__ import annotations

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
