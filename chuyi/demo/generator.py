"""The seeded demo data generator: Hunan's vocational institutions, the experts who review
them, one call per category of the catalogue and the applications to each, as the public
API's request bodies.

`generate(seed)` is pure and deterministic: the same seed and sizes give the same data.
Each stage draws from its own random stream, so the institutions stay the same whatever
the number of experts. Bodies point at each other by demo keys (`inst-0001`,
`call-hv-school`; experts' outside employers are `org-0001`): `resolve` swaps them for
the ids the API returns. Hidden traits (an institution's strength, an application's
quality, an expert's leniency) drive `simulated_scores`, so the calibration and ranking
of a demo round have something real to recover.

Names, texts and terms live in data/: hunan.yaml (prefectures, counties, the institution
mix, outside organisations), words.yaml (names and texts), calls.yaml (each call's terms).
Bodies carry only the fields their schemas declare (InstitutionIn, CallIn, ApplicationIn
of `services.contracts.applications_api`, ExpertIn of `services.contracts.review_api`), so a field a
schema does not take (yet) is left out.
"""

from __future__ import annotations

import functools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from services.applications.domain.applications import application_limit
from services.applications.domain.calls import call_year
from services.contracts.reference import (
    ACTION_YEARS,
    HIGHER_VOCATIONAL,
    Institution,
    PREFECTURES,
    SECONDARY_VOCATIONAL,
    TECHNICIAN,
    VOCATIONAL_UNDERGRADUATE,
)
from services.contracts.catalogue import Category, catalogue
from services.common.credit_code import check_digit, organisation_check_digit
from services.applications.domain.messages import rfc3339
from services.common.personal import resident_id_check_digit
from services.contracts.applications_api import FIRST_YEAR, LAST_YEAR, ApplicationIn, CallIn, InstitutionIn
from services.common.vocabulary import INDUSTRY_FIELDS
from services.contracts.review_api import ExpertIn

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_OPENS_AT = datetime(2023, 3, 1, tzinfo=timezone.utc)
DEFAULT_WINDOW = timedelta(days=30)
PLAN_YEARS = 3
MIN_INSTITUTIONS = 20  # enough for a secondary vocational school in each of the 14 prefectures
FEN_PER_YUAN = 100
PROVINCIAL_EDUCATION = "湖南省教育厅"
PROVINCE_DIVISION = "430000"

# Hidden traits. An application's quality is the share of full marks an unbiased expert
# gives it on average; an expert's leniency shifts that share; each single judgement adds
# CRITERION_NOISE.
CRITERION_NOISE = 0.05
LENIENCY_SPREAD = 0.05
MAX_LENIENCY = 0.15
QUALITY_RANGE = (0.3, 0.97)

# Experts: where they work (weights), which teachers serve (weights by institution type),
# their load caps (mean about 8), and how often they are unavailable, declare conflicts or
# sit in a team themselves.
EMPLOYER_KINDS = {"institution": 4, "academic": 3, "enterprise": 3}
TEACHER_WEIGHTS = {VOCATIONAL_UNDERGRADUATE: 4, HIGHER_VOCATIONAL: 3, SECONDARY_VOCATIONAL: 1, TECHNICIAN: 1}
LOAD_CAPS = (4, 5, 6, 8, 8, 10, 10, 12, 12)
AVAILABLE = 0.95
DECLARES_INSTITUTIONS = 0.25
DECLARES_PEOPLE = 0.1
EXPERT_IN_TEAM = 0.1
EXPERT_AGES = (35, 62)
MEMBER_AGES = (25, 58)

# Credit code positions 1-2 (registration authority, organisation category) by kind.
CREDIT_PREFIX = {
    "public": "12",  # 事业单位 registered by the staffing authority
    "private": "52",  # 民办非企业单位 registered by civil affairs
    "school": "12",
    "research_institute": "12",
    "enterprise": "91",
    "government": "11",
    "industry": "51",  # 社会团体: an industry association
}
_NAME_ATTEMPTS = 40
_COLLEGE_TYPES = (VOCATIONAL_UNDERGRADUATE, HIGHER_VOCATIONAL)
_CRITERION_KEYS = ("code", "name", "weight", "max_score")


class Person(NamedTuple):
    name: str
    id_number: str
    phone: str


class DemoInstitution(NamedTuple):
    key: str
    body: dict  # InstitutionIn
    fields: tuple[str, ...]  # industry fields it teaches
    strength: float  # hidden, 0..1: stronger institutions apply more and write better applications


