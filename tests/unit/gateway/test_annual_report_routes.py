"""The annual-report routes: who may call each (the gateway refuses other roles before any RPC),
what reaches the applications service, and a filing's Location."""

from __future__ import annotations

import pytest

from tests.unit.gateway.helpers import CHANGSHA, bearer

REPORT = "rpt_2024_app_1"
FILING = {
    "year": 2024,
    "summary": "进展顺利",
    "assessments": [{"target_index": 0, "status": "met", "evidence": "已建成"}],
}


@pytest.mark.parametrize(
    ("path", "body", "role", "scope"),
    [
        (
            "/v1/report-windows",
            {"year": 2024, "due_at": "2027-01-31T09:00:00Z"},
            "institution",
            {"institution_id": "i"},
        ),
        ("/v1/projects/app_1/annual-reports", FILING, "prefecture", {"prefecture": CHANGSHA}),
        (f"/v1/annual-reports/{REPORT}/endorse", {}, "institution", {"institution_id": "i"}),
        (f"/v1/annual-reports/{REPORT}/endorse", {}, "province", {}),
        (f"/v1/annual-reports/{REPORT}/accept", {}, "prefecture", {"prefecture": CHANGSHA}),
        (f"/v1/annual-reports/{REPORT}/return", {"reason": "补充"}, "institution", {"institution_id": "i"}),
    ],
)
def test_each_step_is_refused_to_the_roles_that_do_not_take_it(client, rpc, path, body, role, scope):
    answer = client.post(path, json=body, headers=bearer(role, **scope))
    assert answer.status_code == 403 and not [c for c in rpc.calls if c.service == "applications"]


def test_a_filing_reaches_the_service_with_the_project_and_answers_its_location(client, rpc):
    rpc.on(
        "applications",
        "file_annual_report",
        lambda **kw: {"status": 201, "body": {"id": REPORT, "project_id": kw["project_id"], **kw["report"]}},
    )
    answer = client.post(
        "/v1/projects/app_1/annual-reports",
        json=FILING,
        headers={**bearer("institution", institution_id="inst-1"), "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 201 and answer.headers["Location"].endswith(f"/v1/annual-reports/{REPORT}")
    call = rpc.calls[-1]
    assert (call.kwargs["project_id"], call.kwargs["report"], call.kwargs["idempotency_key"]) == (
        "app_1",
        FILING,
        "k-1",
    )


def test_a_filing_with_an_unknown_status_is_a_422_naming_the_field(client, rpc):
    bad = {**FILING, "assessments": [{"target_index": 0, "status": "done", "evidence": "x"}]}
    answer = client.post(
        "/v1/projects/app_1/annual-reports", json=bad, headers=bearer("institution", institution_id="inst-1")
    )
    assert answer.status_code == 422 and list(answer.json["errors"]) == ["assessments.0.status"]
