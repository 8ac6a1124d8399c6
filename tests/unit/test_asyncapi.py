"""docs/asyncapi.yaml, the contract of `funding.events` and of the project events on
`applications.events`: the official AsyncAPI parser accepts it, the events the funding
and applications domains make (in the platform's envelope) and the document's own
examples validate against its JSON Schemas, and the marshmallow schemas of the services'
events name the same fields."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from marshmallow import fields

from examples.finance_consumer.reconcile import EventContract
from examples.finance_consumer.samples import START, sample_events
from services.applications.domain.projects import established_event, place_of, project_record, replaced_event
from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.common.envelope import new_event
from services.contracts.funding_events import EVENTS as FUNDING_EVENTS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
TOOL = ROOT / "tools" / "asyncapi"
#: Every event of a project the applications service publishes is documented for finance systems.
PROJECT_EVENTS = {name: schema for name, schema in APPLICATION_EVENTS.items() if name.startswith("project_")}
EVENT_DATA_SCHEMAS = {**FUNDING_EVENTS, **PROJECT_EVENTS}
EXCHANGES = {**dict.fromkeys(FUNDING_EVENTS, "funding"), **dict.fromkeys(PROJECT_EVENTS, "applications")}
NAMES = sorted(EVENT_DATA_SCHEMAS)


@pytest.fixture(scope="module")
def document():
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def contract():
    return EventContract(DOCUMENT)


CALL = {"_id": "call-2025-hv-group", "year": 2025}


def _project(application_id: str, rank: int, succeeds: str | None = None) -> dict:
    application = {
        "_id": application_id,
        "call_id": CALL["_id"],
        "category": "hv-group",
        "institution_id": "inst-0042",
        "institution_name": "株洲职业技术学院",
        "prefecture": "株洲市",
        "recommender": None,
        "recommender_key": None,
        "title": "轨道交通装备制造专业群",
        "summary": "概述",
        "construction_plan": "方案",
        "yearly_targets": [{"year": 2026, "target": "建成实训基地一期"}],
        "performance_indicators": [],
        "budget_request_fen": 600_000_000,
        "industry_fields": ["46"],
    }
    return project_record(application, CALL, rank, "service:review", START, succeeds=succeeds)


def project_envelopes() -> list[dict]:
    """`project_established` as the applications domain makes it for a new project, and
    `project_replaced` when a failed project's place goes to the call's reserve list."""
    project = _project("app-0001", 1)
    successor = _project("app-0011", 11, succeeds=project["_id"])
    return [
        new_event(
            "applications",
            "project_established",
            project["_id"],
            established_event(project),
            sequence=7,
            correlation_id="c-1",
            time=START,
        ).to_dict(),
        new_event(
            "applications",
            "project_replaced",
            place_of(project["_id"]),
            replaced_event({**project, "state": "failed"}, successor, 1, "province:office-1"),
            sequence=1,
            correlation_id="c-2",
            time=START,
        ).to_dict(),
    ]


@pytest.fixture(scope="module")
def envelopes():
    return sample_events() + project_envelopes()


def name_of(envelope) -> str:
    return envelope["type"].split(".")[-2]


@pytest.fixture(scope="module")
def parser_verdicts(document, tmp_path_factory):
    """{"ours"|"broken": (summary, printed diagnostics)}, from one run of the parser;
    "broken" is our document with an exchange type AMQP does not have."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the AsyncAPI parser (tools/asyncapi) needs node 20+")
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run `npm ci --prefix tools/asyncapi`")
    broken = copy.deepcopy(document)
    broken["components"]["channelBindings"]["applicationsEvents"]["amqp"]["exchange"]["type"] = "topc"
    broken_path = tmp_path_factory.mktemp("asyncapi") / "broken.yaml"
    broken_path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
    run = subprocess.run(
        [node, "validate.mjs", str(DOCUMENT), str(broken_path), "--strict"],
        cwd=TOOL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    summaries = {json.loads(line)["file"]: json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")}
    output = run.stdout + run.stderr
    return {"ours": (summaries[str(DOCUMENT)], output), "broken": (summaries[str(broken_path)], output)}


def test_the_official_parser_accepts_the_document_without_warnings(parser_verdicts):
    summary, output = parser_verdicts["ours"]
    assert summary["valid"] and summary["errors"] == summary["warnings"] == 0, output
    assert summary["version"] == "3.0.0"
    assert summary["messages"] == NAMES


def test_the_parser_refuses_a_broken_document(parser_verdicts):
    summary, output = parser_verdicts["broken"]
    assert not summary["valid"] and summary["errors"] > 0, output


def test_the_document_describes_each_exchange_and_its_cloudevents(document):
    for service in ("funding", "applications"):
        binding = document["components"]["channelBindings"][f"{service}Events"]["amqp"]
        assert binding["exchange"] == {
            "name": f"{service}.events",
            "type": "topic",
            "durable": True,
            "autoDelete": False,
        }
    assert document["components"]["operationBindings"]["persistent"]["amqp"]["deliveryMode"] == 2
    assert {c["address"] for c in document["channels"].values()} == set(NAMES)
    for channel in document["channels"].values():
        exchange = EXCHANGES[channel["address"]]
        assert channel["bindings"]["$ref"].endswith(f"/{exchange}Events")
        (message,) = channel["messages"].values()
        narrowed = _deref(document, message)["payload"]["allOf"][1]["properties"]
        assert narrowed["type"]["const"] == f"cn.chuyi.{exchange}.{channel['address']}.v1"
    assert "alternate-exchange" in document["info"]["description"]


def test_every_project_event_is_documented():
    assert sorted(PROJECT_EVENTS) == ["project_established", "project_replaced"]


def test_every_event_the_domain_makes_is_valid_against_the_document(contract, envelopes):
    assert sorted({name_of(e) for e in envelopes}) == NAMES
    for envelope in envelopes:
        assert envelope["source"] == f"/chuyi/{EXCHANGES[name_of(envelope)]}"
        assert contract.payload_errors(name_of(envelope), envelope) == [], envelope
        EVENT_DATA_SCHEMAS[name_of(envelope)].load(envelope["data"])


def test_the_documents_examples_are_valid(contract, document):
    for name, message in document["components"]["messages"].items():
        assert message["examples"], name
        for example in message["examples"]:
            assert contract.payload_errors(name, example["payload"]) == [], example["name"]
            EVENT_DATA_SCHEMAS[name].load(example["payload"]["data"])


def _first(envelopes, name):
    return copy.deepcopy(next(e for e in envelopes if name_of(e) == name))


@pytest.mark.parametrize(
    "break_it, path",
    [
        (lambda e: e["data"]["award"].update(total=1.5), "data/award/total"),
        (lambda e: e["data"]["award"]["by_source"].update(municipal=1), "data/award/by_source"),
        (lambda e: e["data"]["award"].update(currency="USD"), "data/award/currency"),
        (lambda e: e["data"].pop("tranches"), "data"),
        (lambda e: e["data"].update(category="hv"), "data/category"),
        (lambda e: e.update(type="cn.chuyi.funding.tranche_released.v1"), "type"),
        (lambda e: e.update(sequence="1"), "sequence"),
        (lambda e: e.update(specversion="0.3"), "specversion"),
        (lambda e: e.pop("correlationid"), "(event)"),
        (lambda e: e.update(time="2026-03-01 08:00:00"), "time"),
    ],
)
def test_the_schemas_refuse_a_broken_event(contract, envelopes, break_it, path):
    envelope = _first(envelopes, "funds_allocated")
    break_it(envelope)
    errors = contract.payload_errors("funds_allocated", envelope)
    assert any(error.startswith(f"{path}:") for error in errors), errors


def _marshmallow_shape(schema) -> dict:
    shape = {}
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        nested = _marshmallow_shape(inner.schema) if isinstance(inner, fields.Nested) else None
        shape[field.data_key or name] = (field.required, nested)
    return shape


def _json_shape(document, schema) -> dict | None:
    schema = _deref(document, schema)
    if schema.get("type") == "array":
        return _json_shape(document, schema["items"])
    if "properties" not in schema:
        return None
    required = set(schema.get("required", []))
    return {name: (name in required, _json_shape(document, prop)) for name, prop in schema["properties"].items()}


def _deref(document, schema) -> dict:
    while "$ref" in schema:
        target = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


@pytest.mark.parametrize("name", NAMES)
def test_marshmallow_and_json_schema_name_the_same_fields(document, name):
    data = document["components"]["messages"][name]["payload"]["allOf"][1]["properties"]["data"]
    assert _marshmallow_shape(EVENT_DATA_SCHEMAS[name]) == _json_shape(document, data)


def test_a_cloudevents_sdk_reads_the_envelope(envelopes):
    from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_rabbitmq
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    envelope = _first(envelopes, "tranche_released")
    message = RabbitMQMessage(
        headers={},
        content_type="application/cloudevents+json",
        body=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
    )
    event = from_rabbitmq(message, JSONFormat(), CloudEvent)
    assert event.get_type() == "cn.chuyi.funding.tranche_released.v1"
    assert event.get_subject() == envelope["data"]["project_id"]
    assert event.get_extension("sequence") == envelope["sequence"]
    assert event.get_extension("correlationid") == envelope["correlationid"]
    assert event.get_data() == envelope["data"]
