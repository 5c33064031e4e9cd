# syntax=docker/dockerfile:1
#
# chatwarden container image: one static binary on distroless, running as
# the unprivileged "nonroot" user (uid 65532).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t chatwarden .
#   docker run -p 8080:8080 -v chatwarden-data:/var/lib/chatwarden chatwarden
#
# Without --config, `serve` runs with the built-in defaults: an embedded NATS
# server storing under /var/lib/chatwarden/data (mount a volume there to keep
# accepted webhooks across restarts). docker-compose.yml runs the receiver and
# workers against a NATS server instead.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that code changes reuse the module download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/chatwarden/chatwarden/cli.Version=${VERSION}" -o /chatwarden ./cmd/chatwarden
# The working directory of the final image, writable by nonroot: the default
# nats.data_dir "./data" lands in /var/lib/chatwarden/data.
RUN mkdir -p /out/var/lib/chatwarden

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /chatwarden /chatwarden
COPY --from=build --chown=65532:65532 /out/var/lib/chatwarden /var/lib/chatwarden
WORKDIR /var/lib/chatwarden
USER nonroot:nonroot
# 8080: webhooks and probes (http.addr). The admin listener (admin.addr)
# is 127.0.0.1:9090 by default; expose it (and set admin.token) only on a
# private network.
EXPOSE 8080
# The image has no shell, curl or wget: the binary probes itself. The URL
# assumes the default http.addr (:8080); docker-compose.yml sets its own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/chatwarden", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/chatwarden"]
CMD ["serve"]
