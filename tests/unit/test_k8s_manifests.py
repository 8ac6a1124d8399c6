"""deploy/k8s/validate.sh passes the real manifests and fails a broken one, naming the problem.

The validation tools live in their own venv (.venv-tools), which the first run installs from
deploy/requirements-tools.txt; these tests are skipped only when that install fails.
"""

import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_VENV = ROOT / ".venv-tools"
TOOLS_MISSING = 3  # validate.sh's exit status when it cannot install the tools


def validate(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(root / "deploy" / "k8s" / "validate.sh"), *args],
        cwd=root,
        env={**os.environ, "CHUYI_TOOLS_VENV": str(TOOLS_VENV)},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module", autouse=True)
def tools():
    installed = validate(ROOT, "--install-only")
    if installed.returncode == TOOLS_MISSING:
        pytest.skip("the validation tools venv could not be created: " + installed.stderr.strip()[-400:])
    assert installed.returncode == 0, installed.stderr


def break_file(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "deploy" / "k8s" / relative
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{relative} no longer holds {old!r} once: update this test"
    path.write_text(text.replace(old, new), encoding="utf-8")


# (id, file, text, its replacement, the step that must fail, what its output must name)
BROKEN = [
    (
        "deployment-without-image",
        "base/gateway/deployment.yaml",
        "        image: chuyi\n",
        "",
        "custom resources and house rules",
        "Deployment/chuyi-gateway: spec.template.spec.containers[0] (app): no image",
    ),
    (
        "deployment-with-unknown-field",
        "base/service/deployment.yaml",
        "revisionHistoryLimit: 5",
        "revisionHistoryLimt: 5",
        "kubernetes-validate",
        "'revisionHistoryLimt' was unexpected",
    ),
    (
        "keda-trigger-value-not-a-string",
        "base/review/kustomization.yaml",
        'value: "20"',
        "value: 20",
        "custom resources and house rules",
        "ScaledObject/chuyi-review: spec.triggers[0].metadata.value: 20 is not of type 'string'",
    ),
    (
        "vhost-not-quorum-by-default",
        "components/rabbitmq-cluster/topology.yaml",
        "defaultQueueType: quorum",
        "defaultQueueType: classic",
        "custom resources and house rules",
        "Vhost/chuyi: spec.defaultQueueType: 'classic': want 'quorum'",
    ),
    (
        "amqp-uri-on-another-vhost",
        "overlays/dev/kustomization.yaml",
        "@chuyi-rabbitmq:5672/chuyi\n",
        "@chuyi-rabbitmq:5672/other\n",
        "custom resources and house rules",
        "Secret/chuyi-secrets: AMQP_URI: vhost 'other' is not a Vhost of this overlay",
    ),
    (
        "writable-root-filesystem",
        "base/pod-defaults.yaml",
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
        "checkov",
        "CKV_K8S_22",
    ),
]


@pytest.fixture(scope="module")
def validations(tmp_path_factory) -> dict[str, Future]:
    """Every validation this module asserts on, run at once: each is a few seconds of CPU in
    one process, and one after another they were the slowest unit tests."""

    def broken(case_id: str, relative: str, old: str, new: str) -> subprocess.CompletedProcess:
        root = tmp_path_factory.mktemp(case_id)
        shutil.copytree(ROOT / "deploy", root / "deploy")
        shutil.copy(ROOT / "Dockerfile", root / "Dockerfile")
        break_file(root, relative, old, new)
        return validate(root)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {"real": pool.submit(validate, ROOT)}
        for case_id, relative, old, new, _, _ in BROKEN:
            futures[case_id] = pool.submit(broken, case_id, relative, old, new)
    return futures


def test_the_real_manifests_pass_every_check(validations):
    result = validations["real"].result()

    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("kustomize dev", "kustomize prod", "yamllint", "kubernetes-validate", "custom resources", "checkov"):
        assert f"ok    {step}" in result.stdout


@pytest.mark.parametrize(
    ("case_id", "failed_step", "named"),
    [pytest.param(case_id, step, named, id=case_id) for case_id, _, _, _, step, named in BROKEN],
)
def test_a_broken_manifest_fails_naming_the_problem(validations, case_id, failed_step, named):
    result = validations[case_id].result()

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL  {failed_step}" in result.stdout
    assert named in result.stdout


def test_the_gateway_reaches_the_applications_internal_port_and_nothing_else_does():
    rendered = subprocess.run(
        [str(TOOLS_VENV / "bin" / "kubectl"), "kustomize", str(ROOT / "deploy/k8s/overlays/prod")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]

    def one(kind, name):
        return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)

    def container(name):
        return one("Deployment", name)["spec"]["template"]["spec"]["containers"][0]

    env = {e["name"]: e.get("value") for e in container("chuyi-gateway")["env"]}
    host, port = urlsplit(env["APPLICATIONS_HTTP_URL"]).hostname, urlsplit(env["APPLICATIONS_HTTP_URL"]).port
    service_port = next(p for p in one("Service", host)["spec"]["ports"] if p["port"] == port)
    app = container("chuyi-applications")
    pod_port = next(p["containerPort"] for p in app["ports"] if p["name"] == service_port["targetPort"])
    assert {"name": "SERVICE_HTTP_ADDRESS", "value": f"0.0.0.0:{pod_port}"} in app["env"]

    def rules(selected, direction):
        """(peers' app names, ports) of each rule of the policies selecting the pods named `selected`."""
        return [
            (
                {
                    peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                    for peer in rule.get("from" if direction == "ingress" else "to", [])
                },
                [port.get("port") for port in rule.get("ports", [])],
            )
            for policy in documents
            if policy["kind"] == "NetworkPolicy"
            and policy["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": selected}
            for rule in policy["spec"].get(direction, [])
        ]

    reaching = [peers for peers, ports in rules("chuyi-applications", "ingress") if pod_port in ports]
    assert reaching and all(peers == {"chuyi-gateway"} for peers in reaching), "only the gateway may reach it"
    assert any(
        peers == {"chuyi-applications"} and pod_port in ports for peers, ports in rules("chuyi-gateway", "egress")
    )
