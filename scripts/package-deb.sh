#!/usr/bin/env bash
# Build the `machinenativenops` Debian package (both services, configs, units, wrapper) with
# cargo-deb (`cargo install cargo-deb --locked`):
#
#   scripts/package-deb.sh                 # release build of both binaries, then the .deb
#   scripts/package-deb.sh --no-build      # package binaries already in target/release
#   CARGO_TARGET_DIR=T scripts/package-deb.sh --no-build --fast --output DIR   # the test: T/release
#                                          # holds prebuilt (debug) binaries
#
# The package metadata is [package.metadata.deb] in engine/machinenativenops-auto-monitor/
# Cargo.toml. A release build takes about 6 minutes on 2 cores from clean, so CI checks the
# metadata with prebuilt debug binaries (tests/package_deb.rs) and builds the real package
# only when asked (this script).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=release
BUILD=1
OUTPUT=${CARGO_TARGET_DIR:-target}/debian
FAST=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --profile) PROFILE=$2; shift ;;
    --output) OUTPUT=$2; shift ;;
    --fast) FAST=(--fast) ;;   # quicker, larger compression (tests)
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
command -v cargo-deb >/dev/null || { echo "package-deb: cargo-deb is not installed (cargo install cargo-deb --locked)" >&2; exit 2; }
if [ "$BUILD" = 1 ]; then
  cargo build --locked --profile "$PROFILE" -p machinenativenops-auto-monitor -p super-agent
fi
mkdir -p "$OUTPUT"
cargo deb --locked --no-build --profile "$PROFILE" -p machinenativenops-auto-monitor --output "$OUTPUT" "${FAST[@]}"
