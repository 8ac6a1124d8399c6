"""Closed vocabularies the gateway checks at its edge.

PREFECTURES and INSTITUTION_TYPES belong to the applications domain (domain.md); they live here
until that domain module exists, then the gateway should import them from there.
"""
from __future__ import annotations

PREFECTURES = (
    "长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市",
    "张家界市", "益阳市", "郴州市", "永州市", "怀化市", "娄底市", "湘西土家族苗族自治州",
)

INSTITUTION_TYPES = ("vocational_undergraduate", "higher_vocational", "secondary_vocational", "technician")
