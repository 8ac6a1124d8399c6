#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests. For every overlay in
# overlays/: render it with `kubectl kustomize`, then yamllint (sources and
# rendered), kubernetes-validate --strict (core resources), check_manifests.py
# (custom resources against schemas/, house rules) and, once all of that
# passes, checkov (rendered manifests and the Dockerfile).
#
# Usage: bash deploy/k8s/validate.sh [--install-only]
# Environment: CHUYI_TOOLS_VENV  the tools' venv (default: <repo>/.venv-tools)
#              K8S_VERSION       Kubernetes version to validate for (default 1.32.0)
# Exit status: 0 valid, 1 invalid, 3 the tools could not be installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CHUYI_TOOLS_VENV:-$root/.venv-tools}"
requirements="$root/deploy/requirements-tools.txt"
k8s_version="${K8S_VERSION:-1.32.0}"

# Installs the pinned tools unless the venv already holds this exact file's
# pins; a lock keeps two runs from installing into the same venv at once, and
# is let go once the tools are there, so that validations run side by side.
ensure_tools() {
    local want stamp python log
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    stamp="$venv/.requirements.sha256"
    exec 9>"$venv.lock"
    flock 9
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        python="$(command -v python3.11 || command -v python3)"
        log="$(mktemp)"
        echo "validate: installing the tools into $venv" >&2
        if ! { "$python" -m venv --clear "$venv" &&
            "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements"; } >"$log" 2>&1; then
            cat "$log" >&2
            echo "validate: could not install the tools from $requirements" >&2
            exit 3
        fi
        rm -f "$log"
        echo "$want" >"$stamp"
    fi
    exec 9>&-
}

failed=0
# step NAME COMMAND...: runs COMMAND, prints its output only when it fails.
step() {
    local name="$1" output
    shift
    if output="$("$@" 2>&1)"; then
        echo "ok    $name"
    else
        printf 'FAIL  %s\n%s\n' "$name" "$output"
        failed=1
    fi
}

ensure_tools
if [[ "${1:-}" == "--install-only" ]]; then
    exit 0
fi

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for overlay in "$here"/overlays/*/; do
    name="$(basename "$overlay")"
    step "kustomize $name" "$venv/bin/kubectl" kustomize "$overlay" -o "$rendered/$name.yaml"
done
shopt -s nullglob
manifests=("$rendered"/*.yaml)

step "yamllint" "$venv/bin/yamllint" --strict -c "$here/.yamllint" "$here" "${manifests[@]}"
if ((${#manifests[@]})); then
    step "kubernetes-validate --strict (Kubernetes $k8s_version)" \
        "$venv/bin/kubernetes-validate" --strict --no-warn --quiet -k "$k8s_version" "${manifests[@]}"
    step "custom resources and house rules" "$venv/bin/python" "$here/check_manifests.py" "${manifests[@]}"
fi

if ((failed)); then
    echo "checkov not run: fix the problems above first"
    exit 1
fi
cp "$root/Dockerfile" "$rendered/"
# --skip-download: checkov would otherwise ask its vendor's API for guidelines.
step "checkov" "$venv/bin/checkov" --directory "$rendered" --framework kubernetes dockerfile \
    --skip-download --compact --quiet
exit "$failed"
