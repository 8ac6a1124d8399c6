"""The pinned runtime works together: rpc, events, timer, http entrypoint, the
standalone rpc proxy (from a process that is not eventlet-patched, as the gateway is),
and pymongo inside an eventlet-patched service."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo import MongoClient

from tests.support.servers import ServiceProcess, free_port, wait_until

pytestmark = pytest.mark.service


def test_nameko_eventlet_kombu_pymongo_and_werkzeug_work_together(mongo_uri, amqp_uri, tmp_path):
    prefix, port = f"t{uuid.uuid4().hex[:8]}_", free_port()
    service = ServiceProcess(
        "tests.service.runtime_probe:ProbeService",
        {
            "MONGO_URI": mongo_uri,
            "AMQP_URI": amqp_uri,
            "MONGO_DB_PREFIX": prefix,
            "NAMEKO_WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        },
        tmp_path,
    ).wait_started()
    db = MongoClient(mongo_uri)[f"{prefix}probe"]
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=120) as cluster:  # generous: CI machines are shared
            assert cluster.probe.echo({"名称": "楚怡"}) == {"名称": "楚怡"}
            cluster.probe.shout("你好")
            wait_until(lambda: db.heard.find_one({"text": "你好"}), what="the event handled")
            assert cluster.probe.mongo_burst(20, 10) == 200

        def call(i):  # one proxy per thread, as the gateway's pool lends them
            with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=30) as cluster:
                return cluster.probe.echo(i)

        with ThreadPoolExecutor(8) as pool:
            assert sorted(pool.map(call, range(32))) == list(range(32))

        wait_until(lambda: (db.ticks.find_one({"_id": "ticks"}) or {}).get("count", 0) >= 3, what="the timer ticking")
        answer = requests.get(f"http://127.0.0.1:{port}/probe/湘", timeout=10).json()
        assert answer["value"] == "湘" and answer["ticks"] >= 3
    finally:
        assert service.stop() == 0, service.log()
