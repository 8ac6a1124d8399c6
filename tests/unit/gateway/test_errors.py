from __future__ import annotations

import io
import json

import pytest

from services.gateway.app import create_app
from services.gateway.rpc import ServiceBusy, ServiceFailed, ServiceTimeout, ServiceUnavailable
from tests.unit.gateway.fake_rpc import gateway_settings
from tests.unit.gateway.helpers import bearer, institution_body

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    document = response.json
    assert PROBLEM_KEYS <= set(document)
    assert document["status"] == status
    assert document["request_id"] == response.headers["X-Request-Id"]
    assert document["instance"] == response.request.path
    return document


def post_json(client, headers, body, path="/v1/institutions", **kwargs):
    return client.post(
        path,
        data=body if isinstance(body, (bytes, str)) else json.dumps(body),
        headers={"Content-Type": "application/json", **headers, **kwargs.pop("extra", {})},
        **kwargs,
    )


@pytest.mark.parametrize("raw", [b'{"name": ', b"[1, 2", b"", b'{"a": NaN}', '{"name": "\xff"}'.encode("latin-1")])
def test_malformed_json_is_a_400(client, as_province, raw):
    document = assert_problem(post_json(client, as_province, raw), 400)
    assert document["type"] == "urn:chuyi:problem:malformed-request"


def test_an_unknown_route_is_a_404_problem(client):
    assert_problem(client.get("/v1/nothing-here"), 404)


