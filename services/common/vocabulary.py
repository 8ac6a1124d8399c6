"""Reference data several services share by contract (as they share event schemas).

INDUSTRY_FIELDS: the controlled vocabulary of industry fields, the 19 专业大类 of the
national vocational-education specialty catalogue (职业教育专业目录, 2021), with their
higher-vocational codes. Applications name the fields they serve; experts name their
fields of expertise; assignment matches the two.
"""

INDUSTRY_FIELDS = {
    "41": ("农林牧渔大类", "agriculture, forestry, animal husbandry and fishery"),
    "42": ("资源环境与安全大类", "resources, environment and safety"),
    "43": ("能源动力与材料大类", "energy, power and materials"),
    "44": ("土木建筑大类", "civil engineering and architecture"),
    "45": ("水利大类", "water conservancy"),
    "46": ("装备制造大类", "equipment manufacturing"),
    "47": ("生物与化工大类", "biology and chemical engineering"),
    "48": ("轻工纺织大类", "light industry and textiles"),
    "49": ("食品药品与粮食大类", "food, drugs and grain"),
    "50": ("交通运输大类", "transport"),
    "51": ("电子与信息大类", "electronics and information"),
    "52": ("医药卫生大类", "medicine and health"),
    "53": ("财经商贸大类", "finance, economics and trade"),
    "54": ("旅游大类", "tourism"),
    "55": ("文化艺术大类", "culture and arts"),
    "56": ("新闻传播大类", "journalism and communication"),
    "57": ("教育与体育大类", "education and sports"),
    "58": ("公安与司法大类", "public security and justice"),
    "59": ("公共管理与服务大类", "public administration and services"),
}
