#!/usr/bin/env bash
# What watching a cluster costs the agent: a replayed API server holding N pods (copies of the
# fixture pod tests/fixtures/kubernetes/default/pods.json[1], ~1.8 KB of JSON each, in one
# namespace, plus two nodes, a deployment and services), then the agent with the Kubernetes
# collector on, against the same agent with it off.
#
# Prints, for each N: the list size; wall time and peak resident memory (VmHWM, /usr/bin/time)
# of a one-shot `collect --once` (start, client, the paged initial lists, rendering); resident
# memory (VmRSS) of a ticking `collect` a few ticks after the lists, and its growth per pod over
# the same without the collector; the number of kube_pod_* samples exposed. The server pages lists by the
# client's `limit` (500) with `continue` tokens, as the API server does.
# No reference tool: no registry here ships kube-state-metrics or a kube-apiserver.
#
#   scripts/bench/kubernetes.sh [N ...]      # default: 1000 5000 20000
#   MNO_BIN=path scripts/bench/kubernetes.sh # an already built binary (with --features kubernetes)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(1000 5000 20000)

if [ -n "${MNO_BIN:-}" ]; then
  BIN=$MNO_BIN
else
  CARGO_INCREMENTAL=0 cargo build --release --quiet -p machinenativenops-auto-monitor \
    --features kubernetes --bin machinenativenops-auto-monitor
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/machinenativenops-auto-monitor"
fi

WORK=$(mktemp -d)
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The replay server: paged lists from $WORK/lists/<path>.json; watches stay open and quiet.
cat >"$WORK/server.py" <<'PY'
import http.server, json, os, sys, time, socketserver, urllib.parse
ROOT = sys.argv[1]
cache = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if q.get("watch") in ("true", "1"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3600)  # a quiet watch; the agent hangs up when it exits
            return
        f = os.path.join(ROOT, u.path.strip("/").replace("/", "_") + ".json")
        if not os.path.exists(f):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        key = (f, os.path.getmtime(f))
        if key not in cache:
            cache[key] = json.load(open(f))
        full = cache[key]
        start, limit = int(q.get("continue") or 0), int(q.get("limit") or 0)
        items = full["items"]
        page = dict(full, metadata=dict(full["metadata"]))
        if limit and start + limit < len(items):
            page["items"] = items[start:start + limit]
            page["metadata"]["continue"] = str(start + limit)
        else:
            page["items"] = items[start:]
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY

gen() { # N -> lists in $WORK/lists
  rm -rf "$WORK/lists"
  python3 - "$1" "$WORK/lists" "$ROOT/engine/machinenativenops-auto-monitor/tests/fixtures/kubernetes" <<'PY'
import json, os, sys, copy
n, out, fx = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
def put(path, obj):
    with open(os.path.join(out, path.strip("/").replace("/", "_") + ".json"), "w") as f:
        json.dump(obj, f)
tpl = json.load(open(f"{fx}/default/pods.json"))["items"][1]
items = []
for i in range(n):
    p = copy.deepcopy(tpl)
    p["metadata"]["name"] = f"web-6b7c9d8f5-{i:06d}"
    p["metadata"]["uid"] = f"00000000-0000-4000-8000-{i:012d}"
    items.append(p)
put("/api/v1/namespaces/default/pods", {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1000"}, "items": items})
for path, name in [("/api/v1/namespaces/default/services", "services"),
                   ("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "endpointslices"),
                   ("/apis/apps/v1/namespaces/default/deployments", "deployments"),
                   ("/api/v1/nodes", "nodes")]:
    src = f"{fx}/nodes.json" if name == "nodes" else f"{fx}/default/{name}.json"
    put(path, json.load(open(src)))
PY
}

python3 "$WORK/server.py" "$WORK/lists" >"$WORK/port" &
PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")
cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "http://127.0.0.1:$PORT"}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
users: [{name: bench, user: {token: bench}}]
EOF
common="monitoring: {interval: 1}
services: {auto_discover: false, discovery_namespaces: [default]}
logging: {file: $WORK/monitor.log}"
printf '%s\n' "$common" >"$WORK/off.yaml"
printf '%s\ncollectors:\n  kubernetes: {enabled: true, kubeconfig: %s, sync_timeout_seconds: 120}\n' \
  "$common" "$WORK/kubeconfig" >"$WORK/on.yaml"

run_once() { # config -> $WORK/result: "seconds peak_rss_kib kube_pod_samples"
  if ! /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --config "$1" collect --once >"$WORK/out" 2>"$WORK/err"; then
    cat "$WORK/err" >&2
    exit 1
  fi
  if grep -q 'mno_collector_success{collector="kubernetes"} 0' "$WORK/out"; then
    echo "the kubernetes collector failed:" >&2
    cat "$WORK/err" >&2
    exit 1
  fi
  echo "$(cat "$WORK/time") $(grep -c '^kube_pod_' "$WORK/out" || true)" >"$WORK/result"
}

steady_rss() { # config, a line the output must show -> $WORK/rss: VmRSS in KiB
  # `collect` (not --once) ticks every second with no store or alerting behind it, so its
  # growth over the run without the collector is the collector's (stores, rendering).
  local agent
  "$BIN" --config "$1" collect >"$WORK/ticks" 2>"$WORK/ticks.err" &
  agent=$!
  for _ in $(seq 1 1200); do
    grep -q "$2" "$WORK/ticks" 2>/dev/null && break
    sleep 0.1
  done
  sleep 3 # a few ticks after the lists
  awk '/^VmRSS/ { print $2 }' "/proc/$agent/status" >"$WORK/rss"
  kill "$agent"
  wait "$agent" 2>/dev/null || true
}

gen 0
run_once "$WORK/off.yaml"
read -r base_s base_kib _ <"$WORK/result"
steady_rss "$WORK/off.yaml" mno_build_info
base_rss=$(cat "$WORK/rss")
echo "binary: $BIN"
echo "collector off: collect --once ${base_s}s, peak ${base_kib} KiB; ticking collect VmRSS ${base_rss} KiB"
printf '%7s %9s %7s %11s %11s %12s %8s\n' pods list_MiB once_s once_peak tick_rss rss_per_pod samples
for n in "${SIZES[@]}"; do
  gen "$n"
  bytes=$(stat -c %s "$WORK/lists/api_v1_namespaces_default_pods.json")
  run_once "$WORK/on.yaml"
  read -r s kib samples <"$WORK/result"
  steady_rss "$WORK/on.yaml" kube_pod_status_phase
  rss=$(cat "$WORK/rss")
  per=$(((rss - base_rss) * 1024 / (n > 0 ? n : 1)))
  printf '%7d %9.1f %7s %8d KiB %7d KiB %10d B %8d\n' "$n" \
    "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$s" "$kib" "$rss" "$per" "$samples"
done
