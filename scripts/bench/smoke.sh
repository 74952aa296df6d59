#!/usr/bin/env bash
# Every benchmark as a smoke run, for CI (scripts/test.sh): tiny sizes and the debug binaries
# the test suite already built. It checks that each benchmark still runs and prints its
# figures; it asserts no timing (the figures of a debug build on a busy CI machine mean
# nothing). Real measurements: run each script without these knobs (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
log() { printf '\n==> bench smoke: %s\n' "$*" >&2; }

cargo build -q --locked -p machinenativenops-auto-monitor -p super-agent --bins

log "store (1 simulated hour, 3 live ticks; the 30 s data set is every 30th tick)"
BENCH_HOURS=1 BENCH_REAL_TICKS=3 BENCH_WIDE_COPIES=2 BENCH_RW_SERIES=5 \
  cargo test -q --locked -p machinenativenops-auto-monitor --bench store

log "alert evaluation (20 rules x 50 series)"
BENCH_RULES=20 BENCH_PER_RULE=50 cargo test -q --locked -p machinenativenops-auto-monitor --bench alerts

log "registry check"
cargo test -q --locked -p mno-registry --bench check

log "exporter vs node_exporter (3 s scrape phase, 2 s of wrk)"
MNO_BIN="$TARGET/debug/machinenativenops-auto-monitor" WRK_DURATION=2s scripts/bench/exporter.sh 3

log "secret scanning vs gitleaks, betterleaks (a 2 MB tree of this repository's libs/)"
BENCH_SRC="$PWD/libs" SUPER_AGENT_BIN="$TARGET/debug/super-agent" \
  BENCH_TOOLS="mno gitleaks betterleaks" scripts/bench/secrets.sh 2

log "gate jobs through Redis with 1, 2 and 4 workers (8 jobs)"
SUPER_AGENT_BIN="$TARGET/debug/super-agent" scripts/bench/redis-gates.sh --short

log "kubernetes collector cost (100 pods, the debug binary built with --features kubernetes,gpu as the tests build it)"
cargo build -q --locked -p machinenativenops-auto-monitor --features kubernetes,gpu --bin machinenativenops-auto-monitor
MNO_BIN="$TARGET/debug/machinenativenops-auto-monitor" scripts/bench/kubernetes.sh 100

log "all benchmarks ran"
