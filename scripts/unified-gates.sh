#!/usr/bin/env bash
# The unified gates run: what .github/workflows/machine-native-ops-unified-gates.yml does on a
# pull request, runnable on a workstation with the same steps.
#
#   scripts/unified-gates.sh [run] [OPTIONS]   start, gate, stop (the default; exit 0 PASSED,
#                                              1 FAILED, 2 ERROR or could not run)
#   scripts/unified-gates.sh start [OPTIONS]   start Redis (with --redis), the Auto-Monitor and
#                                              the SuperAgent; wait for their /health
#   scripts/unified-gates.sh gate  [OPTIONS]   send the GateValidationRequest, wait for the
#                                              result, collect reports, evidence, metrics
#   scripts/unified-gates.sh stop  [--out DIR] stop what `start` started (safe to repeat)
#
# Options (environment in brackets; the GITHUB_* variables are what Actions sets):
#   --repo DIR            tree to validate (default: this checkout)
#   --out DIR             report folder (default: target/unified-gates) [MNO_GATES_OUT]
#   --bin-dir DIR         folder holding super-agent and machinenativenops-auto-monitor;
#                         default: build them with `cargo build --release` [MNO_BIN_DIR]
#   --agent-port N        SuperAgent port (default 8082); --monitor-port N Auto-Monitor (8000)
#   --redis               start redis-server on --redis-port (default 6379) and export
#                         MNO_REDIS_URL to both services
#   --redis-url URL       use this Redis (a CI service container) [MNO_REDIS_URL]
#   --checks LIST         comma-separated checks (default: all five)
#   --pr N                pull request number [GITHUB_EVENT_PATH, GITHUB_REF refs/pull/N/…]
#   --commit SHA          commit (default: the tree's HEAD, which the evidence binds)
#   --repository O/R      [GITHUB_REPOSITORY]; --base-ref/--head-ref [GITHUB_BASE_REF/HEAD_REF]
#   --timeout S           seconds to wait for the gate (default 1800)
#
# Files under --out: report.md (the gate report plus the services' metrics; also appended to
# $GITHUB_STEP_SUMMARY when set), response.json, reports/ (report.json, report.md,
# report.sarif, junit.xml and patches/ when the gate proposes fixes), patches/ (when the
# server keeps them beside the reports instead), evidence/ (the signed
# chain, its public key and `evidence verify` output; never the signing key), metrics/
# (both services' /metrics), logs/. Service state (data directories, pids, the token) lives in
# --out/state, which is not an artifact.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CMD=run
case "${1:-}" in
  run | start | gate | stop) CMD=$1; shift ;;
esac

REPO=$ROOT
OUT=${MNO_GATES_OUT:-$ROOT/target/unified-gates}
BIN_DIR=${MNO_BIN_DIR:-}
AGENT_PORT=8082
MONITOR_PORT=8000
START_REDIS=0
REDIS_PORT=6379
REDIS_URL=${MNO_REDIS_URL:-}
CHECKS=schema_validation,module_registry,naming_conventions,build_verification,security_scan
PR=""
COMMIT=""
REPOSITORY=${GITHUB_REPOSITORY:-}
BASE_REF=${GITHUB_BASE_REF:-}
HEAD_REF=${GITHUB_HEAD_REF:-}
TIMEOUT=1800

die() { echo "unified-gates: $*" >&2; exit 2; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) need_arg "$@"; REPO=$2; shift ;;
    --out) need_arg "$@"; OUT=$2; shift ;;
    --bin-dir) need_arg "$@"; BIN_DIR=$2; shift ;;
    --agent-port) need_arg "$@"; AGENT_PORT=$2; shift ;;
    --monitor-port) need_arg "$@"; MONITOR_PORT=$2; shift ;;
    --redis) START_REDIS=1 ;;
    --redis-port) need_arg "$@"; REDIS_PORT=$2; shift ;;
    --redis-url) need_arg "$@"; REDIS_URL=$2; shift ;;
    --checks) need_arg "$@"; CHECKS=$2; shift ;;
    --pr) need_arg "$@"; PR=$2; shift ;;
    --commit) need_arg "$@"; COMMIT=$2; shift ;;
    --repository) need_arg "$@"; REPOSITORY=$2; shift ;;
    --base-ref) need_arg "$@"; BASE_REF=$2; shift ;;
    --head-ref) need_arg "$@"; HEAD_REF=$2; shift ;;
    --timeout) need_arg "$@"; TIMEOUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STATE=$OUT/state
