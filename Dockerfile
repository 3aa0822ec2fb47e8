# syntax=docker/dockerfile:1
# Builds the fd2 binary (Caddy + standard modules + every FD2 module) and runs it on Caddyfile.example.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/fd2 ./cmd/fd2

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fd2 /usr/bin/fd2
COPY Caddyfile.example /etc/fd2/Caddyfile
COPY internal/defaultmanifests /srv/fd2/internal/defaultmanifests
WORKDIR /srv/fd2
EXPOSE 8080 2019
ENTRYPOINT ["/usr/bin/fd2"]
CMD ["run", "--config", "/etc/fd2/Caddyfile"]
