#!/usr/bin/env bash
# Side-by-side benchmark: machinenativenops-auto-monitor vs Debian's node_exporter, one run.
#
# Main row: `machinenativenops-auto-monitor serve` as users run it — the embedded default
# configuration (store, backups and alerting on), collecting every second. Extra, labeled rows:
#   light  — the same agent with alerting and backups off (the store cannot be switched off);
#   before — (BENCH_BEFORE=1) the default serve with the runtime settings before issue 16:
#            two tokio workers and glibc's default malloc arenas (MALLOC_ARENA_MAX=16).
# node_exporter runs twice: with Debian's defaults minus systemd ("NE", what the issue compares
# against: `--no-collector.systemd`), and restricted to the collectors we also have ("NE-same").
#
# For each it prints resident memory (VmRSS after the scrape phase, VmHWM after wrk), CPU seconds
# per minute while scraped once a second, /metrics requests per second and p99 latency under
# `wrk -t2 -c8 -d10s`, then the ratios ours / node_exporter.
#
#   scripts/bench/exporter.sh [SECONDS]   # scrape phase length; default 600 (10 minutes)
#   scripts/bench/exporter.sh 5           # CI smoke run: must run, asserts nothing
#   WRK_DURATION=10s BENCH_BEFORE=1 scripts/bench/exporter.sh 300
#   MNO_BIN=target/agent/machinenativenops-auto-monitor scripts/bench/exporter.sh 60   # no build
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-${BENCH_SECONDS:-600}}
WRK_DURATION=${WRK_DURATION:-10s}
BEFORE=${BENCH_BEFORE:-0}

need=()
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The `agent` profile is what scripts/install.sh ships (size-optimised: see docs/performance.md).
# MNO_BIN=path measures an already built binary instead.
if [ -n "${MNO_BIN:-}" ]; then
  BIN=$MNO_BIN
else
  CARGO_INCREMENTAL=0 cargo build --profile agent --quiet --bin machinenativenops-auto-monitor
  BIN=${CARGO_TARGET_DIR:-target}/agent/machinenativenops-auto-monitor
fi
# The agent profile links its executed code first, in the order of text-order.txt (build.rs);
# names the binary no longer has (after code changes) cost memory. Say how much of it applies.
ORDER=engine/machinenativenops-auto-monitor/text-order.txt
if command -v nm >/dev/null && [ -f "$ORDER" ]; then
  have=$( (nm --defined-only "$BIN" 2>/dev/null || true) | awk '{print $NF}' | sort -u |
    comm -12 - <(grep -v '^#' "$ORDER" | sort -u) | wc -l)
  echo "text-order.txt: $have of $(grep -vc '^#' "$ORDER") names are in $BIN (stale when low: scripts/text-order.sh)"
fi
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Rows: name, port, pid. Ours first; the main row is "default".
NAMES=(); PORTS=(); RPIDS=()
start_ours() { # name, then env assignments for the agent
  local name=$1; shift
  local port; port=$(free_port)
  mkdir -p "$TMP/$name"
  env MNO_DB_PATH="$TMP/$name/metrics.db" MNO_LOG_FILE="" MNO_LOG_LEVEL=WARNING "$@" \
    "$BIN" serve --port "$port" --interval 1 >/dev/null 2>"$TMP/$name.log" &
  NAMES+=("$name"); PORTS+=("$port"); RPIDS+=("$!"); PIDS+=("$!")
}
start_ne() { # name, then node_exporter flags
  local name=$1; shift
  local port; port=$(free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" "$@" >/dev/null 2>"$TMP/$name.log" &
  NAMES+=("$name"); PORTS+=("$port"); RPIDS+=("$!"); PIDS+=("$!")
}

start_ours default
printf 'alerts:\n  enabled: false\ndatabase:\n  backup_enabled: false\n' >"$TMP/light.yaml"
start_ours light MNO_CONFIG="$TMP/light.yaml"
if [ "$BEFORE" = 1 ]; then start_ours before MNO_WORKER_THREADS=2 MALLOC_ARENA_MAX=16; fi
start_ne NE --no-collector.systemd
start_ne NE-same --collector.disable-defaults \
  --collector.cpu --collector.loadavg --collector.meminfo --collector.vmstat --collector.filesystem \
  --collector.diskstats --collector.netdev --collector.stat --collector.time --collector.pressure \
  --collector.processes

for i in "${!NAMES[@]}"; do
  case "${NAMES[$i]}" in NE*) url="http://127.0.0.1:${PORTS[$i]}/metrics";; *) url="http://127.0.0.1:${PORTS[$i]}/ready";; esac
  for _ in $(seq 1 100); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 0.1; done
  if ! curl -fsS "$url" >/dev/null; then
    echo "${NAMES[$i]} did not become ready:" >&2; cat "$TMP/${NAMES[$i]}.log" >&2; exit 1
  fi
