"""The reference finance consumer receives every funding event exactly once in effect
across a broker restart: the funding service and the consumer run against a RabbitMQ
node of the test's own, which is stopped and started again (same data) between two
batches of milestones; the consumer's reconciliation ends equal to the funding
service's own figures, with every published event applied once."""

import sqlite3
import uuid

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from examples.finance_consumer.consumer import FinanceConsumer
from services.common.messaging import Publisher, declare_service_exchange
from tests.service.funding.private_rabbit import PrivateRabbit, rabbit_installed
from tests.service.funding.support import approved_projects, mid_year, publish_selection, selection_finalized
from tests.support.servers import ServiceProcess, wait_until

pytestmark = [
    pytest.mark.service,
    pytest.mark.skipif(not rabbit_installed(), reason="needs an installed rabbitmq-server"),
]

PROVINCE = {"sub": "admin", "role": "province", "institution_id": None, "prefecture": None, "expert_id": None}
YEAR, CATEGORY = 2027, "tech-specialty"
COLUMNS = {
    "allocated": "award",
    "released": "released",
    "withheld": "withheld",
    "clawed_back": "clawed_back",
    "scheduled": "scheduled",
    "kept": "kept",
}


@pytest.fixture
def rabbit(tmp_path):
    node = PrivateRabbit(tmp_path / "rabbit")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def platform(rabbit, mongo_uri, tmp_path):
    """The funding service on the private node, with its exchange declared as the
    platform declares it (so the finance queue can be bound before the first event)."""
    publisher = Publisher(rabbit.amqp_uri)
    declare_service_exchange(publisher, "funding")
    publisher.close()
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    service = ServiceProcess(
        "funding",
        {
            "MONGO_URI": mongo_uri,
            "AMQP_URI": rabbit.amqp_uri,
            "MONGO_DB_PREFIX": prefix,
            "RELAY_POLL_S": "0.2",
            "EVENT_RETRY_DELAYS_MS": "200,1000",
        },
        tmp_path,
    ).wait_started()
    client = MongoClient(mongo_uri)
    yield client[f"{prefix}funding"]
    service.stop()
    client.close()


def reply(amqp_uri: str, method: str, **kwargs) -> dict:
    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as rpc:
        return getattr(rpc.funding, method)(actor=PROVINCE, **kwargs)


def call(amqp_uri: str, method: str, **kwargs) -> dict:
    answer = reply(amqp_uri, method, **kwargs)
    assert answer["status"] in (200, 201), answer
    return answer["body"]


def allocated(amqp_uri: str, call_id: str) -> bool:
    answer = reply(amqp_uri, "get_allocation", call_id=call_id)
    return answer["status"] == 200 and answer["body"]["status"] == "allocated"


def answers(amqp_uri: str) -> bool:
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=5) as rpc:
            return rpc.funding.ping()["ok"]
    except Exception:
        return False


def figures(amqp_uri: str, project_ids) -> dict:
    """The funding service's own view, in the consumer's terms."""
    view = {}
    for project_id in project_ids:
        body = call(amqp_uri, "get_project_funding", project_id=project_id)
        view[project_id] = {
            source: {column: body[key]["by_source"][source] for column, key in COLUMNS.items()}
            for source in body["award"]["by_source"]
        }
    return view


def applied_ids(db_path) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [row[0] for row in db.execute("SELECT id FROM processed WHERE status = 'applied'")]


def test_the_finance_consumer_applies_every_event_once_across_a_broker_restart(rabbit, platform, tmp_path):
    uri = rabbit.amqp_uri
    consumer = FinanceConsumer(uri, tmp_path / "finance.sqlite3", queue="finance.restart-test")
    consumer.start(timeout=30)
    try:
        rule = call(
            uri,
            "create_funding_rule",
            rule={
                "award": {"method": "share", "percent": 90},
                "clawback": "beyond_approval",
                "sources": {"provincial_special": 3, "local_special_bond": 1, "local_government": 2, "social": 1},
                "tranches": [
                    {"trigger": "approval", "percent": 40},
                    {"trigger": "mid_term", "percent": 35},
                    {"trigger": "acceptance", "percent": 25},
                ],
            },
        )["id"]
        for source in ("provincial_special", "local_special_bond", "local_government", "social"):
            call(uri, "create_budget", budget={"year": YEAR, "category": CATEGORY, "source": source, "amount": 10**10})
        approved = approved_projects([3_000_007, 2_500_003, 2_000_011, 1_000_001, 999_999])
        projects = [p["application_id"] for p in approved]
        publish_selection(uri, selection_finalized("call-restart", CATEGORY, rule, approved), mid_year(YEAR))
        wait_until(lambda: allocated(uri, "call-restart"), timeout=30, what="the call to be allocated on its selection")
        for project_id, result in zip(projects, ["pass", "rectify", "fail", "pass", "pass"]):
            call(
                uri,
                "record_milestone",
                project_id=project_id,
                milestone={"milestone": "mid_term", "result": result, "reason": "中期检查结论"},
            )

        rabbit.stop()  # events still in the outbox, in the queue, or delivered and not yet acknowledged
        rabbit.start()
        wait_until(lambda: answers(uri), timeout=60, what="the funding service to answer again")

        for project_id, milestone, result in [
            (projects[1], "mid_term", "pass"),
            (projects[0], "acceptance", "pass"),
            (projects[3], "acceptance", "fail"),
            (projects[1], "acceptance", "pass"),
        ]:
            call(
                uri,
                "record_milestone",
                project_id=project_id,
                milestone={"milestone": milestone, "result": result, "reason": "验收结论"},
            )

        published = {doc["_id"] for doc in platform.outbox.find({}, {"_id": 1})}
        wait_until(
            lambda: set(applied_ids(tmp_path / "finance.sqlite3")) == published,
            timeout=60,
            what="the consumer to apply every published event",
        )
        applied = applied_ids(tmp_path / "finance.sqlite3")
        assert len(applied) == len(published)
        assert consumer.reconciliation() == figures(uri, projects)
        assert consumer.gaps() == {} and consumer.rejected() == [] and consumer.discrepancies() == []
    finally:
        consumer.stop(timeout=30)
