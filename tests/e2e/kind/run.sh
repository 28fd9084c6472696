#!/usr/bin/env bash
# Opt-in end-to-end test on kind (Linux with Docker): create a kind cluster, build the
# operator's image from the Containerfile and load it, install deploy/base with it, and
# run the story of tests/integration/test_deploy.py against the operator in its pod.
# See README.md beside this file. Extra arguments go to pytest.
#
#   tests/e2e/kind/run.sh                 # everything, the cluster deleted at the end
#   E2E_KEEP_CLUSTER=1 tests/e2e/kind/run.sh -x
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-hotfix-e2e}"
image="${E2E_IMAGE:-localhost/hotfix-operator:e2e}"
git_port="${E2E_GIT_PORT:-18080}"
keep="${E2E_KEEP_CLUSTER:-}"
python="${repo}/.venv/bin/python"
kubectl="${repo}/.venv/bin/kubectl"

die() {
  echo "run.sh: $*" >&2
  exit 1
}
step() { printf '\n==> %s\n' "$*"; }

command -v docker >/dev/null || die "docker is required: https://docs.docker.com/engine/install/"
command -v kind >/dev/null || die "kind is required: https://kind.sigs.k8s.io/docs/user/quick-start/"
[[ -x "${python}" && -x "${kubectl}" ]] || die "no ${repo}/.venv with kubectl: run 'make install'"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer: start it, or check your rights"
if kind get clusters 2>/dev/null | grep -qx "${cluster}"; then
  die "a kind cluster ${cluster} exists: delete it (kind delete cluster --name ${cluster}) or set KIND_CLUSTER_NAME"
fi

workdir="$(mktemp -d)"
kubeconfig="${workdir}/kubeconfig"
created=""
cleanup() {
  local status=$?
  if [[ -n "${created}" && -z "${keep}" ]]; then
    step "deleting kind cluster ${cluster}"
    kind delete cluster --name "${cluster}" || true
  elif [[ -n "${created}" ]]; then
    echo "kept kind cluster ${cluster}: kind export kubeconfig --name ${cluster}"
  fi
  rm -rf "${workdir}"
  exit "${status}"
}
trap cleanup EXIT

step "creating kind cluster ${cluster}"
kind create cluster --name "${cluster}" --kubeconfig "${kubeconfig}" --wait 180s
created=1
export KUBECONFIG="${kubeconfig}"

step "building ${image} from the Containerfile"
docker build --file "${repo}/Containerfile" --tag "${image}" "${repo}"
kind load docker-image "${image}" --name "${cluster}"

# Pods reach this host at the gateway of the kind network; the test process serves the
# config repositories there (git smart HTTP), at the same URL for itself and the pods.
gateway="$(docker network inspect kind \
  --format '{{range .IPAM.Config}}{{println .Gateway}}{{end}}' | grep -m1 -F . || true)"
[[ -n "${gateway}" ]] || die "the kind network has no IPv4 gateway for the git server"

step "installing deploy/base with ${image}; repositories allowed from http://${gateway}:${git_port}/"
overlay="${workdir}/overlay"
mkdir -p "${overlay}"
base="$(realpath --relative-to="${overlay}" "${repo}/deploy/base")"
cat >"${overlay}/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${base}
images:
  - name: quay.io/hotfix-operator/hotfix-operator
    newName: ${image%:*}
    newTag: ${image##*:}
patches:
  # What an admin edits: the settings ConfigMap. The short intervals make drift
  # correction and readiness checks fast enough for a test.
  - target: {kind: ConfigMap, name: hotfix-operator-settings}
    patch: |-
      - {op: replace, path: /data/HOTFIX_ALLOWED_REPOS, value: "http://${gateway}:${git_port}/"}
      - {op: add, path: /data/HOTFIX_CHECK_INTERVAL, value: 1s}
      - {op: add, path: /data/HOTFIX_DRIFT_INTERVAL, value: 3s}
YAML
"${kubectl}" apply --server-side -k "${overlay}"
# Ready means: the pod started under Pod Security "restricted" and kopf answers /healthz.
"${kubectl}" --namespace hotfix-operator rollout status deployment/hotfix-operator --timeout=180s

step "running the story against the operator in its pod"
cd "${repo}"
HOTFIX_E2E_KUBECONFIG="${kubeconfig}" HOTFIX_E2E_GIT_LISTEN="${gateway}:${git_port}" \
  "${python}" -m pytest -v -p no:cacheprovider tests/e2e/kind/e2e_on_kind.py "$@"
