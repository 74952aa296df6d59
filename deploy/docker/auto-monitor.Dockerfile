# syntax=docker/dockerfile:1
# The Auto-Monitor image. Build from the repository root:
#   docker build -f deploy/docker/auto-monitor.Dockerfile -t machinenativenops-auto-monitor .
# Stage 1 builds the size-optimised `agent` profile (what scripts/install.sh ships) with the
# Kubernetes collector compiled in (off until `collectors.kubernetes.enabled`); stage 2 is
# a distroless glibc image with the binary only, running as nobody.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --profile agent -p machinenativenops-auto-monitor --features kubernetes \
 && install -D -m 0755 target/agent/machinenativenops-auto-monitor /out/machinenativenops-auto-monitor

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/machinenativenops-auto-monitor /usr/bin/machinenativenops-auto-monitor
COPY engine/machinenativenops-auto-monitor/rootfs/etc/machinenativenops/monitor.yaml /etc/machinenativenops/monitor.yaml
# Containers are scraped from outside: listen on every address of the container's network.
ENV MNO_BIND=0.0.0.0 \
    MNO_DB_PATH=/var/lib/machinenativenops/auto_monitor/metrics.db \
    MNO_LOG_FILE=""
USER 65534:65534
EXPOSE 8000
VOLUME ["/var/lib/machinenativenops"]
ENTRYPOINT ["/usr/bin/machinenativenops-auto-monitor", "--config", "/etc/machinenativenops/monitor.yaml"]
CMD ["serve"]
