"""Checks on rendered manifests that kubernetes-validate and checkov do not make.

Usage: python check_manifests.py RENDERED.yaml...   (one file per overlay)

- Every custom resource is validated against its schema in schemas/ (picked by
  the apiVersion and kind each schema declares); a custom resource with no
  schema is an error.
- House rules for every Deployment: each container names an image, a
  PodDisruptionBudget selects its pods, and exactly one autoscaler (HPA or KEDA
  ScaledObject) targets it.
- The broker (issue 16): a RabbitMQ cluster of several nodes has an odd number of
  them; every Vhost the topology operator creates has default queue type quorum
  (nameko declares its RPC request queues without a type: only the default makes
  them replicated); every Policy names a vhost the overlay creates; an AMQP_URI
  the overlay generates ends in such a vhost and is a single URI (KEDA's
  rabbitmq scaler reads it and takes no failover list).

Prints one line per problem, naming the file, the resource and the field, and
exits 1 if there is any.
"""

import base64
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "schemas"
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def load_schemas():
    """Return (registry of every schema by $id, {(apiVersion, kind): schema})."""
    documents = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(SCHEMAS.glob("*.schema.yaml"))]
    registry = Registry().with_resources(
        (document["$id"], Resource.from_contents(document)) for document in documents
    )
    by_kind = {
        (document["properties"]["apiVersion"]["const"], document["properties"]["kind"]["const"]): document
        for document in documents
        if "properties" in document
    }
    return registry, by_kind


def is_builtin(api_version):
    group = api_version.rpartition("/")[0]
    return group in BUILTIN_GROUPS or group.endswith(".k8s.io")


def resource_name(document):
    return f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"


def field_path(error):
    return ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in error.absolute_path).replace(
        ".[", "["
    ) or "(top level)"


def schema_problems(document, registry, by_kind):
    api_version, kind = document.get("apiVersion", ""), document.get("kind", "")
    if is_builtin(api_version):
        return []
    schema = by_kind.get((api_version, kind))
    if schema is None:
        return [f"no schema for custom resource {kind} ({api_version}): add one to {SCHEMAS.name}/"]
    validator = Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{field_path(error)}: {error.message}" for error in validator.iter_errors(document)]


def selects(selector, labels):
    wanted = (selector or {}).get("matchLabels") or {}
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def deployment_problems(deployment, documents):
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]
    problems = [
        f"spec.template.spec.containers[{index}] ({container.get('name')}): no image"
        for index, container in enumerate(pod["spec"]["containers"])
        if not container.get("image")
    ]
    pod_labels = pod["metadata"].get("labels") or {}
    budgets = [d for d in documents if d["kind"] == "PodDisruptionBudget" and selects(d["spec"].get("selector"), pod_labels)]
    if not budgets:
        problems.append("no PodDisruptionBudget selects its pods")
    autoscalers = [
        d
        for d in documents
        if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject") and d["spec"]["scaleTargetRef"].get("name") == name
    ]
    if len(autoscalers) != 1:
        problems.append(f"{len(autoscalers)} autoscalers target it (HorizontalPodAutoscaler or ScaledObject): want 1")
    return problems


def broker_problems(document, documents):
    kind, spec = document.get("kind"), document.get("spec") or {}
    if not document.get("apiVersion", "").startswith("rabbitmq.com/"):
        if kind == "Secret" and "AMQP_URI" in (document.get("data") or {}):
            return amqp_uri_problems(base64.b64decode(document["data"]["AMQP_URI"]).decode(), documents)
        if kind == "Secret" and "AMQP_URI" in (document.get("stringData") or {}):
            return amqp_uri_problems(document["stringData"]["AMQP_URI"], documents)
        return []
    if kind == "RabbitmqCluster":
        replicas = spec.get("replicas", 1)
        return [f"spec.replicas: {replicas} nodes: a cluster needs an odd number (quorum)"] if replicas > 1 and replicas % 2 == 0 else []
    if kind == "Vhost" and spec.get("defaultQueueType") != "quorum":
        return [f"spec.defaultQueueType: {spec.get('defaultQueueType')!r}: want 'quorum' (nameko's RPC queues take the vhost's default)"]
    if kind == "Policy" and spec.get("vhost") not in vhosts(documents):
        return [f"spec.vhost: {spec.get('vhost')!r} is not a Vhost of this overlay ({sorted(vhosts(documents))})"]
    return []


def vhosts(documents):
    return {d["spec"].get("name") for d in documents if d.get("kind") == "Vhost" and d.get("apiVersion", "").startswith("rabbitmq.com/")}


def amqp_uri_problems(uri, documents):
    problems = []
    if ";" in uri:
        problems.append("AMQP_URI: a failover list; KEDA's rabbitmq scaler (base/keda.yaml) takes a single URI")
    vhost = urlsplit(uri.split(";")[0]).path.lstrip("/")
    known = vhosts(documents)
    if known and vhost not in known:
        problems.append(f"AMQP_URI: vhost {vhost!r} is not a Vhost of this overlay ({sorted(known)})")
    return problems


def file_problems(path, registry, by_kind):
    documents = [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if d]
    for document in documents:
        problems = schema_problems(document, registry, by_kind)
        if document.get("kind") == "Deployment":
            problems += deployment_problems(document, documents)
        problems += broker_problems(document, documents)
        for problem in problems:
            yield f"{path}: {resource_name(document)}: {problem}"


def main(paths):
    registry, by_kind = load_schemas()
    failed = False
    for path in paths:
        problems = list(file_problems(path, registry, by_kind))
        for problem in problems:
            print(problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
