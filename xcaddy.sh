#!/usr/bin/env bash
# Builds FD2 with xcaddy (the way Caddy plugins are normally consumed) together with the third-party example
# module type examples/module (dsp.modules.echo_workflow, its own Go module), then checks that every FD2
# module and the example's are registered, that Caddyfile.example adapts and validates, and that the binary
# serves the example's Caddyfile and manifest: a module type built in from outside the repository answers
# its module route.
#
# One build: a binary with the example module has every FD2 module too, and each xcaddy build costs about a
# CPU-minute (-trimpath defeats most of the build cache), so the FD2-only checks run against it as well.
set -euo pipefail
cd "$(dirname "$0")"

XCADDY_VERSION=v0.4.5
CADDY_VERSION=v2.11.9
# xcaddy runs `go get` on the module paths after adding its replaces: the modules are not published, so keep
# the proxy and checksum database away from them.
export GOPRIVATE=github.com/dsp-ai/* GONOSUMDB=github.com/dsp-ai/* GOFLAGS=-buildvcs=false

if ! command -v xcaddy >/dev/null 2>&1; then
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}"
	PATH="$(go env GOPATH)/bin:$PATH"
fi

out=${OUT:-./build/fd2-xcaddy}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out") # the serve check runs from examples/module
# The modules are unpublished and this machine cannot reach a VCS host, so `go get github.com/dsp-ai/fd2`
# ("latest") cannot resolve even with GOPRIVATE. Naming the zero pseudo-version makes xcaddy's `go get`
# resolve it through the local replacement without any network lookup. The example module requires FD2 at
# that same version, so xcaddy's version-specific replace covers its requirement too.
zero=v0.0.0-00010101000000-000000000000
start=$SECONDS
xcaddy build "$CADDY_VERSION" --output "$out" \
	--with "github.com/dsp-ai/fd2@${zero}=./" \
	--with "github.com/dsp-ai/fd2/examples/module@${zero}=./examples/module"
echo "xcaddy.sh: built $out in $((SECONDS - start))s"

want=(dsp admin.api.dsp http.handlers.dsp_manifest http.handlers.dsp_auth http.handlers.dsp_ratelimit http.handlers.dsp_dispatch http.handlers.dsp_error
	http.handlers.dsp_health http.handlers.dsp_fakellm http.handlers.dsp_ragservice http.handlers.dsp_rag http.handlers.dsp_openai
	dsp.modules.rag_service dsp.modules.model_server dsp.modules.inference_endpoint dsp.modules.echo_workflow)
mods=$("$out" list-modules)
for id in "${want[@]}"; do
	if ! grep -qx "$id" <<<"$mods"; then
		echo "xcaddy.sh: module $id is missing from the build" >&2
		exit 1
	fi
done
"$out" adapt --config Caddyfile.example --validate >/dev/null
"$out" validate --config Caddyfile.example

# Serve the example: its Caddyfile (admin off) on a free loopback port, its manifest dir, one run.
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 40000))
	# Nothing answers a connect: the port is free (a race with another process is unlikely and fails loudly).
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port=$p
		break
	fi
done
[ -n "$port" ] || { echo "xcaddy.sh: no free loopback port found" >&2; exit 1; }
home=$(mktemp -d)
log="$home/fd2.log"
(cd examples/module && HOME="$home" XDG_CONFIG_HOME="$home" XDG_DATA_HOME="$home" ECHO_PORT="$port" \
	exec "$out" run --config Caddyfile) >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$home"' EXIT
for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "xcaddy.sh: $out exited serving examples/module/Caddyfile:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
done
answer=$(curl -sS -w '\n%{http_code}' "http://127.0.0.1:$port/echo/greeter/run" \
	-H 'apikey: echo-demo-key' -H 'X-Request-Id: xcaddy-sh' -d '{"order":42}')
code=${answer##*$'\n'}
body=${answer%$'\n'*}
body=${body%$'\n'} # the module ends its JSON with a newline
expect='{"greeting":"hello from echo_workflow","project":"echo","module":"greeter","consumer":"demo-client","request_id":"xcaddy-sh","input":{"order":42}}'
if [ "$code" != 200 ] || [ "$body" != "$expect" ]; then
	echo "xcaddy.sh: POST /echo/greeter/run answered $code: $body" >&2
	echo "xcaddy.sh: want 200: $expect" >&2
	cat "$log" >&2
	exit 1
fi
echo "xcaddy.sh: OK ($out has every dsp module and dsp.modules.echo_workflow; Caddyfile.example adapts and validates; the example module serves its route)"
