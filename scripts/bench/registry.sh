#!/usr/bin/env bash
# Benchmark: `super-agent registry check` on a generated registry of 5,000 modules with
# 20,000 dependency edges (the check, the load plan, and reading the YAML text).
# Target: under 100 ms. Prints the median and best of 15 runs.
#
#   scripts/bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --quiet -p mno-registry --bench check
