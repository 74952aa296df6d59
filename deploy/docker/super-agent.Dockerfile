# syntax=docker/dockerfile:1
# The SuperAgent image. Build from the repository root:
#   docker build -f deploy/docker/super-agent.Dockerfile -t super-agent .
# Stage 1 builds the release binary; stage 2 is Debian slim with git (the gate reads tracked
# files and binds evidence to commits through git) and ca-certificates, running as nobody.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p super-agent \
 && install -D -m 0755 target/release/super-agent /out/super-agent

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git=1:2.39.* ca-certificates=20230311* \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o 65534 -g 65534 /var/lib/machinenativenops/super-agent /srv/checkouts
COPY --from=build /out/super-agent /usr/bin/super-agent
ENV MNO_AGENT_BIND=0.0.0.0 \
    MNO_AGENT_DATA_DIR=/var/lib/machinenativenops/super-agent \
    MNO_AGENT_ALLOWED_ROOTS=/srv/checkouts
USER 65534:65534
WORKDIR /srv/checkouts
EXPOSE 8082
VOLUME ["/var/lib/machinenativenops/super-agent"]
ENTRYPOINT ["/usr/bin/super-agent"]
CMD ["serve"]
