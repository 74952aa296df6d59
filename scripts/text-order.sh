#!/usr/bin/env bash
# Regenerate engine/machinenativenops-auto-monitor/text-order.txt: the symbols of the functions a
# serving agent executes, hottest first (callgrind self cost), which build.rs hands to lld
# (`--symbol-ordering-file`) when linking the `agent` profile. Grouping the executed code keeps
# it in few 64 KiB fault-around windows, so the running agent does not map most of the
# executable (docs/performance.md, "Where the agent's memory goes").
#
#   scripts/text-order.sh [SECONDS]     # workload length under valgrind; default 150
#   MNO_BIN=<agent binary> scripts/text-order.sh   # profile a built binary (no build)
#
# Workload, all on a temporary directory and 127.0.0.1, two agents under callgrind: `default`,
# `serve --interval 1` on the embedded configuration as users run it, and `busy`, on a file that
# makes the rare paths run within minutes — blocks compacted every few seconds (tiny
# `chunk_seconds`/`chunk_max_samples`), a backup every 20 s, a rule that fires and resolves every
# 20 s, routed with short timers to the log and to a webhook on a local sink — while a client
# scrapes both in every format (text, OpenMetrics, gzip), queries the PromQL and alerts APIs,
# /health, /ready and the dashboard, and bursts wrk on /metrics. Then SIGTERM (graceful shutdown
# is profiled too). Not covered: retention (needs blocks older than a day), `redis`,
# `remote_write`, HTTP checks and the other subcommands.
# The file must come from a binary built exactly as the agent profile builds it: symbol hashes
# change with rustc flags, features and dependency versions. Rerun after such changes or larger
# code changes; names that no longer exist are ignored by the linker (they only cost grouping),
# new functions land after the listed ones.
# Needs valgrind, curl, wrk, python3 and nm.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-150}
OUT=engine/machinenativenops-auto-monitor/text-order.txt
for t in valgrind curl wrk python3 nm; do
  command -v "$t" >/dev/null || { echo "text-order.sh: $t is needed" >&2; exit 1; }
done

if [ -n "${MNO_BIN:-}" ]; then
  BIN=$MNO_BIN
else
  CARGO_INCREMENTAL=0 cargo build --profile agent --quiet --bin machinenativenops-auto-monitor
  BIN=${CARGO_TARGET_DIR:-target}/agent/machinenativenops-auto-monitor
fi
BIN=$(readlink -f "$BIN")
# How much of the current file this binary still has (what a rebuild would order).
if [ -f "$OUT" ]; then
  nm --defined-only "$BIN" | awk '{print $NF}' | sort -u >"${TMPDIR:-/tmp}/text-order-syms.$$"
  have=$(grep -v '^#' "$OUT" | sort -u | comm -12 - "${TMPDIR:-/tmp}/text-order-syms.$$" | wc -l)
  echo "current $OUT: $have of $(grep -vc '^#' "$OUT") names are in $BIN"
  rm -f "${TMPDIR:-/tmp}/text-order-syms.$$"
fi
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SINK=$(free_port)

# A webhook sink: answers 200 to every POST.
cat >"$TMP/sink.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$TMP/sink.py" "$SINK" & PIDS+=("$!")

cat >"$TMP/monitor.yaml" <<EOF
logging:
  file: $TMP/monitor.log
database:
  path: $TMP/metrics.db
  backup_interval: 20
  backup_keep: 2
  chunk_seconds: 8
  chunk_max_samples: 4
alerts:
  default_rules:
    for: 0s
  rules:
    - alert: Flapping
      expr: (vector(time()) % 20) < 10
      labels: {severity: warning}
      annotations: {summary: "flapping at {{ \$value | humanize }}"}
    - name: LoadSeen
      metric: mno_cpu_usage_percent
      condition: ">="
      threshold: 0
      duration: 2
  notifiers:
    - name: sink
      type: webhook
      url: http://127.0.0.1:$SINK/hook
      send_resolved: true
  route:
    receiver: log
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 10s
    routes:
      - matchers: ['alertname="Flapping"']
        receiver: sink
        continue: true
EOF
"$BIN" --config "$TMP/monitor.yaml" config validate >/dev/null

