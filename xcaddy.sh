#!/usr/bin/env bash
# Builds FD2 with xcaddy (the way Caddy plugins are normally consumed), then checks that every FD2 module
# is registered and that Caddyfile.example adapts and validates.
set -euo pipefail
cd "$(dirname "$0")"

XCADDY_VERSION=v0.4.5
CADDY_VERSION=v2.11.9
# xcaddy runs `go get` on the module path after adding its replace: the module is not published, so keep the
# proxy and checksum database away from it.
export GOPRIVATE=github.com/dsp-ai/* GONOSUMDB=github.com/dsp-ai/* GOFLAGS=-buildvcs=false

if ! command -v xcaddy >/dev/null 2>&1; then
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
	PATH="$(go env GOPATH)/bin:$PATH"
fi

out=${OUT:-./build/fd2-xcaddy}
mkdir -p "$(dirname "$out")"
# The module is unpublished and this machine cannot reach a VCS host, so `go get github.com/dsp-ai/fd2`
# ("latest") cannot resolve even with GOPRIVATE. Naming the zero pseudo-version makes xcaddy's
# `go get` resolve it through the local replacement without any network lookup.
xcaddy build "$CADDY_VERSION" --output "$out" \
	--with github.com/dsp-ai/fd2@v0.0.0-00010101000000-000000000000=./

want=(dsp admin.api.dsp http.handlers.dsp_manifest http.handlers.dsp_auth http.handlers.dsp_ratelimit http.handlers.dsp_dispatch http.handlers.dsp_error
	http.handlers.dsp_health http.handlers.dsp_fakellm)
mods=$("$out" list-modules)
for id in "${want[@]}"; do
	if ! grep -qx "$id" <<<"$mods"; then
		echo "xcaddy.sh: module $id is missing from the build" >&2
		exit 1
	fi
done
"$out" adapt --config Caddyfile.example --validate >/dev/null
"$out" validate --config Caddyfile.example
echo "xcaddy.sh: OK ($out has every dsp module; Caddyfile.example adapts and validates)"