log() { printf 'unified-gates: %s\n' "$*" >&2; }

# --- stop ---------------------------------------------------------------------------------
# Only the processes `start` recorded, each checked against the executable it was started as
# (a pid reused by something else is left alone). TERM, then KILL after 15 s.
stop_services() {
  [ -f "$STATE/pids" ] || return 0
  local name pid exe
  while read -r name pid exe; do
    [ -n "$pid" ] || continue
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done <"$STATE/pids"
  local deadline=$((SECONDS + 15))
  while read -r name pid exe; do
    while [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && [ $SECONDS -lt $deadline ]; do
      sleep 0.2
    done
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
      log "$name (pid $pid) ignored SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$STATE/pids"
  rm -f "$STATE/pids"
  # The services' logs are artifacts.
  mkdir -p "$OUT/logs"
  cp "$STATE"/*.log "$OUT/logs/" 2>/dev/null || true
}

# --- start --------------------------------------------------------------------------------
resolve_bins() {
  if [ -z "$BIN_DIR" ]; then
    log "building super-agent and machinenativenops-auto-monitor (release)"
    (cd "$ROOT" && cargo build --release --locked -p super-agent -p machinenativenops-auto-monitor)
    BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
  fi
  BIN_DIR=$(cd "$BIN_DIR" && pwd)
  AGENT_BIN=$BIN_DIR/super-agent
  MONITOR_BIN=$BIN_DIR/machinenativenops-auto-monitor
  [ -x "$AGENT_BIN" ] || die "no executable $AGENT_BIN"
  [ -x "$MONITOR_BIN" ] || die "no executable $MONITOR_BIN"
}

# Wait until `url` answers 200; fail early (with the log's end) when the process died.
wait_http() {
  local name=$1 url=$2 pid=$3 deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      log "$name is up: $url"
      return 0
    fi
    if ! alive "$pid"; then
      log "$name exited before $url answered; its log:"
      tail -n 20 "$STATE/$name.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
  log "$name did not answer $url within 60 s; its log:"
  tail -n 20 "$STATE/$name.log" >&2 || true
  return 1
}

# spawn NAME EXE [VAR=VALUE…] -- ARGS…: start EXE in the state folder with those variables, its
# output in NAME.log; recorded with its resolved executable for `stop`.
spawn() {
  local name=$1 exe=$2
  shift 2
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  (cd "$STATE" && exec env "${vars[@]}" "$exe" "$@") >"$STATE/$name.log" 2>&1 </dev/null &
  LAST_PID=$!
  echo "$name $LAST_PID $(readlink -f "$exe")" >>"$STATE/pids"
}

# Whether pid runs (a zombie whose parent has not reaped it does not).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

start_services() {
  resolve_bins
  stop_services
  rm -rf "$STATE"
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  local token
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$token" >"$STATE/token")
  {
    echo "AGENT_URL=http://127.0.0.1:$AGENT_PORT"
    echo "MONITOR_URL=http://127.0.0.1:$MONITOR_PORT"
    echo "AGENT_BIN=$AGENT_BIN"
  } >"$STATE/env"

  if [ "$START_REDIS" = 1 ]; then
    command -v redis-server >/dev/null || die "--redis: redis-server is not installed"
    spawn redis "$(command -v redis-server)" -- --port "$REDIS_PORT" --bind 127.0.0.1 \
      --save '' --appendonly no --daemonize no
    local deadline=$((SECONDS + 20))
    until (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; do
      alive "$LAST_PID" || { tail -n 20 "$STATE/redis.log" >&2; die "redis-server exited"; }
      [ $SECONDS -lt $deadline ] || die "redis-server did not listen on $REDIS_PORT"
      sleep 0.2
    done
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT
    log "redis-server is up: $REDIS_URL"
  fi
  if [ -n "$REDIS_URL" ]; then
    export MNO_REDIS_URL=$REDIS_URL
  fi

  # The Auto-Monitor: embedded defaults, its data under state/, a short interval so the
  # gate report's monitor section has samples.
  mkdir -p "$STATE/auto-monitor"
  spawn auto-monitor "$MONITOR_BIN" MNO_DB_PATH="$STATE/auto-monitor/metrics.db" MNO_LOG_FILE="" \
    -- serve --bind 127.0.0.1 --port "$MONITOR_PORT" --interval 5
  wait_http auto-monitor "http://127.0.0.1:$MONITOR_PORT/health" "$LAST_PID" || die "the Auto-Monitor did not start"

  # The SuperAgent: a token (build_verification runs commands, which needs one), the tree
  # as its only allowed root, the monitor for the report's monitor section.
  spawn super-agent "$AGENT_BIN" MNO_AGENT_TOKEN="$token" MNO_AGENT_MONITOR_URL="http://127.0.0.1:$MONITOR_PORT" \
    -- serve --bind 127.0.0.1 --port "$AGENT_PORT" --data-dir "$STATE/super-agent" --allowed-root "$REPO"
  wait_http super-agent "http://127.0.0.1:$AGENT_PORT/health" "$LAST_PID" || die "the SuperAgent did not start"
}

# --- gate ---------------------------------------------------------------------------------
pr_number() {
  if [ -n "$PR" ]; then echo "$PR"; return; fi
  if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
    local n
    n=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print((e.get("pull_request") or {}).get("number") or e.get("number") or "")' "$GITHUB_EVENT_PATH")
    if [ -n "$n" ]; then echo "$n"; return; fi
  fi
  if [[ "${GITHUB_REF:-}" =~ ^refs/pull/([0-9]+)/ ]]; then echo "${BASH_REMATCH[1]}"; return; fi
  echo 1   # a local run: no pull request; the number only names the validation
}

run_gate() {
  [ -f "$STATE/env" ] || die "nothing started: run \`$0 start\` first"
  # shellcheck disable=SC1091
  . "$STATE/env"
  local token pr commit repository
  token=$(cat "$STATE/token")
  REPO=$(cd "$REPO" && pwd)
  pr=$(pr_number)
  commit=${COMMIT:-$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo "${GITHUB_SHA:-}")}
  [ -n "$commit" ] || die "no commit: $REPO is not a git checkout and --commit was not given"
  repository=${REPOSITORY:-local/$(basename "$REPO")}

  rm -rf "$OUT/reports" "$OUT/patches" "$OUT/evidence" "$OUT/metrics" "$OUT/report.md" "$OUT/response.json"
  mkdir -p "$OUT/reports" "$OUT/evidence" "$OUT/metrics"

  python3 - "$pr" "$commit" "$repository" "$BASE_REF" "$HEAD_REF" "$CHECKS" "$REPO" >"$STATE/request.json" <<'PY'
import json, sys, uuid
pr, commit, repository, base_ref, head_ref, checks, root = sys.argv[1:]
known = ["schema_validation", "module_registry", "naming_conventions", "build_verification", "security_scan"]
wanted = [c for c in checks.split(",") if c]
unknown = [c for c in wanted if c not in known]
if unknown:
    sys.exit(f"unified-gates: unknown check(s) {', '.join(unknown)} (known: {', '.join(known)})")
metadata = {"pr_number": int(pr), "commit_sha": commit, "repository": repository}
if base_ref: metadata["base_ref"] = base_ref
if head_ref: metadata["head_ref"] = head_ref
print(json.dumps({
    "meta": {"trace_id": f"unified-gates-{uuid.uuid4().hex[:16]}", "source_agent": "unified-gates",
             "target_agent": "super-agent", "message_type": "GateValidationRequest", "schema_version": "1.0"},
    "payload": {"metadata": metadata,
                "validation_requirements": {c: c in wanted for c in known},
                "artifacts": {"root": root}},
}))
PY
  log "GateValidationRequest: PR #$pr, $repository@$commit, checks $CHECKS"

  # POST /message waits for the result; a gate longer than the server's wait_timeout is
  # answered 202 with the job, which is then polled.
  local code body=$STATE/message-answer.json
  code=$(curl -sS -o "$body" -w '%{http_code}' --max-time 600 \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    --data-binary @"$STATE/request.json" "$AGENT_URL/message") || die "POST /message failed"
  case "$code" in
    200) python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["processing_result"]))' "$body" >"$OUT/response.json" ;;
    202)
      local id deadline=$((SECONDS + TIMEOUT)) status=""
      id=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["processing_result"]; print(r["validation_id"])' "$body")
      log "the gate runs as job $id; polling"
      while [ $SECONDS -lt $deadline ]; do
        curl -fsS "$AGENT_URL/api/v1/gates/$id" -o "$STATE/job.json" || die "GET job $id failed"
        status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$STATE/job.json")
        case "$status" in PASSED | FAILED | ERROR) break ;; esac
        sleep 2
      done
      case "$status" in PASSED | FAILED | ERROR) ;; *) die "the gate did not finish within $TIMEOUT s" ;; esac
      python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["response"]))' "$STATE/job.json" >"$OUT/response.json"
      ;;
    *) cat "$body" >&2; echo >&2; die "POST /message answered HTTP $code" ;;
  esac

  local status id
  status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["overall_status"])' "$OUT/response.json")
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["validation_id"])' "$OUT/response.json")

  # Reports (and patches/ when the gate proposed fixes) as the server wrote them.
  if [ -d "$STATE/super-agent/reports/$id" ]; then
    cp -R "$STATE/super-agent/reports/$id/." "$OUT/reports/"
  fi
  # Proposed fixes, wherever the server keeps them: in the job's report folder (copied above)
  # or in a patches/ folder beside the reports.
  if [ -d "$STATE/super-agent/patches/$id" ]; then
    mkdir -p "$OUT/patches"
    cp -R "$STATE/super-agent/patches/$id/." "$OUT/patches/"
  fi
  # The evidence chain and its public key; the signing key stays behind.
  local ev=$STATE/super-agent/evidence
  if [ -f "$ev/evidence.jsonl" ]; then
    cp "$ev/evidence.jsonl" "$ev/evidence.pub" "$OUT/evidence/"
    "$AGENT_BIN" evidence verify "$ev" --pubkey "$ev/evidence.pub" >"$OUT/evidence/verify.txt" 2>&1 \
      || { cat "$OUT/evidence/verify.txt" >&2; die "the evidence chain does not verify"; }
  fi
  curl -fsS "$AGENT_URL/metrics" -o "$OUT/metrics/super-agent.prom" || log "could not read the SuperAgent's /metrics"
  curl -fsS "$MONITOR_URL/metrics" -o "$OUT/metrics/auto-monitor.prom" || log "could not read the Auto-Monitor's /metrics"

  {
    if [ -f "$OUT/reports/report.md" ]; then cat "$OUT/reports/report.md"; else echo "# Gate $id: $status"; fi
    echo
    echo "## Service metrics"
    echo
    echo "Scraped from both services after the run (full files: \`metrics/\` in the artifacts)."
    echo
    echo '```'
    grep -hE '^(mno_agent_gate_runs_total|mno_agent_gate_findings_total|mno_agent_gate_duration_seconds_(sum|count)|mno_agent_evidence_records|mno_agent_messages_total)' \
      "$OUT/metrics/super-agent.prom" 2>/dev/null || true
    grep -hE '^(mno_cpu_usage_percent|mno_memory_usage_percent|mno_disk_usage_percent|mno_collector_success|mno_build_info)' \
      "$OUT/metrics/auto-monitor.prom" 2>/dev/null || true
    echo '```'
  } >"$OUT/report.md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$OUT/report.md" >>"$GITHUB_STEP_SUMMARY"
  fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    { echo "status=$status"; echo "validation_id=$id"; } >>"$GITHUB_OUTPUT"
  fi

  log "$id: $status (report: $OUT/report.md)"
  case "$status" in
    PASSED) return 0 ;;
    FAILED)
      python3 - "$OUT/response.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for check, res in sorted(r.get("validation_results", {}).items()):
    for f in res.get("findings", []):
        if f.get("severity") == "error":
            print(f"  {check}: {f.get('file')}:{f.get('line')}: {f.get('rule_id')} {f.get('message')}")
PY
      return 1 ;;
    *) return 2 ;;
  esac
}

case "$CMD" in
  start) start_services ;;
  stop) stop_services ;;
  gate) run_gate ;;
  run)
    trap stop_services EXIT
    trap 'exit 130' INT TERM
    start_services
    rc=0
    run_gate || rc=$?
    exit "$rc"
    ;;
esac