# Two agents under callgrind, both driven by the client loop below: `default` exactly as users
# run it (the embedded configuration, logging to stderr), `busy` on the file above (log file,
# compaction, backups, alerts and notifications). Their self costs are added up.
PORTS=(); VGS=()
start_agent() { # name, env assignments...
  local name=$1; shift
  local port; port=$(free_port)
  env "$@" valgrind --tool=callgrind --demangle=no --dump-instr=no --compress-strings=no \
    --compress-pos=no --callgrind-out-file="$TMP/$name.callgrind" \
    "$BIN" serve --port "$port" --interval 1 >/dev/null 2>"$TMP/$name.log" &
  PORTS+=("$port"); VGS+=("$!"); PIDS+=("$!")
}
start_agent default MNO_DB_PATH="$TMP/default.db" MNO_LOG_FILE=""
start_agent busy MNO_CONFIG="$TMP/monitor.yaml"
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fsS "http://127.0.0.1:$port/ready" >/dev/null || { cat "$TMP"/*.log >&2; exit 1; }
done

get() { curl -fsS -o /dev/null --max-time 30 "$@" || true; }
end=$((SECONDS + SECS))
n=0
while [ $SECONDS -lt $end ]; do
  for port in "${PORTS[@]}"; do
    U="http://127.0.0.1:$port"
    get "$U/metrics"
    get -H 'Accept-Encoding: gzip' "$U/metrics"
    get -H 'Accept: application/openmetrics-text; version=1.0.0' "$U/metrics"
    get -H 'Accept: application/openmetrics-text; version=1.0.0' -H 'Accept-Encoding: gzip' "$U/metrics"
    get "$U/health"; get "$U/ready"
    if ((n % 5 == 0)); then
      now=$(date +%s)
      get "$U/api/v1/query?query=mno_cpu_usage_percent"
      get "$U/api/v1/query?query=rate(node_network_receive_bytes_total%5B1m%5D)"
      get "$U/api/v1/query_range?query=mno_memory_usage_percent&start=$((now - 120))&end=$now&step=5"
      get "$U/api/v1/query_range?query=sum%20by%20(mode)(rate(node_cpu_seconds_total%5B10s%5D))&start=$((now - 60))&end=$now&step=1"
      get "$U/api/v1/series?match%5B%5D=mno_cpu_usage_percent"
      get "$U/api/v1/labels"; get "$U/api/v1/label/__name__/values"
      get "$U/api/v1/alerts"; get "$U/api/v1/rules"; get "$U/api/v1/alerts/history"
      get "$U/api/v1/status/tsdb"; get "$U/"
    fi
    if ((n % 30 == 10)); then wrk -t1 -c4 -d2s "$U/metrics" >/dev/null 2>&1 || true; fi
  done
  n=$((n + 1))
  sleep 1
done
for vg in "${VGS[@]}"; do kill -TERM "$vg"; done
for vg in "${VGS[@]}"; do wait "$vg" || true; done

# Self cost per function of our binary (in callgrind's format a `calls=` line is followed by
# the inclusive cost of that call, which is not the caller's own), kept when the binary defines
# the name as a function (t/T/w/W), i.e. as the linker knows the symbol.
nm -S --defined-only "$BIN" >"$TMP/nm.txt"
python3 - "$BIN" "$TMP/nm.txt" "$TMP/order.txt" "$TMP/default.callgrind" "$TMP/busy.callgrind" >"$TMP/stats.txt" <<'EOF'
import re
import sys

binary, nm, order, outs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
self_cost, in_default = {}, set()
for i, out in enumerate(outs):
    ob, fn, mine, skip = "", "", False, False
    with open(out, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                ob = line[3:].rstrip("\n")
            elif line.startswith("fn="):
                fn, mine = line[3:].rstrip("\n"), ob == binary
            elif line.startswith("calls="):
                skip = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip:
                    skip = False
                elif mine:
                    parts = line.split()
                    cost = int(parts[1]) if len(parts) > 1 else 0
                    self_cost[fn] = self_cost.get(fn, 0) + cost
                    if i == 0:
                        in_default.add(fn)
size, total = {}, 0
with open(nm) as f:
    for line in f:
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            size[parts[3]] = int(parts[1], 16)
            total += int(parts[1], 16)
# What the default agent runs first, then what only the busy one ran (alert notifications,
# backups: a default agent gets there later), each hottest first; so the default agent's code
# is one run of windows, not interleaved with code it has not executed (yet).
hot = sorted(
    ((c, n) for n, c in self_cost.items() if n in size),
    key=lambda cn: (cn[1] not in in_default, -cn[0], cn[1]),
)
# Code picked at run time by CPU features can differ natively: valgrind's CPU has no AVX-512,
# so e.g. crc32fast (gzip) ran `calculate` under callgrind but runs `calculate_avx512` here.
# With a function of such a module (a path segment named after a SIMD feature) executed, list
# the module's other functions after the executed ones.
FEATURES = {"pclmulqdq", "avx", "avx2", "avx512", "sse2", "sse41", "sse42", "ssse3", "neon"}


def simd_module(name):
    """The path up to a segment named after a SIMD feature, of a legacy-mangled name."""
    if not name.startswith("_ZN"):
        return None
    pos, path = 3, []
    while pos < len(name) and name[pos].isdigit():
        digits = re.match(r"\d+", name[pos:]).group()
        start = pos + len(digits)
        seg = name[start:start + int(digits)]
        path.append(seg)
        if seg in FEATURES:
            return tuple(path)
        pos = start + int(digits)
    return None


listed = {n for _, n in hot}
modules = {m for m in map(simd_module, listed) if m}
extra = sorted(n for n in size if n not in listed and simd_module(n) in modules)
with open(order, "w") as f:
    for n in [n for _, n in hot] + extra:
        f.write(n + "\n")
print(len(hot), sum(size[n] for _, n in hot), total, sum(size[n] for n in in_default if n in size))
EOF
read -r count bytes total default_bytes <"$TMP/stats.txt"
{
  echo "# lld --symbol-ordering-file for machinenativenops-auto-monitor (build.rs, agent profile)."
  echo "# Made by scripts/text-order.sh $SECS on $(date -u +%Y-%m-%d): the functions that two agents"
  echo "# (\`serve --interval 1\` on the embedded default, and one compacting, backing up and alerting)"
  echo "# executed under callgrind while scraped and queried: the default agent's first ($default_bytes"
  echo "# bytes), then the rest, each hottest first by self cost; $count functions, $bytes of the"
  echo "# binary's $total bytes of code."
  cat "$TMP/order.txt"
} >"$OUT"
echo "wrote $OUT: $count functions, $bytes bytes of code ($default_bytes run by the default agent) of $total in the binary"