class DemoOrganisation(NamedTuple):
    """An organisation that is not an applicant: a university, research institute or enterprise."""

    key: str
    name: str
    kind: str  # school (universities), research_institute or enterprise
    prefecture: str
    credit_code: str
    fields: tuple[str, ...]


class DemoExpert(NamedTuple):
    key: str
    body: dict  # ExpertIn (services.contracts.review_api); see _expert_body
    leniency: float  # hidden: how far above (or below) the true quality this expert scores
    contact: dict  # phone and email, which the expert pool does not take


class DemoCall(NamedTuple):
    key: str
    body: dict  # CallIn


class DemoApplication(NamedTuple):
    institution: str  # the applicant's institution key
    body: dict  # ApplicationIn; call_id holds the call's key
    key: str
    quality: float  # hidden: the share of full marks an unbiased expert gives on average


@dataclass(frozen=True)
class DemoData:
    seed: int
    institutions: tuple[DemoInstitution, ...]
    organisations: tuple[DemoOrganisation, ...]
    experts: tuple[DemoExpert, ...]
    calls: tuple[DemoCall, ...]
    applications: Mapping[str, tuple[DemoApplication, ...]]  # by call key


class _Profile(NamedTuple):
    """An expert before the declared conflicts are drawn (they name people from the teams)."""

    key: str
    person: Person
    employer: DemoOrganisation
    fields: tuple[str, ...]
    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    load_cap: int
    available: bool
    leniency: float


# ---------------------------------------------------------------- public API


