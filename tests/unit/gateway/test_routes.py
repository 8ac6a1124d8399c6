from __future__ import annotations

import base64
import hashlib
import io
import json
import time

import pytest

from services.gateway.app import create_app
from services.gateway.routing import XLSX, canonical_json
from tests.unit.gateway.fake_rpc import gateway_settings
from tests.unit.gateway.helpers import CHANGSHA, HENGYANG, bearer, institution_body

CSV_TEXT = "名称,类型,市州\n长沙职业技术学院,高职专科,长沙市\n湘潭技师学院,技工院校,湘潭市\n"


def create(client, headers, body=None, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/institutions", json=body or institution_body(), headers={**headers, **extra})


@pytest.mark.parametrize(
    "role, scope",
    [
        ("province", {}),
        ("finance", {}),
        ("expert", {"expert_id": "e-1"}),
        ("institution", {"institution_id": "i-1"}),
        ("prefecture", {"prefecture": CHANGSHA}),
    ],
)
def test_any_role_lists_the_programmes_and_the_actor_is_forwarded(client, rpc, role, scope):
    response = client.get("/v1/programmes", headers=bearer(role, "who-1", **scope))
    assert response.status_code == 200
    assert response.json["items"][0]["name"] == "楚怡高水平高职高专专业群"
    actor = rpc.last("list_programmes").kwargs["actor"]
    assert actor["sub"] == "who-1" and actor["role"] == role
    assert {k: v for k, v in actor.items() if k not in ("sub", "role") and v is not None} == scope


@pytest.mark.parametrize(
    "role, scope",
    [
        ("institution", {"institution_id": "i-1"}),
        ("prefecture", {"prefecture": CHANGSHA}),
        ("expert", {"expert_id": "e"}),
        ("finance", {}),
    ],
)
def test_only_the_province_registers_institutions(client, rpc, role, scope):
    response = create(client, bearer(role, **scope))
    assert response.status_code == 403
    assert "province" in response.json["detail"]
    assert not [call for call in rpc.calls if call.method == "create_institution"]


@pytest.mark.parametrize("role, scope", [("expert", {"expert_id": "e"}), ("finance", {})])
def test_roles_without_a_view_of_institutions_get_403(client, role, scope):
    assert client.get("/v1/institutions/inst-1", headers=bearer(role, **scope)).status_code == 403


def test_a_created_institution_answers_201_with_its_location(client, rpc, as_province):
    response = create(client, as_province)
    assert response.status_code == 201
    created = response.json
    assert response.headers["Location"] == f"/v1/institutions/{created['id']}"
    assert "Idempotent-Replayed" not in response.headers
    forwarded = rpc.last("create_institution").kwargs
    assert forwarded["institution"] == institution_body()
    assert forwarded["idempotency_key"] is None
    assert forwarded["request_fingerprint"] == hashlib.sha256(canonical_json(institution_body())).hexdigest()


def test_chinese_text_round_trips_unchanged_as_utf8(client, as_province):
    name = "湘西土家族苗族自治州民族职业技术学院（吉首）"
    body = institution_body(name=name, prefecture="湘西土家族苗族自治州", county="吉首市")
    created = create(client, as_province, body)
    fetched = client.get(created.headers["Location"], headers=as_province)
    assert fetched.json["name"] == name
    assert name.encode("utf-8") in fetched.get_data()  # not \\u escapes


def test_institutions_see_only_themselves_and_prefectures_only_theirs(client, as_province):
    changsha = create(client, as_province).json["id"]
    hengyang = create(client, as_province, institution_body(name="衡阳技师学院", prefecture=HENGYANG)).json["id"]

    own = bearer("institution", institution_id=changsha)
    assert client.get(f"/v1/institutions/{changsha}", headers=own).status_code == 200
    other = client.get(f"/v1/institutions/{hengyang}", headers=own)
    assert other.status_code == 404
    assert other.mimetype == "application/problem+json"

    bureau = bearer("prefecture", prefecture=CHANGSHA)
    assert client.get(f"/v1/institutions/{changsha}", headers=bureau).status_code == 200
    assert client.get(f"/v1/institutions/{hengyang}", headers=bureau).status_code == 404
    assert client.get(f"/v1/institutions/{hengyang}", headers=as_province).status_code == 200


def test_a_retry_with_the_same_key_replays_the_first_response(client, rpc, as_province):
    first = create(client, as_province, key="c0ffee-1")
    again = create(client, as_province, key="c0ffee-1")
    assert again.status_code == first.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert rpc.last("create_institution").kwargs["idempotency_key"] == "c0ffee-1"


def test_the_key_may_be_sent_quoted_as_a_structured_field(client, rpc, as_province):
    create(client, as_province, key='"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    assert rpc.last("create_institution").kwargs["idempotency_key"] == "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_the_same_key_with_another_body_is_a_422(client, as_province):
    create(client, as_province, key="k-1")
    response = create(client, as_province, institution_body(county="浏阳市"), key="k-1")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_the_fingerprint_ignores_key_order_and_spacing(client, rpc, as_province):
    body = institution_body()
    create(client, as_province, body, key="k-2")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=False)
    response = client.post(
        "/v1/institutions",
        data=reordered.encode(),
        headers={**as_province, "Idempotency-Key": "k-2", "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ключ", "-leading-dash"])
def test_a_malformed_idempotency_key_is_a_400_naming_the_header(client, as_province, key):
    response = client.post(
        "/v1/institutions",
        json=institution_body(),
        headers={**as_province, "Idempotency-Key": key.encode("utf-8").decode("latin-1")},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json["errors"]


def test_a_conflict_from_the_service_is_a_409(client, as_province):
    create(client, as_province)
    assert create(client, as_province).status_code == 409


def upload(client, headers, **kwargs):
    return client.post("/v1/institutions:import", headers=headers, **kwargs)


def test_a_multipart_csv_upload_is_forwarded_with_its_name_and_content(client, rpc, as_province):
    response = upload(
        client,
        as_province,
        data={"file": (io.BytesIO(CSV_TEXT.encode()), "湖南院校名单.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    assert response.json["imported"] == 2
    forwarded = rpc.last("import_institutions").kwargs
    assert forwarded["filename"] == "湖南院校名单.csv"
    assert base64.b64decode(forwarded["content_b64"]).decode() == CSV_TEXT
    assert (
        forwarded["request_fingerprint"]
        == hashlib.sha256(
            canonical_json({"filename": "湖南院校名单.csv", "content_b64": forwarded["content_b64"]})
        ).hexdigest()
    )


@pytest.mark.parametrize("content_type, suffix", [("text/csv", ".csv"), (XLSX, ".xlsx")])
def test_a_raw_upload_is_named_by_its_content_type(client, rpc, as_province, content_type, suffix):
    response = upload(client, as_province, data=b"PK\x03\x04 or csv bytes", content_type=content_type)
    assert response.status_code == 201
    assert rpc.last("import_institutions").kwargs["filename"].endswith(suffix)


def test_an_upload_may_be_larger_than_a_json_body(rpc, as_province):
    client = create_app(gateway_settings(max_body_bytes=1024, max_upload_bytes=64 * 1024), rpc).test_client()
    content = (CSV_TEXT * 400).encode()
    assert 1024 < len(content) < 64 * 1024
    assert upload(client, as_province, data=content, content_type="text/csv").status_code == 201
    too_big = upload(client, as_province, data=content * 2, content_type="text/csv")
    assert too_big.status_code == 413
    multipart = upload(
        client, as_province, data={"file": (io.BytesIO(content * 2), "big.csv")}, content_type="multipart/form-data"
    )
    assert multipart.status_code == 413


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": b"name\n", "content_type": "application/json"},
        {"data": b"name\n", "content_type": "application/pdf"},
        {"data": {"file": (io.BytesIO(b"%PDF"), "list.pdf")}, "content_type": "multipart/form-data"},
    ],
)
def test_an_upload_that_is_not_csv_or_xlsx_is_a_415(client, as_province, kwargs):
    assert upload(client, as_province, **kwargs).status_code == 415


@pytest.mark.parametrize(
    "data, field",
    [
        ({"file": (io.BytesIO(b""), "empty.csv")}, "file"),
        ({"other": (io.BytesIO(b"a"), "a.csv")}, "other"),
        ({"file": (io.BytesIO(b"a"), "a.csv"), "note": "x"}, "note"),
    ],
)
def test_a_bad_multipart_form_is_a_422_naming_the_field(client, as_province, data, field):
    response = upload(client, as_province, data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_only_the_province_imports(client, as_institution):
    response = upload(client, as_institution, data=CSV_TEXT.encode(), content_type="text/csv")
    assert response.status_code == 403


def test_a_portal_asking_again_for_unchanged_programmes_gets_304_without_the_body(client, rpc, as_province):
    programmes = {"items": [{"category": "hv-school", "target_2025": 10}]}
    rpc.on("applications", "list_programmes", lambda **kw: {"status": 200, "body": programmes})
    first = client.get("/v1/programmes", headers=as_province)
    etag = first.headers["ETag"]
    again = client.get("/v1/programmes", headers={**as_province, "If-None-Match": etag})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", etag)
    assert "no-store" in again.headers["Cache-Control"]  # an answer to a token stays out of caches
    programmes["items"][0]["target_2025"] = 11
    changed = client.get("/v1/programmes", headers={**as_province, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["items"][0]["target_2025"] == 11


def test_the_public_notice_may_be_kept_by_caches_but_is_revalidated(client, rpc):
    from tests.unit.gateway.test_notice_export import NOTICE

    rpc.on("review", "get_notice", lambda call_id: {"status": 200, "body": NOTICE})
    first = client.get("/v1/calls/call_0123/notice")
    assert first.headers["Cache-Control"] == "public, no-cache"
    for path in ("/v1/calls/call_0123/notice", "/v1/calls/call_0123/notice?format=xlsx"):
        etag = client.get(path).headers["ETag"]
        time.sleep(1.1)  # a workbook saved a second later has other bytes: the tag must not follow them
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    xlsx_etag = client.get("/v1/calls/call_0123/notice?format=xlsx").headers["ETag"]
    assert xlsx_etag != first.headers["ETag"]  # each representation has its own version


def test_a_write_answer_carries_no_etag(client, rpc, as_province):
    from tests.unit.gateway.helpers import institution_body

    answer = client.post("/v1/institutions", json=institution_body(), headers=as_province)
    assert answer.status_code == 201 and "ETag" not in answer.headers