def test_a_wrong_method_is_a_405_with_allow(client, as_province):
    response = client.delete("/v1/institutions:import", headers=as_province)
    assert_problem(response, 405)
    assert response.headers["Allow"] == "POST"
    assert set(client.put("/v1/programmes").headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_a_body_over_the_limit_is_a_413(client, as_province, settings):
    padding = "x" * settings.max_body_bytes
    document = assert_problem(post_json(client, as_province, institution_body(sponsor=padding)), 413)
    assert str(settings.max_body_bytes) in document["detail"]


def test_a_chunked_body_over_the_limit_is_a_413(rpc, as_province):
    client = create_app(gateway_settings(max_body_bytes=64), rpc).test_client()
    # No usable length up front: the limit must hold while reading, as for a chunked body from gunicorn.
    response = client.post(
        "/v1/institutions",
        input_stream=io.BytesIO(json.dumps(institution_body()).encode()),
        headers={**as_province, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.request.content_length is None
    assert_problem(response, 413)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=gbk"]
)
def test_a_non_json_body_is_a_415(client, as_province, content_type):
    headers = {**as_province, **({"Content-Type": content_type} if content_type else {})}
    response = client.post("/v1/institutions", data=json.dumps(institution_body()), headers=headers)
    assert_problem(response, 415)


def test_an_unknown_field_is_a_422_naming_it(client, as_province):
    document = assert_problem(post_json(client, as_province, institution_body(motto="厚德")), 422)
    assert document["errors"] == {"motto": ["未知字段。 / Unknown field."]}
    assert "motto" in document["detail"]


def test_invalid_fields_are_each_named_with_their_rule(client, as_province):
    body = institution_body(prefecture="广州市", name="   ")
    del body["county"]
    document = assert_problem(post_json(client, as_province, body), 422)
    assert set(document["errors"]) == {"prefecture", "name", "county"}
    assert document["errors"]["county"] == ["缺少必填字段。 / Missing data for required field."]
    assert document["errors"]["name"][0].endswith("Must not be empty.")


def test_a_json_array_is_a_422_not_a_crash(client, as_province):
    assert_problem(post_json(client, as_province, [institution_body()]), 422)


def test_an_unknown_query_parameter_is_a_422(client, as_province):
    document = assert_problem(client.get("/v1/programmes?colour=red", headers=as_province), 422)
    assert document["errors"] == {"colour": ["Unknown field."]}


@pytest.mark.parametrize(
    "error, status",
    [
        (ServiceUnavailable("applications", "connection refused"), 503),
        (ServiceTimeout("applications", "no answer in 10 s"), 504),
        (ServiceBusy("applications", "its database is not available"), 503),
    ],
)
def test_an_unreachable_or_slow_service_asks_to_retry_later(client, rpc, as_province, settings, error, status):
    def fail(**kwargs):
        raise error

    rpc.on("applications", "list_programmes", fail)
    response = client.get("/v1/programmes", headers=as_province)
    document = assert_problem(response, status)
    assert response.headers["Retry-After"] == str(settings.retry_after_s)
    assert "applications" in document["detail"]
    assert "refused" not in document["detail"]


def test_a_broker_outage_is_a_503(client, rpc, as_province):
    rpc.broker_down = True
    assert_problem(client.get("/v1/programmes", headers=as_province), 503)


@pytest.mark.parametrize(
    "reply",
    [
        None,
        {"body": {}},
        {"status": "200", "body": {}},
        {"status": 200},
        {"status": 500, "problem": {"title": "x", "detail": "y"}},
        {"status": 404, "problem": {"title": "x"}},
        {"status": 422, "problem": {"title": "x", "detail": "y", "errors": {"a": "b"}}},
        {"status": 409, "problem": {"title": "x", "detail": "y", "type": "Not A Slug"}},
    ],
)
def test_a_reply_breaking_the_contract_is_a_502(client, rpc, as_province, reply):
    rpc.on("applications", "list_programmes", lambda **kwargs: reply)
    assert_problem(client.get("/v1/programmes", headers=as_province), 502)


def test_a_service_that_raised_is_a_502(client, rpc, as_province):
    def fail(**kwargs):
        raise ServiceFailed("applications", "list_programmes failed: RemoteError: KeyError 'x'")

    rpc.on("applications", "list_programmes", fail)
    document = assert_problem(client.get("/v1/programmes", headers=as_province), 502)
    assert "KeyError" not in json.dumps(document)


def test_an_unexpected_error_is_a_500_with_only_the_request_id(client, rpc, as_province, caplog):
    def crash(**kwargs):
        raise ZeroDivisionError("secret internals")

    rpc.on("applications", "list_programmes", crash)
    response = client.get("/v1/programmes", headers=as_province)
    assert_problem(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "ZeroDivisionError" in caplog.text  # the operators get the traceback


def test_a_service_problem_becomes_problem_json_with_its_errors(client, rpc, as_province):
    rpc.on(
        "applications",
        "list_programmes",
        lambda **kwargs: {
            "status": 409,
            "problem": {
                "title": "Call closed",
                "detail": "The call closed on 2026-03-01.",
                "type": "call-closed",
                "errors": {"call_id": ["closed"]},
            },
        },
    )
    document = assert_problem(client.get("/v1/programmes", headers=as_province), 409)
    assert document["type"] == "urn:chuyi:problem:call-closed"
    assert document["title"] == "Call closed"
    assert document["errors"] == {"call_id": ["closed"]}


RESPONSES = {
    "200": lambda c: c.get("/v1/programmes", headers=bearer("finance")),
    "401": lambda c: c.get("/v1/programmes"),
    "404": lambda c: c.get("/nowhere"),
    "405": lambda c: c.delete("/healthz"),
    "415": lambda c: c.post("/v1/institutions", data="x", headers=bearer("province")),
    "healthz": lambda c: c.get("/healthz"),
}


@pytest.mark.parametrize("case", sorted(RESPONSES))
def test_every_response_carries_a_request_id(client, case):
    first, second = RESPONSES[case](client), RESPONSES[case](client)
    assert first.headers["X-Request-Id"] and second.headers["X-Request-Id"]
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_a_well_formed_request_id_is_kept_and_forwarded(client, rpc, as_province):
    response = client.get("/v1/programmes", headers={**as_province, "X-Request-Id": "portal-42.a"})
    assert response.headers["X-Request-Id"] == "portal-42.a"
    assert rpc.last("list_programmes").correlation_id == "portal-42.a"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 200, "<script>", "café"])
def test_a_malformed_request_id_is_replaced(client, bad):
    header = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
    assert header and header != bad
