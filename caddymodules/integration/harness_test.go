// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/dsp-ai/fd2"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// The test binary doubles as the fd2 binary: with FD2_AS_CADDY=1 it runs Caddy's command line with every
// module (what cmd/fd2 does), so tests can start a second, separate FD2 process without a second build.
func TestMain(m *testing.M) {
	if os.Getenv("FD2_AS_CADDY") == "1" {
		os.Args = append([]string{"fd2"}, strings.Fields(os.Getenv("FD2_ARGS"))...)
		caddycmd.Main()
		return
	}
	f, err := os.CreateTemp("", "fd2-integration-*.log")
	if err != nil {
		panic(err)
	}
	logFile = f.Name()
	_ = f.Close()
	code := m.Run()
	if code == 0 {
		code = scanLogs()
	}
	_ = os.Remove(logFile)
	os.Exit(code)
}

// Every in-process FD2 of the suite logs at DEBUG into logFile; at the end the whole log is scanned for
// every secret a test registered (keys, tokens, provider credentials, JWT secrets): none may appear.
var (
	logFile   string
	secretsMu sync.Mutex
	secrets   = map[string]bool{}
)

// registerSecret marks a value that must never reach a log line.
func registerSecret(s string) {
	if len(s) < 8 {
		return
	}
	secretsMu.Lock()
	secrets[s] = true
	secretsMu.Unlock()
}

func scanLogs() int {
	b, err := os.ReadFile(logFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redaction scan: reading the suite log:", err)
		return 1
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	if len(secrets) == 0 {
		return 0 // a subset of tests (-run) that used no secrets: nothing to check
	}
	if len(b) == 0 {
		fmt.Fprintln(os.Stderr, "redaction scan: secrets were used but FD2 wrote no log at all: the scan would prove nothing")
		return 1
	}
	bad := 0
	for _, line := range strings.Split(string(b), "\n") {
		for s := range secrets {
			if strings.Contains(line, s) {
				bad++
				if bad <= 5 {
					fmt.Fprintf(os.Stderr, "redaction scan: a secret (%.6s…) appears in a log line: %.1500s\n", s, line)
				}
			}
		}
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "redaction scan: %d leaks in %d bytes of logs\n", bad, len(b))
		return 1
	}
	fmt.Fprintf(os.Stderr, "redaction scan: %d secrets, %d bytes of DEBUG logs, no leak\n", len(secrets), len(b))
	return 0
}

// requireIntegration skips under -short only.
func requireIntegration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// corpus names, in one Control Tower manifest corpus, what the fixture tests drive: FD2's own
// (ownCorpus) or the platform's (platformCorpus, the interop suite).
type corpus struct {
	dir           string // manifests, file stem = project id
	secretsConfig string // the secrets_config.json that resolves its config: references
	ids           []string
	// urls maps an environments.*.urls key to what localFixtures points it at: "llm" or "jwt".
	urls map[string]string
	// nodes are literal upstream node hosts that localFixtures points at the fake LLM.
	nodes []string
	// The richest project (it has a vault module): its routes, token brokers and modules.
	project, convert, test, convertJWE, passthrough string
	convertBody                                     string // an ai-prompt-template body for convert
	echoWant                                        string // what the fake LLM echoes for convertBody
	broker, jweBroker                               string
	inferenceModule                                 string // a module route path of an inference_endpoint
	headerModule                                    string // X-Project-Module value of an inference_endpoint
	// The JWE-only project's chat route, the workflow project's inference module route, and a route uri
	// outside its project's prefix.
	jweChat, workflowInference, outsidePrefix string
	// Tokens: the consumer secret (the JWT service's signing secret), the jwt-auth consumer key, the JWE
	// consumer kid and raw key, and the claims of a JWT-service token for admin.
	jwtSecret, consumerKey, jweKid, jweKey string
	claims                                 map[string]any
	jwtService                             string // users.yaml and api_keys/
}

// ownCorpus is FD2's testdata/platform.
func ownCorpus() corpus {
	return corpus{
		dir: testfixtures.Manifests(), secretsConfig: testfixtures.SecretsConfig(),
		ids:  []string{"codeconv", "jwe_lab", "doc-digest"},
		urls: map[string]string{"llm_host": "llm", "token_service": "jwt"}, nodes: []string{"echo.corp.example"},
		project: "codeconv", convert: "/codeconv/translate", test: "/codeconv/review", convertJWE: "/codeconv/translate-jwe",
		passthrough: "/codeconv/v1/chat/completions",
		convertBody: `{"template_name":"cobol-to-go","program":"MOVE A TO B."}`, echoWant: "echo: MOVE A TO B.",
		broker: "/codeconv/auth/token", jweBroker: "/codeconv/jwe-auth/token",
		inferenceModule: "/codeconv/translate/v1/chat/completions", headerModule: "codeconv/openai-compatible",
		jweChat: "/jwe_lab/v1/chat/completions", workflowInference: "/doc-digest/digest-llm/v1/chat/completions",
		outsidePrefix: "/digest/llm",
		jwtSecret:     "corpus-dev-signing-secret", consumerKey: "codeconv-consumer-key",
		jweKid: "codeconv-jwe-consumer-key", jweKey: "corpus-jwe-key-exactly-32-bytes!",
		claims: map[string]any{"name": "Gateway Administrator", "email": "admin@corp.example",
			"key": "codeconv-consumer-key", "rate_limit": 60, "project": "codeconv", "environment": "development"},
		jwtService: testfixtures.JWTService(),
	}
}

