#!/usr/bin/env bash
# Side-by-side benchmark: machinenativenops-auto-monitor vs Debian's node_exporter, one run.
#
# node_exporter runs twice: with Debian's defaults (what users run), and restricted to the
# collectors we also have (the like-for-like comparison).
# For each it prints resident memory (VmRSS, VmHWM), CPU seconds used per minute while
# scraped once a second (our agent collecting every second), and /metrics requests per
# second and p99 latency under `wrk -t2 -c8 -d15s`, then the ratios ours / node_exporter.
#
#   scripts/bench/exporter.sh            # 60 s scrape phase (BENCH_SECONDS to change)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${BENCH_SECONDS:-60}
WRK_DURATION=${WRK_DURATION:-15s}

need=()
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --quiet --bin machinenativenops-auto-monitor
BIN=target/release/machinenativenops-auto-monitor
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MNO_PORT=$(free_port); NE_PORT=$(free_port); NS_PORT=$(free_port)

MNO_DB_PATH="$TMP/metrics.db" MNO_LOG_FILE="" MNO_LOG_LEVEL=WARNING \
  "$BIN" serve --port "$MNO_PORT" --interval 1 >/dev/null 2>"$TMP/mno.log" &
MNO_PID=$!; PIDS+=("$MNO_PID")
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --no-collector.systemd \
  >/dev/null 2>"$TMP/ne.log" &
NE_PID=$!; PIDS+=("$NE_PID")
prometheus-node-exporter --web.listen-address="127.0.0.1:$NS_PORT" --collector.disable-defaults \
  --collector.cpu --collector.loadavg --collector.meminfo --collector.vmstat --collector.filesystem \
  --collector.diskstats --collector.netdev --collector.stat --collector.time --collector.pressure \
  --collector.processes >/dev/null 2>"$TMP/ns.log" &
NS_PID=$!; PIDS+=("$NS_PID")

for url in "http://127.0.0.1:$MNO_PORT/ready" "http://127.0.0.1:$NE_PORT/metrics" "http://127.0.0.1:$NS_PORT/metrics"; do
  for _ in $(seq 1 100); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$url" >/dev/null
done
sleep 3

TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Phase 1: scraped once a second (as Prometheus would), CPU measured over the phase.
m0=$(cpu_ticks "$MNO_PID"); n0=$(cpu_ticks "$NE_PID"); s0=$(cpu_ticks "$NS_PID")
for _ in $(seq 1 "$SECS"); do
  curl -fsS -o /dev/null "http://127.0.0.1:$MNO_PORT/metrics" &
  curl -fsS -o /dev/null "http://127.0.0.1:$NE_PORT/metrics" &
  curl -fsS -o /dev/null "http://127.0.0.1:$NS_PORT/metrics" &
  sleep 1
done
wait_jobs() { for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" 2>/dev/null || true;; esac; done; }
wait_jobs
m1=$(cpu_ticks "$MNO_PID"); n1=$(cpu_ticks "$NE_PID"); s1=$(cpu_ticks "$NS_PID")
mno_cpu=$(awk -v a="$m0" -v b="$m1" -v t="$TICKS" -v s="$SECS" 'BEGIN{printf "%.3f", (b-a)/t*60/s}')
ne_cpu=$(awk -v a="$n0" -v b="$n1" -v t="$TICKS" -v s="$SECS" 'BEGIN{printf "%.3f", (b-a)/t*60/s}')
ns_cpu=$(awk -v a="$s0" -v b="$s1" -v t="$TICKS" -v s="$SECS" 'BEGIN{printf "%.3f", (b-a)/t*60/s}')
mno_rss=$(status_kb "$MNO_PID" VmRSS); ne_rss=$(status_kb "$NE_PID" VmRSS); ns_rss=$(status_kb "$NS_PID" VmRSS)

# Phase 2: throughput and latency under wrk.
wrk_run() { wrk -t2 -c8 -d"$WRK_DURATION" --latency "$1" 2>&1; }
wrk_rps() { awk '/^Requests\/sec:/ {print $2}'; }
wrk_p99() { awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.3f", v}'; }
MNO_WRK=$(wrk_run "http://127.0.0.1:$MNO_PORT/metrics")
NE_WRK=$(wrk_run "http://127.0.0.1:$NE_PORT/metrics")
NS_WRK=$(wrk_run "http://127.0.0.1:$NS_PORT/metrics")
mno_rps=$(echo "$MNO_WRK" | wrk_rps); ne_rps=$(echo "$NE_WRK" | wrk_rps); ns_rps=$(echo "$NS_WRK" | wrk_rps)
mno_p99=$(echo "$MNO_WRK" | wrk_p99); ne_p99=$(echo "$NE_WRK" | wrk_p99); ns_p99=$(echo "$NS_WRK" | wrk_p99)
mno_hwm=$(status_kb "$MNO_PID" VmHWM); ne_hwm=$(status_kb "$NE_PID" VmHWM); ns_hwm=$(status_kb "$NS_PID" VmHWM)
mno_bytes=$(curl -fsS "http://127.0.0.1:$MNO_PORT/metrics" | wc -c)
ne_bytes=$(curl -fsS "http://127.0.0.1:$NE_PORT/metrics" | wc -c)
ns_bytes=$(curl -fsS "http://127.0.0.1:$NS_PORT/metrics" | wc -c)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "n/a"; else printf "%.3f", a/b }'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

cat <<TABLE
machinenativenops-auto-monitor vs node_exporter $(prometheus-node-exporter --version 2>&1 | awk 'NR==1{print $3}') on $(nproc) cores, $(date -u +%Y-%m-%d)
scrape phase: ${SECS}s scraped once a second (our agent collecting every 1 s); wrk -t2 -c8 -d${WRK_DURATION}
NE = node_exporter with Debian's default collectors; NE-same = node_exporter with only the collectors we have

| measure                              | auto-monitor | NE | NE-same | ours / NE | ours / NE-same |
|--------------------------------------|---:|---:|---:|---:|---:|
| VmRSS after scrape phase (MiB)       | $(mib "$mno_rss") | $(mib "$ne_rss") | $(mib "$ns_rss") | $(ratio "$mno_rss" "$ne_rss") | $(ratio "$mno_rss" "$ns_rss") |
| VmHWM after wrk (MiB)                | $(mib "$mno_hwm") | $(mib "$ne_hwm") | $(mib "$ns_hwm") | $(ratio "$mno_hwm" "$ne_hwm") | $(ratio "$mno_hwm" "$ns_hwm") |
| CPU seconds per minute (1/s scrapes) | $mno_cpu | $ne_cpu | $ns_cpu | $(ratio "$mno_cpu" "$ne_cpu") | $(ratio "$mno_cpu" "$ns_cpu") |
| /metrics requests per second (wrk)   | $mno_rps | $ne_rps | $ns_rps | $(ratio "$mno_rps" "$ne_rps") | $(ratio "$mno_rps" "$ns_rps") |
| /metrics p99 latency (ms, wrk)       | $mno_p99 | $ne_p99 | $ns_p99 | $(ratio "$mno_p99" "$ne_p99") | $(ratio "$mno_p99" "$ns_p99") |
| /metrics body size (bytes)           | $mno_bytes | $ne_bytes | $ns_bytes | $(ratio "$mno_bytes" "$ne_bytes") | $(ratio "$mno_bytes" "$ns_bytes") |

targets (against node_exporter): memory ratio < 1, CPU ratio <= 0.5, throughput ratio >= 10
TABLE
