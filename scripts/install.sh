#!/usr/bin/env bash
# Install the Auto-Monitor and the SuperAgent on this host in one command:
#
#   sudo scripts/install.sh            # build, install binaries, configs, systemd units; enable them
#
# Environment: PREFIX (default /usr/local), DESTDIR (stage into a directory instead of /,
# for packaging; nothing is started then), BIN and AGENT_BIN (install these prebuilt
# binaries of the Auto-Monitor and the SuperAgent instead of building; when only one is
# given, only that service is installed). Existing files in /etc/machinenativenops are never
# overwritten. Files come from engine/machinenativenops-auto-monitor/rootfs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
ROOTFS=engine/machinenativenops-auto-monitor/rootfs
BIN=${BIN:-}
AGENT_BIN=${AGENT_BIN:-}

if [ -z "$BIN" ] && [ -z "$AGENT_BIN" ]; then
  # The Auto-Monitor in the size-optimised `agent` profile: code size is resident memory
  # (docs/performance.md); the SuperAgent in `release` (its scanners are speed-bound).
  cargo build --profile agent --locked --bin machinenativenops-auto-monitor
  cargo build --release --locked --bin super-agent
  BIN=${CARGO_TARGET_DIR:-target}/agent/machinenativenops-auto-monitor
  AGENT_BIN=${CARGO_TARGET_DIR:-target}/release/super-agent
fi

units=()
# install_unit NAME: the unit from rootfs, its ExecStart pointed at PREFIX.
install_unit() {
  local unit="$DESTDIR/etc/systemd/system/$1"
  install -D -m 0644 "$ROOTFS/etc/systemd/system/$1" "$unit"
  # rootfs (and the .deb) run the binaries from /usr/bin.
  sed -i "/^ExecStart=/s|=/usr/bin/|=$PREFIX/bin/|" "$unit"
  units+=("$1")
}
# install_config NAME: the config from rootfs unless the operator already has one.
install_config() {
  local cfg="$DESTDIR/etc/machinenativenops/$1"
  if [ -e "$cfg" ]; then
    echo "keeping existing $cfg"
  else
    install -D -m 0644 "$ROOTFS/etc/machinenativenops/$1" "$cfg"
  fi
}

if [ -n "$BIN" ]; then
  install -D -m 0755 "$BIN" "$DESTDIR$PREFIX/bin/machinenativenops-auto-monitor"
  install_unit machinenativenops-auto-monitor.service
  install_config monitor.yaml
  "$DESTDIR$PREFIX/bin/machinenativenops-auto-monitor" --config "$DESTDIR/etc/machinenativenops/monitor.yaml" config validate
fi
if [ -n "$AGENT_BIN" ]; then
  install -D -m 0755 "$AGENT_BIN" "$DESTDIR$PREFIX/bin/super-agent"
  install_unit machinenativenops-super-agent.service
  install_config super-agent.yaml
  # The checkouts gate requests may name (allowed_roots in super-agent.yaml).
  install -d -m 0755 "$DESTDIR/srv/machinenativenops/checkouts"
  # Validated as installed; staged (DESTDIR), the allowed root that must exist is the staged one.
  check=$DESTDIR/etc/machinenativenops/super-agent.yaml
  if [ -n "$DESTDIR" ]; then
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    sed "s|/srv/machinenativenops/checkouts|$DESTDIR/srv/machinenativenops/checkouts|" "$check" >"$tmp"
    check=$tmp
  fi
  "$DESTDIR$PREFIX/bin/super-agent" config validate --config "$check"
fi
# The wrapper: either service's command line against the installed configuration.
install -D -m 0755 "$ROOTFS/usr/bin/machinenativenops" "$DESTDIR/usr/bin/machinenativenops"
sed -i "s|^BINDIR=\${MNO_BIN_DIR:-/usr/bin}|BINDIR=\${MNO_BIN_DIR:-$PREFIX/bin}|" "$DESTDIR/usr/bin/machinenativenops"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now "${units[@]}"
  echo "started ${units[*]}: machinenativenops status"
else
  echo "installed under ${DESTDIR:-/} (systemd not running here: start the services with"
  [ -n "$BIN" ] && echo "  $PREFIX/bin/machinenativenops-auto-monitor --config /etc/machinenativenops/monitor.yaml serve"
  [ -n "$AGENT_BIN" ] && echo "  $PREFIX/bin/super-agent serve --config /etc/machinenativenops/super-agent.yaml"
  echo ")"
fi