// platformCorpus is the platform's own fixtures: interop tests skip without them (fail under CI=true).
func platformCorpus(t *testing.T) corpus {
	t.Helper()
	dir := testfixtures.Platform(t)
	return corpus{
		dir: filepath.Join(dir, "control-tower", "manifests"), secretsConfig: filepath.Join("testdata", "secrets_config.json"),
		ids:  []string{"sas2py", "jwe_test", "langgraph-summarizer"},
		urls: map[string]string{"groq_base_url": "llm", "jwt_service_url": "jwt"}, nodes: []string{"httpbin.org"},
		project: "sas2py", convert: "/sas2py/convert", test: "/sas2py/test", convertJWE: "/sas2py/convert-jwe",
		passthrough: "/sas2py/v1/chat/completions",
		convertBody: `{"template_name":"converter","user_input":"data a; set b; run;"}`, echoWant: "echo: data a; set b; run;",
		broker: "/sas2py/auth/token", jweBroker: "/sas2py/jwe-auth/token",
		inferenceModule: "/sas2py/convert/v1/chat/completions", headerModule: "sas2py/openai-compatible",
		jweChat: "/jwe_test/v1/chat/completions", workflowInference: "/langgraph-summarizer/summarize-llm/v1/chat/completions",
		outsidePrefix: "/summarizer/llm",
		jwtSecret:     "your-secret-key-here", consumerKey: "sas2py-consumer-key",
		jweKid: "sas2py-jwe-consumer-key", jweKey: "key-length-should-be-32-chars123",
		claims: map[string]any{"name": "Administrator", "email": "admin@example.com",
			"key": "sas2py-consumer-key", "rate_limit": 100, "project": "sas2py", "environment": "development"},
		jwtService: filepath.Join(dir, "jwt-service"),
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// fd2 is a running in-process FD2 (Caddy loaded with an adapted Caddyfile).
type fd2 struct {
	t     testing.TB
	http  int // the gateway site's port
	admin int
	info  bool // log at INFO instead of DEBUG
}

// global options every test config starts with; %d = admin port.
const globalHead = `
	admin localhost:%d
	skip_install_trust
	persist_config off
	grace_period 5s
	log {
		output file %s {
			roll_disabled
		}
		level DEBUG
		format filter {
			wrap json
			fields {
				request>headers>X-Api-Key delete
				request>headers>Api-Key delete
				request>headers>Apikey delete
				request>uri query {
					delete jwt
					delete apikey
				}
			}
		}
	}
`

// startFD2 loads a Caddyfile into the in-process Caddy. body is the Caddyfile after the global block and
// may use {{HTTP}}; dspBlock is the inside of the dsp global option.
func startFD2(t testing.TB, dspBlock, body string) *fd2 {
	t.Helper()
	f := &fd2{t: t, http: freePort(t), admin: freePort(t)}
	f.load(dspBlock, body)
	t.Cleanup(func() { _ = caddy.Stop() })
	return f
}

// startFD2Info is startFD2 logging at INFO, as in production, for tests that measure latency (DEBUG lines
// on the request path would be measured too). Its lines still go to the scanned suite log.
func startFD2Info(t testing.TB, dspBlock, body string) *fd2 {
	t.Helper()
	f := &fd2{t: t, http: freePort(t), admin: freePort(t), info: true}
	f.load(dspBlock, body)
	t.Cleanup(func() { _ = caddy.Stop() })
	return f
}

func (f *fd2) caddyfile(dspBlock, body string) string {
	body = strings.ReplaceAll(body, "{{LOG}}", fmt.Sprintf(accessLog, logFile))
	head := fmt.Sprintf(globalHead, f.admin, logFile)
	if f.info {
		head = strings.Replace(head, "level DEBUG", "level INFO", 1)
	}
	return "{\n" + head + "\n\thttp_port " + fmt.Sprint(f.http) +
		"\n\tdsp {\n" + dspBlock + "\n\t}\n}\n" + strings.ReplaceAll(body, "{{HTTP}}", fmt.Sprint(f.http))
}

// accessLog is a site's access log into the suite log (so the redaction scan covers access lines too),
// with the filter Caddyfile.example recommends; %s = the log file. Sites use it as {{LOG}}.
const accessLog = `log {
		output file %s {
			roll_disabled
		}
		format filter {
			wrap json
			fields {
				request>headers>X-Api-Key delete
				request>headers>Api-Key delete
				request>headers>Apikey delete
				request>uri query {
					delete jwt
					delete apikey
				}
			}
		}
	}`

// load (re)loads a config, the same path as `caddy reload` and POST /load.
func (f *fd2) load(dspBlock, body string) {
	f.t.Helper()
	cfg := f.caddyfile(dspBlock, body)
	adapted, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		f.t.Fatalf("adapting Caddyfile: %v\n%s", err, cfg)
	}
	for _, w := range warns {
		if !strings.Contains(w.Message, "not formatted") {
			f.t.Logf("adapt warning: %s", w.String())
		}
	}
	if err := caddy.Load(adapted, true); err != nil {
		f.t.Fatalf("loading config: %v\n%s", err, cfg)
	}
	waitListening(f.t, f.http)
	waitOldServerClosed(f.t, f.http)
	lastLoad.Store(time.Now().UnixNano())
	// Idle keep-alive connections belong to the server being replaced: a request sent on one may meet that
	// server's shutdown (a reset) instead of the new config. Real clients retry; the tests start afresh.
	client.CloseIdleConnections()
}

// waitOldServerClosed waits until only one config holds the listener. caddy.Load returns once the old
// servers' shutdowns have been started, not finished: until the old server closes its share of the listener
// it may still accept a connection and answer it with the old config (a 429 under the old limit, say).
func waitOldServerClosed(t testing.TB, port int) {
	t.Helper()
	addr := fmt.Sprintf(":%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for caddy.ListenerUsage("tcp", addr) > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the replaced config still holds %s after 5s", addr)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n := caddy.ListenerUsage("tcp", addr); n != 1 {
		t.Fatalf("listener %s has %d users after a load, want 1", addr, n) // a wrong key would make the wait vacuous
	}
}

func waitListening(t testing.TB, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func (f *fd2) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", f.http, path) }
func (f *fd2) adminURL(path string) string {
	return fmt.Sprintf("http://localhost:%d%s", f.admin, path)
}

// pipeline is the standard FD2 site.
const pipeline = `
:{{HTTP}} {
	{{LOG}}
	@health path /health /status
	handle @health {
		dsp_health
	}
	handle /metrics {
		metrics
	}
	handle {
		route {
			dsp_manifest
			dsp_dispatch {
				max_body_size 1KiB
			}
		}
	}
	handle_errors {
		dsp_error
	}
}
`

var client = &http.Client{Timeout: 20 * time.Second}

// lastLoad is when a test last loaded a config (Unix nanoseconds).
var lastLoad atomic.Int64

// handOver reports whether err is a connection reset or EOF before any response, within two seconds of a
// config load: the listener hand-over of a reload, not an FD2 failure.
func handOver(err error) bool {
	if time.Since(time.Unix(0, lastLoad.Load())) > 2*time.Second {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %v: %s", r.status, err, r.body)
	}
	return m
}

// errorCode returns error.code of an FD2 error body, checking the shape on the way.
func (r resp) errorCode(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	for _, k := range []string{"message", "type", "code", "request_id"} {
		if s, _ := e[k].(string); s == "" {
			t.Fatalf("error.%s missing in %s", k, r.body)
		}
	}
	if got := r.header.Get("X-Request-Id"); got != e["request_id"] {
		t.Fatalf("X-Request-Id %q differs from error.request_id %q", got, e["request_id"])
	}
	return e["code"].(string)
}

func do(t testing.TB, method, url string, body string, headers ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil && handOver(err) {
		// Caddy binds a reloaded config's listener next to the old one (SO_REUSEPORT) and then closes the
		// old one; a connection the kernel had queued on the old socket is reset before any response. Real
		// clients retry that; so does a test request made just after a reload (once, and only then).
		time.Sleep(50 * time.Millisecond)
		if rd != nil {
			rd = strings.NewReader(body)
		}
		req, _ = http.NewRequest(method, url, rd)
		for i := 0; i+1 < len(headers); i += 2 {
			if strings.EqualFold(headers[i], "Host") {
				req.Host = headers[i+1]
				continue
			}
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err = client.Do(req)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, url, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func expectStatus(t testing.TB, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, bytes.TrimSpace(r.body))
	}
}

// writeManifest writes a manifest file into dir.
func writeManifest(t testing.TB, dir, id, doc string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(doc), 0o600); err != nil {
		t.Fatalf("writing manifest: %v", err)
	}
}

// startSubprocessFD2 starts a second FD2 as a separate process (this test binary in Caddy mode).
func startSubprocessFD2(t *testing.T, caddyfile string) {
	t.Helper()
	startSubprocessFD2PID(t, caddyfile)
}

// startSubprocessFD2PID is startSubprocessFD2, returning the process id.
func startSubprocessFD2PID(t *testing.T, caddyfile string) int {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatalf("writing Caddyfile: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FD2_AS_CADDY=1", "FD2_ARGS=run --config "+path+" --adapter caddyfile")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting second FD2: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("second FD2 output:\n%s", out.String())
		}
	})
	return cmd.Process.Pid
}
