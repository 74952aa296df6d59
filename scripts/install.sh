#!/usr/bin/env bash
# Install the Auto-Monitor on this host in one command:
#
#   sudo scripts/install.sh            # build, install binary, config, systemd unit; enable it
#
# Environment: PREFIX (default /usr/local), DESTDIR (stage into a directory instead of /,
# for packaging; nothing is started then), BIN (install this prebuilt binary instead of
# building). An existing /etc/machinenativenops/monitor.yaml is never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
ROOTFS=engine/machinenativenops-auto-monitor/rootfs

if [ -z "${BIN:-}" ]; then
  # The size-optimised `agent` profile: code size is resident memory (docs/performance.md).
  cargo build --profile agent --locked --bin machinenativenops-auto-monitor
  BIN=target/agent/machinenativenops-auto-monitor
fi

install -D -m 0755 "$BIN" "$DESTDIR$PREFIX/bin/machinenativenops-auto-monitor"
unit="$DESTDIR/etc/systemd/system/machinenativenops-auto-monitor.service"
install -D -m 0644 "$ROOTFS/etc/systemd/system/machinenativenops-auto-monitor.service" "$unit"
if [ "$PREFIX" != /usr/local ]; then
  sed -i "s|/usr/local/bin/|$PREFIX/bin/|" "$unit"
fi
cfg="$DESTDIR/etc/machinenativenops/monitor.yaml"
if [ -e "$cfg" ]; then
  echo "keeping existing $cfg"
else
  install -D -m 0644 "$ROOTFS/etc/machinenativenops/monitor.yaml" "$cfg"
fi
"$DESTDIR$PREFIX/bin/machinenativenops-auto-monitor" --config "$cfg" config validate

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now machinenativenops-auto-monitor.service
  echo "started: curl http://127.0.0.1:8000/metrics"
else
  echo "installed under ${DESTDIR:-/} (systemd not running here: start it with"
  echo "  $PREFIX/bin/machinenativenops-auto-monitor --config /etc/machinenativenops/monitor.yaml serve)"
fi
