from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from services.gateway.app import create_app
from services.gateway.rpc import ServiceTimeout
from tests.unit.gateway.fake_rpc import gateway_settings

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_healthz_needs_no_dependency(client, rpc):
    rpc.broker_down = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert rpc.calls == []


def test_readyz_is_200_when_the_broker_and_every_service_answer(client, rpc, settings):
    response = client.get("/readyz", headers={"X-Request-Id": "probe-1"})
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert set(response.json["checks"]) == {"broker", *settings.ready_services}
    pings = [call for call in rpc.calls if call.method == "ping"]
    assert sorted(call.service for call in pings) == sorted(settings.ready_services)
    assert {call.timeout for call in pings} == {settings.ready_timeout_s}
    assert {call.correlation_id for call in pings} == {"probe-1"}


def test_readyz_is_503_naming_the_service_that_did_not_answer(client, rpc):
    def slow(**kwargs):
        raise ServiceTimeout("funding", "ping did not answer within 1 s")

    rpc.on("funding", "ping", slow)
    rpc.on("notify", "ping", lambda **kwargs: {"service": "notify", "ok": False})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    checks = response.json["checks"]
    assert checks["applications"] == {"ok": True}
    assert checks["funding"]["ok"] is False and "ServiceTimeout" in checks["funding"]["detail"]
    assert checks["notify"]["ok"] is False


def test_readyz_names_the_dependency_a_service_is_missing(client, rpc):
    rpc.on("review", "ping", lambda **kwargs: {"service": "review", "ok": False, "missing": "mongodb", "detail": "x"})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["review"] == {"ok": False, "detail": "mongodb is not available to review"}


def test_readyz_is_503_when_the_broker_is_down(client, rpc):
    rpc.broker_down = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["broker"]["ok"] is False
    assert not [call for call in rpc.calls if call.method == "ping"]


def test_the_services_readyz_checks_are_configurable(rpc):
    client = create_app(gateway_settings(ready_services=("applications",)), rpc).test_client()
    assert set(client.get("/readyz").json["checks"]) == {"broker", "applications"}


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


METRICS_LISTENER = "http://127.0.0.1:9100"  # Settings.metrics_bind's default


def test_metrics_are_served_on_their_own_listener_only(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", base_url=METRICS_LISTENER).status_code == 200
    assert client.get("/v1/programmes", base_url=METRICS_LISTENER).status_code == 404
    assert "/metrics" not in client.get("/openapi.json").json["paths"]


def test_metrics_count_requests_by_route_template_and_status(client, as_province):
    for path in ("/v1/institutions/a", "/v1/institutions/b", "/v1/institutions/c"):
        client.get(path, headers=as_province)
    client.get("/no/such/path")
    text = client.get("/metrics", base_url=METRICS_LISTENER).get_data(as_text=True)
    route = "/v1/institutions/<institution_id>"
    assert sample(text, "chuyi_gateway_requests_total", method="GET", route=route, status="404") == 3
    assert sample(text, "chuyi_gateway_requests_total", route="<unmatched>", status="404") == 1
    assert sample(text, "chuyi_gateway_request_seconds_count", method="GET", route=route) == 3
    assert 'route="/v1/institutions/a"' not in text


def test_docs_is_a_self_contained_page_listing_every_operation(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']https?://""", html)
    spec = client.get("/openapi.json").json
    for path, operations in spec["paths"].items():
        assert path in html
        for op in operations.values():
            assert f'id="{op["operationId"]}"' in html
    for schema in spec["components"]["schemas"]:
        assert f'id="schema-{schema}"' in html
    assert "楚怡" in html


def test_public_routes_need_no_token_and_the_rest_do(client):
    spec = client.get("/openapi.json").json
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if "{" in path:
                continue
            response = client.open(path, method=method.upper())
            assert (response.status_code == 401) == bool(op["security"]), (method, path)


def test_with_a_multiprocess_directory_metrics_sum_every_worker_process(tmp_path):
    # prometheus_client picks its mode at import, so the workers are forked in a fresh interpreter.
    script = (
        "import os\n"
        "from tests.unit.gateway.fake_rpc import create_fake_app\n"
        "for n in (2, 3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        client = create_fake_app().test_client()\n"
        "        for _ in range(n):\n"
        "            client.get('/healthz')\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "print(create_fake_app().test_client().get('/metrics', base_url='http://127.0.0.1:9100').get_data(as_text=True))\n"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    assert sample(done.stdout, "chuyi_gateway_requests_total", route="/healthz", status="200") == 5