def generate(
    seed: int = 2025,
    institutions: int = 400,
    experts: int = 2000,
    *,
    opens_at: datetime = DEFAULT_OPENS_AT,
    window: timedelta = DEFAULT_WINDOW,
    action_year: int | None = None,
) -> DemoData:
    """The demo's whole world for `seed`. Calls open at `opens_at` (timezone-aware) and
    close `window` later; they belong to `action_year` (by default the opening year, or the
    action's last year for a call opening later), and yearly targets cover the three years from
    it, so a project reports against a target in its call's year. Institutions and experts are the
    same for a seed whatever the year; calls and applications differ from year to year. A call
    whose category finds no applicant at this size is left out. Raises ValueError for sizes
    or times the data cannot be built for."""
    _check_arguments(institutions, experts, opens_at, window, action_year)
    build = _Builder(seed, opens_at.year, action_year or call_year(opens_at))
    build.make_institutions(institutions)
    build.make_organisations(max(len(PREFECTURES), institutions // 2))
    build.make_profiles(experts)
    calls = build.calls(opens_at, window)
    applications = {call.key: tuple(build.applications(call)) for call in calls}
    calls = tuple(call for call in calls if applications[call.key])
    return DemoData(
        seed=seed,
        institutions=tuple(build.institutions),
        organisations=tuple(build.organisations),
        experts=tuple(build.experts()),
        calls=calls,
        applications={call.key: applications[call.key] for call in calls},
    )


def simulated_scores(
    rubric: Sequence[Mapping], quality: float, expert_leniency: float, rng: random.Random
) -> dict[str, int]:
    """One expert's scores for one application, by criterion code: the share of full marks
    is the application's quality shifted by the expert's leniency, plus the noise of a single
    judgement, clipped to 0..1 and rounded to whole points of the criterion's max_score."""
    return {
        criterion["code"]: round(
            _clip(quality + expert_leniency + rng.gauss(0, CRITERION_NOISE), 0.0, 1.0) * criterion["max_score"]
        )
        for criterion in rubric
    }


def review_comment(rubric: Sequence[Mapping], scores: Mapping[str, int], rng: random.Random) -> str:
    """A Chinese review comment that fits the sheet's weighted share of full marks."""
    share = sum(c["weight"] * scores[c["code"]] / c["max_score"] for c in rubric) / 100
    tier = next(t for t in _data("words")["comments"] if share >= t["floor"])
    return rng.choice(tier["texts"])


def resolve(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` (a body, or part of one) with every demo key found in `ids` replaced by its
    real id, through nested dicts and lists; other values are kept."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, Mapping):
        return {name: resolve(item, ids) for name, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, ids) for item in value]
    return value


# ---------------------------------------------------------------- helpers


def _check_arguments(
    institutions: int, experts: int, opens_at: datetime, window: timedelta, action_year: int | None
) -> None:
    if institutions < MIN_INSTITUTIONS:
        raise ValueError(
            f"institutions must be at least {MIN_INSTITUTIONS} (a secondary vocational school in every prefecture), "
            f"not {institutions}"
        )
    if experts < 0:
        raise ValueError(f"experts must not be negative, not {experts}")
    if opens_at.utcoffset() is None:
        raise ValueError("opens_at must be timezone-aware (UTC)")
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    if action_year is not None and action_year not in ACTION_YEARS:
        raise ValueError(
            f"action_year must be one of the action's years {ACTION_YEARS.start}-{ACTION_YEARS[-1]}, not {action_year}"
        )
    if not FIRST_YEAR <= opens_at.year <= LAST_YEAR - PLAN_YEARS + 1:
        last = LAST_YEAR - PLAN_YEARS + 1
        raise ValueError(f"opens_at must fall in {FIRST_YEAR}-{last} (yearly targets may run to {LAST_YEAR})")


@functools.cache
def _data(name: str) -> dict:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))


@functools.cache
def _accepted_fields(schema_class: type) -> frozenset[str]:
    fields = schema_class().fields.items()
    return frozenset(field.data_key or name for name, field in fields if not field.dump_only)


def _accepted(schema_class: type, body: dict) -> dict:
    """The body without the fields `schema_class` does not declare (yet)."""
    accepted = _accepted_fields(schema_class)
    return {name: value for name, value in body.items() if name in accepted}


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _apportion(total: int, weights: Mapping[str, float], minimum: int = 0) -> dict[str, int]:
    """`total` split in proportion to `weights` by largest remainder, each key getting at
    least `minimum`; ties go to the earlier key."""
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"{total} cannot give each of {len(weights)} at least {minimum}")
    whole = sum(weights.values())
    exact = {key: rest * weight / whole for key, weight in weights.items()}
    counts = {key: int(share) for key, share in exact.items()}
    for key in sorted(weights, key=lambda k: counts[k] - exact[k])[: rest - sum(counts.values())]:
        counts[key] += 1
    return {key: count + minimum for key, count in counts.items()}


def _weighted_sample(rng: random.Random, weights: Mapping[str, float], count: int) -> tuple[str, ...]:
    """`count` distinct keys, each draw in proportion to the weights of those left."""
    left = dict(weights)
    chosen = []
    for _ in range(min(count, len(left))):
        key = rng.choices(list(left), weights=list(left.values()))[0]
        chosen.append(key)
        del left[key]
    return tuple(chosen)


def _unique(name: str, used: set[str]) -> str:
    """`name`, numbered if it is taken already; recorded as taken."""
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{name}（{number}）"
    used.add(candidate)
    return candidate


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@functools.cache
def _reviewable_categories(employer_kind: str) -> tuple[str, ...]:
    """The categories an expert may review: enterprise experts judge no whole schools."""
    return tuple(c.code for c in catalogue() if employer_kind != "enterprise" or c.level != "school")


def _expert(profile: _Profile, conflict_institution_ids: list[str], conflict_id_numbers: list[str]) -> DemoExpert:
    """An expert as the review service takes it (ExpertIn): the one place that knows that shape."""
    body = {
        "name": profile.person.name,
        "id_number": profile.person.id_number,
        "institution_id": profile.employer.key,
        "institution_name": profile.employer.name,
        "prefecture": profile.employer.prefecture,
        "fields": list(profile.fields),
        "keywords": list(profile.keywords),
        "categories": list(profile.categories),
        "conflict_institution_ids": conflict_institution_ids,
        "conflict_id_numbers": conflict_id_numbers,
        "load_cap": profile.load_cap,
        "available": profile.available,
    }
    contact = {"phone": profile.person.phone, "email": f"{profile.key}@experts.chuyi.example"}
    return DemoExpert(profile.key, _accepted(ExpertIn, body), profile.leniency, contact)


def _organisation_entry(name: str, kind: str, credit_code: str) -> dict:
    """A lead or member organisation of a vocational education group (OrganisationIn)."""
    return {"name": name, "kind": kind, "credit_code": credit_code}


class _Identities:
    """Hands out credit codes, resident ID numbers and mobile numbers, each at most once;
    an organisation named twice keeps its first credit code."""

    def __init__(self):
        self._taken: set[str] = set()
        self._code_by_name: dict[str, str] = {}

    def _fresh(self, draw) -> str:
        while (value := draw()) in self._taken:
            pass
        self._taken.add(value)
        return value

    def credit_code(self, rng: random.Random, prefix: str, division: str) -> str:
        def draw() -> str:
            body = f"{rng.randrange(10**8):08d}"
            first17 = prefix + division + body + organisation_check_digit(body)
            return first17 + check_digit(first17)

        return self._fresh(draw)

    def organisation_code(self, rng: random.Random, name: str, prefix: str, division: str) -> str:
        if name not in self._code_by_name:
            self._code_by_name[name] = self.credit_code(rng, prefix, division)
        return self._code_by_name[name]

    def resident_id(self, rng: random.Random, division: str, born_from: int, born_to: int) -> str:
        first_day = date(born_from, 1, 1).toordinal()
        days = date(born_to, 12, 31).toordinal() - first_day + 1

        def draw() -> str:
            born = date.fromordinal(first_day + rng.randrange(days))
            first17 = f"{division}{born:%Y%m%d}{rng.randrange(1000):03d}"
            return first17 + resident_id_check_digit(first17)

        return self._fresh(draw)

    def mobile(self, rng: random.Random, prefixes: Sequence[str]) -> str:
        return self._fresh(lambda: f"{rng.choice(prefixes)}{rng.randrange(10**8):08d}")


# ---------------------------------------------------------------- the builder


class _Builder:
    """Builds the stages in order (institutions, organisations, expert profiles, calls,
    applications, experts), each from its own random stream; later stages use the earlier ones."""

    def __init__(self, seed: int, year: int, plan_year: int | None = None):
        self.seed, self.year = seed, year
        self.plan_year = year if plan_year is None else plan_year  # the first year of the plans' targets
        self.hunan, self.words, self.terms = _data("hunan"), _data("words"), _data("calls")
        self.prefectures = {p["name"]: p for p in self.hunan["prefectures"]}
        self.divisions = {name: list(p["counties"].values()) for name, p in self.prefectures.items()}
        self.ids = _Identities()
        self.institutions: list[DemoInstitution] = []
        self.organisations: list[DemoOrganisation] = []
        self.profiles: list[_Profile] = []
        self.team_id_numbers: list[str] = []  # team members who are not experts, for declared conflicts

    def rng(self, stage: str) -> random.Random:
        return random.Random(f"{self.seed}/{stage}")

    # ------------------------------------------------------------ institutions

    def make_institutions(self, size: int) -> None:
        rng, used = self.rng("institutions"), set()
        made = []
        for type_, count in _apportion(size, self.hunan["type_mix"]).items():
            shares = {name: p["shares"][type_] for name, p in self.prefectures.items()}
            minimum = 1 if type_ == SECONDARY_VOCATIONAL else 0
            for prefecture, number in _apportion(count, shares, minimum).items():
                made += [self._institution(rng, type_, self.prefectures[prefecture], used) for _ in range(number)]
        self.institutions = [DemoInstitution(f"inst-{i:04d}", *parts) for i, parts in enumerate(made, 1)]

    def _institution(self, rng: random.Random, type_: str, prefecture: dict, used: set[str]) -> tuple:
        name, theme, county, sponsor = self._institution_name(rng, type_, prefecture, used)
        popular = self.words["field_popularity"]
        fields = tuple(theme["fields"]) if theme else _weighted_sample(rng, popular, rng.randint(2, 3))
        private = rng.random() < self.words["private_share"][type_]
        body = {
            "name": name,
            "type": type_,
            "prefecture": prefecture["name"],
            "county": county,
            "sponsor": sponsor,
            "credit_code": self.ids.credit_code(
                rng, CREDIT_PREFIX["private" if private else "public"], prefecture["counties"][county]
            ),
        }
        return _accepted(InstitutionIn, body), fields, rng.betavariate(2, 2)

    def _institution_name(self, rng: random.Random, type_: str, prefecture: dict, used: set[str]) -> tuple:
        patterns = self.words["institution_names"][type_]
        for _ in range(_NAME_ATTEMPTS):
            pattern = rng.choices(patterns, weights=[p["weight"] for p in patterns])[0]
            theme = rng.choice(self.words["themes"][pattern["themes"]]) if "themes" in pattern else None
            fills = {
                "prefecture": prefecture["name"],
                "short": prefecture["short"],
                "county": self._county(rng, prefecture, pattern["where"]),
                "theme": theme["word"] if theme else "",
                "theme_sponsor": (theme or {}).get("sponsor", PROVINCIAL_EDUCATION),
                "ordinal": rng.choice(self.words["ordinals"]),
            }
            name = pattern["pattern"].format_map(fills)
            if name not in used:
                break
        return _unique(name, used), theme, fills["county"], pattern["sponsor"].format_map(fills)

    @staticmethod
    def _county(rng: random.Random, prefecture: dict, where: str) -> str:
        counties = list(prefecture["counties"])
        if where == "county":
            return rng.choice(counties)
        return rng.choice([c for c in counties if c.endswith("区")] or counties[:1])

    # ------------------------------------------------------------ organisations

    def make_organisations(self, generated_enterprises: int) -> None:
        rng = self.rng("organisations")
        known = [(o["name"], o["kind"], o["prefecture"], tuple(o["fields"])) for o in self.hunan["organisations"]]
        used = {name for name, *_ in known}
        generated = [self._enterprise(rng, used) for _ in range(generated_enterprises)]
        self.organisations = [
            DemoOrganisation(
                f"org-{i:04d}",
                name,
                kind,
                prefecture,
                self.ids.organisation_code(rng, name, CREDIT_PREFIX[kind], self.prefectures[prefecture]["code"]),
                fields,
            )
            for i, (name, kind, prefecture, fields) in enumerate(known + generated, 1)
        ]

    def _enterprise(self, rng: random.Random, used: set[str]) -> tuple:
        weights = {name: sum(p["shares"].values()) for name, p in self.prefectures.items()}
        prefecture = rng.choices(list(weights), weights=list(weights.values()))[0]
        field = _weighted_sample(rng, self.words["field_popularity"], 1)[0]
        brand = "".join(rng.sample(self.words["enterprise_brands"], 2))
        name = rng.choice(self.words["enterprise_patterns"]).format(
            short=self.prefectures[prefecture]["short"],
            brand=brand,
            word=rng.choice(self.words["fields"][field]["enterprise_words"]),
        )
        return _unique(name, used), "enterprise", prefecture, (field,)

    def _as_organisation(self, institution: DemoInstitution) -> DemoOrganisation:
        body = institution.body
        return DemoOrganisation(
            institution.key, body["name"], "school", body["prefecture"], body["credit_code"], institution.fields
        )

    @functools.cached_property
    def _enterprises(self) -> list[DemoOrganisation]:
        return [o for o in self.organisations if o.kind == "enterprise"]

    # ------------------------------------------------------------ people and experts

    def _person(self, rng: random.Random, prefecture: str, ages: tuple[int, int]) -> Person:
        people = self.words["people"]
        given = "".join(rng.choices(people["given"], k=rng.choice((1, 2, 2))))
        birthplace = self._birthplace(rng, prefecture)
        id_number = self.ids.resident_id(rng, birthplace, self.year - ages[1], self.year - ages[0])
        phone = self.ids.mobile(rng, people["mobile_prefixes"])
        return Person(rng.choice(people["surnames"]) + given, id_number, phone)

    def _birthplace(self, rng: random.Random, prefecture: str) -> str:
        roll = rng.random()
        if roll < 0.85:
            return rng.choice(self.divisions[prefecture])
        if roll < 0.95:
            return rng.choice(self.divisions[rng.choice(PREFECTURES)])
        return rng.choice(self.hunan["other_birthplaces"])

    def make_profiles(self, count: int) -> None:
        rng = self.rng("experts")
        schools = [self._as_organisation(i) for i in self.institutions]
        employers = {
            "institution": (schools, [TEACHER_WEIGHTS[i.body["type"]] for i in self.institutions]),
            "academic": ([o for o in self.organisations if o.kind != "enterprise"], None),
            "enterprise": (self._enterprises, None),
        }
        self.profiles = [self._profile(rng, f"exp-{i:04d}", employers) for i in range(1, count + 1)]

    def _profile(self, rng: random.Random, key: str, employers: dict) -> _Profile:
        kind = rng.choices(list(EMPLOYER_KINDS), weights=list(EMPLOYER_KINDS.values()))[0]
        pool, weights = employers[kind]
        employer = rng.choices(pool, weights=weights)[0]
        fields = self._expert_fields(rng, employer.fields)
        keywords = _distinct(k for f in fields for k in self.words["fields"][f]["keywords"])
        categories = _reviewable_categories(kind)
        chosen = set(rng.sample(categories, min(len(categories), rng.randint(3, 8))))
        return _Profile(
            key=key,
            person=self._person(rng, employer.prefecture, EXPERT_AGES),
            employer=employer,
            fields=fields,
            keywords=tuple(rng.sample(keywords, min(len(keywords), rng.randint(2, 5)))),
            categories=tuple(c for c in categories if c in chosen),
            load_cap=rng.choice(LOAD_CAPS),
            available=rng.random() < AVAILABLE,
            leniency=_clip(rng.gauss(0, LENIENCY_SPREAD), -MAX_LENIENCY, MAX_LENIENCY),
        )

    def _expert_fields(self, rng: random.Random, employer_fields: tuple[str, ...]) -> tuple[str, ...]:
        fields = rng.sample(employer_fields, min(len(employer_fields), rng.randint(1, 2)))
        if rng.random() < 0.3:
            others = {f: w for f, w in self.words["field_popularity"].items() if f not in fields}
            fields += _weighted_sample(rng, others, 1)
        return tuple(fields)

    def experts(self) -> list[DemoExpert]:
        rng = self.rng("conflicts")
        neighbours = defaultdict(list)
        for institution in self.institutions:
            neighbours[institution.body["prefecture"]].append(institution.key)
        return [_expert(p, *self._declared_conflicts(rng, p, neighbours)) for p in self.profiles]

    def _declared_conflicts(self, rng: random.Random, profile: _Profile, neighbours: Mapping) -> tuple[list, list]:
        institutions, people = [], []
        nearby = [k for k in neighbours[profile.employer.prefecture] if k != profile.employer.key]
        if nearby and rng.random() < DECLARES_INSTITUTIONS:
            institutions = rng.sample(nearby, min(len(nearby), rng.randint(1, 2)))
        if self.team_id_numbers and rng.random() < DECLARES_PEOPLE:
            people = rng.sample(self.team_id_numbers, min(len(self.team_id_numbers), rng.randint(1, 2)))
        return institutions, people

    @functools.cached_property
    def _experts_by_employer(self) -> dict[str, list[_Profile]]:
        by_employer = defaultdict(list)
        for profile in self.profiles:
            by_employer[profile.employer.key].append(profile)
        return by_employer

    # ------------------------------------------------------------ calls

    def calls(self, opens_at: datetime, window: timedelta) -> list[DemoCall]:
        return [
            DemoCall(
                f"call-{self.plan_year}-{code}",
                _accepted(CallIn, self._call_body(catalogue()[code], terms, opens_at, window)),
            )
            for code, terms in self.terms["calls"].items()
        ]

    def _call_body(self, category: Category, terms: dict, opens_at: datetime, window: timedelta) -> dict:
        low, high = terms["budget_yuan"]
        return {
            "category": category.code,
            "title": f"{self.plan_year}年{category.name_zh}遴选",
            "year": self.plan_year,
            "opens_at": rfc3339(opens_at),
            "closes_at": rfc3339(opens_at + window),
            "quota": terms["quota"],
            "prefecture_cap": terms["prefecture_cap"],
            "per_institution_limit": terms.get("per_institution_limit", 1),
            "budget_min_fen": low * FEN_PER_YUAN,
            "budget_max_fen": high * FEN_PER_YUAN,
            "review_plan": {
                "reviewers_per_application": terms["reviewers"],
                "rubric": [
                    dict(zip(_CRITERION_KEYS, row, strict=True)) for row in self.terms["rubrics"][category.level]
                ],
                "conflict_same_prefecture": True,
                "conflict_own_institution_applied": True,
            },
            "funding_rule": f"rule-{category.code}-{catalogue().quota_year}",
        }

    # ------------------------------------------------------------ applications

    def applications(self, call: DemoCall) -> list[DemoApplication]:
        category = catalogue()[call.body["category"]]
        terms = self.terms["calls"][category.code]
        rng = self.rng(f"applications/{self.plan_year}/{category.code}")
        made = []
        for institution, count in self._applicants(rng, category, terms, call.body):
            for specialty, field in self._specialties(rng, institution.fields, count):
                key = f"app-{self.plan_year}-{category.code}-{len(made) + 1:04d}"
                made.append(self._application(rng, call, category, terms, institution, specialty, field, key))
        return made

    def _applicants(self, rng: random.Random, category: Category, terms: dict, call: dict) -> list[tuple]:
        """Who applies, with how many applications, within each authority's cap (but for
        one-per-prefecture calls, where each prefecture's bureau picks among its candidates)."""
        eligible = [i for i in self.institutions if category.accepts(i.body["type"])]
        if "candidates" in terms:
            return self._candidates(rng, terms["candidates"], eligible)
        limit, cap = application_limit(category, call["per_institution_limit"]), call["prefecture_cap"]
        recommended, chosen = Counter(), []
        for institution in rng.sample(eligible, len(eligible)):
            chance = terms["participation"].get(institution.body["type"], 0) * (0.5 + institution.strength)
            if rng.random() >= chance:
                continue
            authority = Institution.from_record(institution.body).recommender.key
            count = min(rng.randint(1, limit), cap - recommended[authority])
            if count > 0:
                recommended[authority] += count
                chosen.append((institution, count))
        return sorted(chosen, key=lambda pair: pair[0].key)

    @staticmethod
    def _candidates(rng: random.Random, bounds: list[int], eligible: list[DemoInstitution]) -> list[tuple]:
        """Each prefecture's strongest few schools."""
        chosen = []
        for prefecture in PREFECTURES:
            schools = sorted((i for i in eligible if i.body["prefecture"] == prefecture), key=lambda i: -i.strength)
            chosen += [(school, 1) for school in schools[: rng.randint(*bounds)]]
        return chosen

    def _specialties(self, rng: random.Random, fields: tuple[str, ...], count: int) -> list[tuple[str, str]]:
        """`count` (specialty, its field) pairs of the institution, distinct while they last."""
        offered = [(s, f) for f in fields for s in self.words["fields"][f]["specialties"]]
        chosen = rng.sample(offered, min(count, len(offered)))
        return chosen + rng.choices(offered, k=count - len(chosen))

    def _application(
        self,
        rng,
        call: DemoCall,
        category: Category,
        terms: dict,
        institution: DemoInstitution,
        specialty: str,
        focus: str,
        key: str,
    ) -> DemoApplication:
        others = [f for f in institution.fields if f != focus]
        fields = (focus, *rng.sample(others, rng.randint(0, min(2, len(others)))))
        keywords = self._keywords(rng, fields)
        partner = self._partner(rng, institution.body["prefecture"])
        team = self._team(rng, category, institution, partner) if "team_members" in category.required_fields else []
        fills = self._fills(rng, category, institution, fields, keywords, specialty, partner, team)
        body = {
            "call_id": call.key,
            "title": terms["title"].format_map(fills),
            "summary": rng.choice(self.words["summary"]).format_map(fills),
            "construction_plan": self._plan(rng, fills),
            "yearly_targets": self._yearly_targets(rng, fills),
            "budget_request_fen": self._budget(rng, call.body),
            "industry_fields": list(fields),
            "keywords": keywords,
            "performance_indicators": self._indicators(rng),
            **self._category_parts(rng, category, institution, fields, partner, team),
        }
        quality = _clip(0.5 + 0.4 * institution.strength + rng.gauss(0, 0.07), *QUALITY_RANGE)
        return DemoApplication(institution.key, _accepted(ApplicationIn, body), key, quality)

    def _keywords(self, rng: random.Random, fields: tuple[str, ...]) -> list[str]:
        """Two keywords of the focus field first, then some of the other fields'."""
        vocabulary = self.words["fields"]
        first = rng.sample(vocabulary[fields[0]]["keywords"], 2)
        rest = [k for k in _distinct(k for f in fields for k in vocabulary[f]["keywords"]) if k not in first]
        return first + rng.sample(rest, min(len(rest), rng.randint(1, 4)))

    def _partner(self, rng: random.Random, prefecture: str) -> DemoOrganisation:
        local = [e for e in self._enterprises if e.prefecture == prefecture]
        return rng.choice(local if local and rng.random() < 0.7 else self._enterprises)

    def _team(
        self, rng: random.Random, category: Category, institution: DemoInstitution, partner: DemoOrganisation
    ) -> list[dict]:
        spec = self.terms["teams"][category.code]
        size = rng.randint(*spec["size"])
        outsiders = min(rng.randint(*spec["enterprise"]), size - 1)
        titles = self.words["people"]["titles"]
        school_titles = titles["college" if institution.body["type"] in _COLLEGE_TYPES else "school"]
        roles = [spec["lead"]] + [spec["member"]] * (size - outsiders - 1)
        staff = self._people_of(rng, institution.key, institution.body["prefecture"], len(roles))
        mentors = self._people_of(rng, partner.key, partner.prefecture, outsiders)
        seats = [(p, rng.choice(school_titles)) for p in staff] + [
            (p, rng.choice(titles["enterprise"])) for p in mentors
        ]
        roles += [spec["enterprise_role"]] * outsiders
        return [
            {"name": person.name, "title": title, "role": role, "id_number": person.id_number, "phone": person.phone}
            for (person, title), role in zip(seats, roles, strict=True)
        ]

    def _people_of(self, rng: random.Random, employer: str, prefecture: str, count: int) -> list[Person]:
        """`count` people working at `employer`: now and then one of its experts."""
        experts = [p.person for p in self._experts_by_employer.get(employer, ())]
        people = []
        for _ in range(count):
            free = [e for e in experts if e not in people]
            if free and rng.random() < EXPERT_IN_TEAM:
                people.append(rng.choice(free))
            else:
                people.append(self._person(rng, prefecture, MEMBER_AGES))
                self.team_id_numbers.append(people[-1].id_number)
        return people

    def _fills(self, rng, category, institution, fields, keywords, specialty, partner, team) -> dict:
        """What the text templates may name."""
        body = institution.body
        return {
            "institution": body["name"],
            "prefecture": body["prefecture"],
            "short": self.prefectures[body["prefecture"]]["short"],
            "county": body["county"],
            "sponsor": body["sponsor"],
            "type_name": self.words["type_names"][body["type"]],
            "category": category.name_zh,
            "subject": self.words["subjects"][category.level],
            "field": INDUSTRY_FIELDS[fields[0]][0],
            "specialty": specialty,
            "keywords": "、".join(keywords),
            "kw1": keywords[0],
            "kw2": keywords[1],
            "partner": partner.name,
            "lead": team[0]["name"] if team else body["name"],
            **{f"y{n}": self.plan_year + n - 1 for n in range(1, PLAN_YEARS + 1)},
            **{name: rng.randint(low, high) for name, (low, high) in self.words["figures"].items()},
        }

    def _plan(self, rng: random.Random, fills: dict) -> str:
        lines = []
        for section in self.words["plan"]:
            sentences = [s.format_map(fills) for s in rng.sample(section["sentences"], section["pick"])]
            if section.get("numbered"):
                lines += [section["heading"], *(f"{n}. {s}" for n, s in enumerate(sentences, 1))]
            else:
                lines += [section["heading"], "".join(sentences)]
        return "\n".join(lines)

    def _yearly_targets(self, rng: random.Random, fills: dict) -> list[dict]:
        return [
            {"year": self.plan_year + offset, "target": rng.choice(pool).format_map(fills)}
            for offset, pool in enumerate(self.words["yearly_targets"])
        ]

    def _budget(self, rng: random.Random, call: dict) -> int:
        step = self.terms["budget_step_yuan"] * FEN_PER_YUAN
        return rng.randint(-(-call["budget_min_fen"] // step), call["budget_max_fen"] // step) * step

    def _indicators(self, rng: random.Random) -> dict[str, str]:
        chosen = rng.sample(list(self.words["indicators"].items()), rng.randint(4, 6))
        return {name: str(rng.randint(low, high)) for name, (low, high) in chosen}

    def _category_parts(self, rng, category, institution, fields, partner, team) -> dict:
        """The fields only some categories use (the catalogue's required_fields)."""
        body = institution.body
        parts = {
            "team_members": team,
            "enterprise_partner": {"name": partner.name, "credit_code": partner.credit_code},
            "lead_organisation": _organisation_entry(body["name"], "school", body["credit_code"]),
        }
        if "member_organisations" in category.required_fields:
            parts["member_organisations"] = self._group_members(rng, institution, fields)
        return {name: parts[name] for name in category.required_fields}

    def _group_members(self, rng: random.Random, institution: DemoInstitution, fields: tuple[str, ...]) -> list[dict]:
        """A vocational education group's members, a few of each kind."""
        candidates = self._group_candidates(rng, institution, fields)
        members = []
        for kind, (low, high) in self.terms["group_members"].items():
            pool = candidates[kind]
            members += [_organisation_entry(*o) for o in rng.sample(pool, min(len(pool), rng.randint(low, high)))]
        return members

    def _group_candidates(self, rng: random.Random, institution: DemoInstitution, fields: tuple[str, ...]) -> dict:
        body = institution.body
        prefecture = self.prefectures[body["prefecture"]]
        governments = [
            (f"{prefecture['name']}{office}", prefecture["code"])
            for office in ("人民政府", "教育局", "人力资源和社会保障局", "工业和信息化局")
        ] + [(f"{body['county']}人民政府", prefecture["counties"][body["county"]])]
        associations = _distinct(self.words["fields"][f]["association"] for f in fields)
        partners = [e for e in self._enterprises if set(e.fields) & set(fields) or e.prefecture == body["prefecture"]]
        neighbours = [
            i for i in self.institutions if i.body["prefecture"] == body["prefecture"] and i.key != institution.key
        ]
        schools = [self._as_organisation(i) for i in neighbours] + [o for o in self.organisations if o.kind == "school"]

        def entries(named: list[tuple[str, str]], kind: str) -> list[tuple]:
            prefix = CREDIT_PREFIX[kind]
            return [(name, kind, self.ids.organisation_code(rng, name, prefix, division)) for name, division in named]

        def of(organisations: Iterable[DemoOrganisation]) -> list[tuple]:
            return [(o.name, o.kind, o.credit_code) for o in organisations]

        return {
            "government": entries(governments, "government"),
            "industry": entries([(a, PROVINCE_DIVISION) for a in associations], "industry"),
            "enterprise": of(partners),
            "school": of(schools),
            "research_institute": of(o for o in self.organisations if o.kind == "research_institute"),
        }
