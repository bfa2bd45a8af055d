# One image for every process of the suite: the six services and crm-admin. docker-compose.yml
# picks the executable per container (command:). Build: docker build -t crm-suite .
#
# Stage 1 builds release binaries with the Swift runtime linked statically; stage 2 is a slim
# Debian with only the C libraries they load (nghttp2, SQLite).
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libnghttp2-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not re-fetch them.
COPY Package.swift ./
RUN swift package resolve
COPY . .
RUN set -eux; \
    for product in crm-gateway crm-leads crm-customers crm-opportunities crm-tickets crm-forecast crm-admin; do \
        swift build -c release --static-swift-stdlib --product "$product"; \
    done; \
    bin="$(swift build -c release --show-bin-path)"; \
    mkdir -p /out; \
    cp "$bin"/crm-gateway "$bin"/crm-leads "$bin"/crm-customers "$bin"/crm-opportunities "$bin"/crm-tickets "$bin"/crm-forecast "$bin"/crm-admin /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libnghttp2-14 libsqlite3-0 libstdc++6 tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home crm
COPY --from=build /out/ /usr/local/bin/
USER crm
WORKDIR /data
VOLUME /data
# Processes shut down gracefully on SIGTERM (in-flight calls finish, exit 0).
STOPSIGNAL SIGTERM
CMD ["crm-admin", "--help"]