done
sleep 3

TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Phase 1: scraped once a second (as Prometheus would), CPU measured over the phase.
declare -A C0 C1 RSS HWM THR RPS P99 BYTES CPU
for i in "${!NAMES[@]}"; do C0[$i]=$(cpu_ticks "${RPIDS[$i]}"); done
for _ in $(seq 1 "$SECS"); do
  for i in "${!NAMES[@]}"; do curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[$i]}/metrics" & done
  sleep 1
done
wait_jobs() { for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" 2>/dev/null || true;; esac; done; }
wait_jobs
for i in "${!NAMES[@]}"; do
  C1[$i]=$(cpu_ticks "${RPIDS[$i]}")
  CPU[$i]=$(awk -v a="${C0[$i]}" -v b="${C1[$i]}" -v t="$TICKS" -v s="$SECS" 'BEGIN{printf "%.3f", (b-a)/t*60/s}')
  RSS[$i]=$(status_kb "${RPIDS[$i]}" VmRSS)
  THR[$i]=$(status_kb "${RPIDS[$i]}" Threads)
done

# Phase 2: throughput and latency under wrk, one target at a time.
wrk_rps() { awk '/^Requests\/sec:/ {print $2}'; }
wrk_p99() { awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.3f", v}'; }
for i in "${!NAMES[@]}"; do
  out=$(wrk -t2 -c8 -d"$WRK_DURATION" --latency "http://127.0.0.1:${PORTS[$i]}/metrics" 2>&1)
  RPS[$i]=$(echo "$out" | wrk_rps); P99[$i]=$(echo "$out" | wrk_p99)
done
for i in "${!NAMES[@]}"; do
  HWM[$i]=$(status_kb "${RPIDS[$i]}" VmHWM)
  BYTES[$i]=$(curl -fsS "http://127.0.0.1:${PORTS[$i]}/metrics" | wc -c)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0 || b == "") print "n/a"; else printf "%.3f", a/b }'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
idx() { for i in "${!NAMES[@]}"; do if [ "${NAMES[$i]}" = "$1" ]; then echo "$i"; fi; done; }
NE=$(idx NE); NS=$(idx NE-same)

echo "machinenativenops-auto-monitor vs node_exporter $(prometheus-node-exporter --version 2>&1 | awk 'NR==1{print $3}') on $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "scrape phase: ${SECS}s scraped once a second (every agent collecting every 1 s); then wrk -t2 -c8 -d${WRK_DURATION} on each"
echo "default = \`serve\` on the embedded default (store, backups, alerting on); light = alerting and backups off"
if [ "$BEFORE" = 1 ]; then echo "before = default with 2 tokio workers and MALLOC_ARENA_MAX=16 (the settings before issue 16)"; fi
echo "NE = node_exporter --no-collector.systemd; NE-same = node_exporter with only the collectors we have"
echo
echo "| row | VmRSS after scrape phase (MiB) | VmHWM after wrk (MiB) | threads | CPU s/min | wrk req/s | p99 ms | body bytes | VmRSS / NE | VmHWM / NE | VmRSS / NE-same | VmHWM / NE-same |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for i in "${!NAMES[@]}"; do
  echo "| ${NAMES[$i]} | $(mib "${RSS[$i]}") | $(mib "${HWM[$i]}") | ${THR[$i]} | ${CPU[$i]} | ${RPS[$i]} | ${P99[$i]} | ${BYTES[$i]} | $(ratio "${RSS[$i]}" "${RSS[$NE]}") | $(ratio "${HWM[$i]}" "${HWM[$NE]}") | $(ratio "${RSS[$i]}" "${RSS[$NS]}") | $(ratio "${HWM[$i]}" "${HWM[$NS]}") |"
done
echo
echo "targets (main row 'default' against NE): VmRSS and VmHWM ratio <= 0.5, CPU ratio <= 0.5, throughput ratio >= 10"
