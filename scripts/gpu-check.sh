#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and driver: build the Auto-Monitor with the `gpu` feature,
# run the GPU collector's tests, then collect once with the collector on and print what it
# exports (DCGM_* families, mno_gpu_available and the collector's success).
#
#   scripts/gpu-check.sh            # exit status 0 only when NVML loaded and DCGM_* samples came out
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "note: nvidia-smi not found"
cargo build --locked -p machinenativenops-auto-monitor --features gpu
cargo test --locked -p machinenativenops-auto-monitor --features gpu --lib collectors::gpu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'collectors:\n  gpu: true\n' >"$dir/config.yaml"
out=$(MNO_DB_PATH="$dir/metrics.db" MNO_LOG_FILE= \
  "${CARGO_TARGET_DIR:-target}/debug/machinenativenops-auto-monitor" --config "$dir/config.yaml" collect --once)
printf '%s\n' "$out" | grep -E '^(DCGM_|mno_gpu_available|mno_collector_success\{collector="gpu"\})' || true
printf '%s\n' "$out" | grep -q '^mno_gpu_available 1' || { echo "FAIL: NVML not available" >&2; exit 1; }
printf '%s\n' "$out" | grep -q '^DCGM_FI_DEV_GPU_UTIL{' || { echo "FAIL: no DCGM_FI_DEV_GPU_UTIL" >&2; exit 1; }
echo "OK: $(printf '%s\n' "$out" | grep -c '^DCGM_') DCGM samples"
