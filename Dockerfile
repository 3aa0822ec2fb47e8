# syntax=docker/dockerfile:1
# The FD2 image: one static binary (Caddy + standard modules + every FD2 module) on distroless, run as a
# numeric non-root user and fit for a read-only root filesystem. dockerfile_test.go checks these properties.
#
#   docker build -t fd2 --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse --short HEAD)" --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --read-only -p 8080:8080 -v fd2-data:/data fd2        # the demo (Caddyfile.example)
#
# Your own config: mount a Caddyfile over /etc/fd2/Caddyfile and give its {env.X} placeholders their values
# as environment (a JSON config: mount it and run `run --config /etc/fd2/fd2.json`):
#
#   docker run --read-only -p 8080:8080 -v fd2-data:/data -v "$PWD/Caddyfile:/etc/fd2/Caddyfile:ro" \
#     -e CT_SECRET -e FD2_CACHE_KEY fd2
#
# In that config keep `admin localhost:2019` (the admin API is never published; reload from inside:
# `docker exec <ctr> fd2 reload --config /etc/fd2/Caddyfile`), put `last_good /data/last-good` in the dsp
# options so the last-good manifests outlive the container, and if /health is not at :8080 set
# FD2_HEALTH_URL for the HEALTHCHECK.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Stamped into internal/buildinfo; left empty, `fd2 version` reports "dev".
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags="-s -w -X github.com/dsp-ai/fd2/internal/buildinfo.Version=${VERSION} -X github.com/dsp-ai/fd2/internal/buildinfo.Commit=${COMMIT} -X github.com/dsp-ai/fd2/internal/buildinfo.Date=${DATE}" \
	-o /out/fd2 ./cmd/fd2
# The volumes' mount points, owned by the runtime user: distroless has no shell to create them, and a named
# volume starts as a copy of the image's directory, owner included.
RUN mkdir -p /out/volume

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fd2 /usr/bin/fd2
COPY Caddyfile.example /etc/fd2/Caddyfile
COPY internal/defaultmanifests /srv/fd2/internal/defaultmanifests
COPY --from=build --chown=65532:65532 /out/volume /data
COPY --from=build --chown=65532:65532 /out/volume /config
# Caddy keeps its data (certificates, ACME accounts, instance id) under XDG_DATA_HOME/caddy and its config
# autosave under XDG_CONFIG_HOME/caddy; multipart uploads (transcriptions) spool to /tmp. With a read-only
# root filesystem these are the only places written, so each is a volume (in Kubernetes: emptyDir or PVC).
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
VOLUME ["/data", "/config", "/tmp"]
# distroless's nonroot user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /srv/fd2
# The gateway only: the admin endpoint (2019) listens on localhost inside the container.
EXPOSE 8080
# No shell or curl here: fd2 checks itself (FD2_HEALTH_URL, default http://127.0.0.1:8080/health).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/bin/fd2", "health"]
ENTRYPOINT ["/usr/bin/fd2"]
CMD ["run", "--config", "/etc/fd2/Caddyfile"]
