#!/usr/bin/env bash
# Store benchmark: float codecs, ingest rate, bytes per sample on disk, query latency, and
# Prometheus' own TSDB on the same data, in one run (engine/machinenativenops-auto-monitor/
# benches/store.rs says exactly what each figure measures).
#
#   scripts/bench/store.sh                    # 60 real ticks collected live at 1 s, 24 simulated hours
#   BENCH_REAL_JSON=rec.json scripts/bench/store.sh
#       # build data set (a) and the "real" codec rows from a recording made with
#       #   MNO_INTERVAL=1 machinenativenops-auto-monitor collect --format json > rec.json
#
# Other knobs: BENCH_REAL_TICKS (live ticks, 60), BENCH_HOURS (24), BENCH_RW_SERIES (100),
# BENCH_WIDE_COPIES (40), BENCH_DIR (scratch space; needs ~2 GB for the OpenMetrics file),
# BENCH_SKIP_PROMTOOL=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1 && [ "${BENCH_SKIP_PROMTOOL:-0}" != 1 ]; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

cargo bench --quiet -p machinenativenops-auto-monitor --bench store
