// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/internal/fakellm"
	"github.com/dsp-ai/fd2/internal/loadgen"
)

// binaries are the two servers' command lines (without Caddy's arguments).
type binaries struct {
	fd2, caddy []string
	env        []string // extra environment of both
}

// selfBinaries runs both servers as this test binary in Caddy mode (TestMain): no build, for the smoke test.
func selfBinaries() binaries {
	return binaries{fd2: []string{os.Args[0], "-test.run=^$"}, caddy: []string{os.Args[0], "-test.run=^$"},
		env: []string{"FD2_AS_CADDY=1"}}
}

// buildBinaries builds cmd/fd2 and stock Caddy (stockcaddy: standard modules only, the same Caddy version)
// into dir, as a user would build them, without the race detector.
func buildBinaries(tb testing.TB, dir string) binaries {
	tb.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range []struct{ out, pkg string }{{"fd2", "./cmd/fd2"}, {"caddy", "./tests/loadbench/stockcaddy"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return binaries{fd2: []string{filepath.Join(dir, "fd2")}, caddy: []string{filepath.Join(dir, "caddy")}}
}

// pinning is how the machine's cores are split: the server under test on core 0, this process (load
// generator and fake provider) on the others, so neither steals the other's CPU time.
type pinning struct {
	server string // taskset CPU list of the servers ("" when not pinned)
	note   string
}

func pin(tb testing.TB) pinning {
	tb.Helper()
	n := runtime.NumCPU()
	ts, err := exec.LookPath("taskset")
	if n < 2 || err != nil {
		return pinning{note: fmt.Sprintf("not pinned (%d CPUs, taskset: %v)", n, err == nil)}
	}
	rest := fmt.Sprintf("1-%d", n-1)
	// -a: every thread of this process, so the runtime's existing threads move too (new ones inherit it).
	if out, err := exec.Command(ts, "-a", "-cp", rest, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		tb.Fatalf("pinning the load generator: %v\n%s", err, out)
	}
	tb.Cleanup(func() {
		_ = exec.Command(ts, "-a", "-cp", fmt.Sprintf("0-%d", n-1), strconv.Itoa(os.Getpid())).Run()
	})
	return pinning{server: "0", note: fmt.Sprintf("server on CPU 0, load generator and fake provider on CPUs %s", rest)}
}

// server is a running Caddy process (fd2 or stock).
type server struct {
	name  string
	pid   int
	admin int
	log   string
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs argv with a Caddyfile; globals go inside the global options block, sites after it. It returns
// once every port in ports accepts connections.
func start(tb testing.TB, name string, argv, env []string, p pinning, globals, sites string, ports ...int) *server {
	tb.Helper()
	dir := tb.TempDir()
	s := &server{name: name, admin: freePort(tb), log: filepath.Join(dir, "log.json")}
	cfg := fmt.Sprintf(`{
	admin localhost:%d
	skip_install_trust
	persist_config off
	grace_period 2s
	log {
		output file %s
		level INFO
	}
%s
}
%s`, s.admin, s.log, globals, sites)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	args := append(append([]string{}, argv...), "run", "--config", path, "--adapter", "caddyfile")
	if p.server != "" {
		args = append([]string{"taskset", "-c", p.server}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if len(env) > 0 && env[0] == "FD2_AS_CADDY=1" {
		// TestMain passes these to Caddy's command line.
		cmd.Env = append(cmd.Env, "FD2_ARGS="+strings.Join(args[len(args)-5:], " "))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	s.pid = cmd.Process.Pid
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			logs, _ := os.ReadFile(s.log)
			tb.Logf("%s output:\n%s\n%s log:\n%s", name, out.String(), name, logs)
		}
	})
	for _, port := range ports {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(s.log)
				tb.Fatalf("%s did not listen on %d: %v\n%s\n%s", name, port, err, out.String(), logs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s
}

// target is one way to reach the fake provider: directly, through stock Caddy, through an FD2 pipeline.
type target struct {
	name string
	srv  *server // nil: direct, no server process to measure
	// profile, when FD2_BENCH_PROFILE names a directory, is the prefix of the files there that receive CPU
	// profiles of the server during the first round of each workload at 64 connections.
	profile string
	chat    loadgen.Request
	stream  loadgen.Request
}

// The fake provider answers "echo: " and the prompt's words, one word per streamed chunk: 19 words make
// 20-token answers (a role chunk, 20 word chunks, the finish chunk, the usage chunk and [DONE]).
const prompt = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"

var (
	chatBody   = []byte(`{"model":"fake-gpt","messages":[{"role":"user","content":"` + prompt + `"}]}`)
	streamBody = []byte(`{"model":"fake-gpt","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"` + prompt + `"}]}`)
	// The same conversation in the Messages API's shape, for Claude clients.
	messagesBody       = []byte(`{"model":"fake-gpt","max_tokens":1000,"messages":[{"role":"user","content":"` + prompt + `"}]}`)
	messagesStreamBody = []byte(`{"model":"fake-gpt","max_tokens":1000,"stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`)
	messagesStreamEnd  = []byte("event: message_stop")
)

func requests(base, path string, h http.Header) (chat, stream loadgen.Request) {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	chat = loadgen.Request{Method: "POST", URL: base + path, Header: h, Body: chatBody, Want: []byte(`"echo: one two`)}
	stream = loadgen.Request{Method: "POST", URL: base + path, Header: h, Body: streamBody, Stream: true}
	if strings.HasSuffix(path, "/v1/messages") {
		chat.Body, stream.Body, stream.StreamEnd = messagesBody, messagesStreamBody, messagesStreamEnd
	}
	return chat, stream
}

// setup starts the fake provider (in this process, 1 ms between streamed tokens), stock Caddy with a plain
// reverse_proxy, and one fd2 with the pipelines under test, and returns the targets.
func setup(tb testing.TB, bins binaries, p pinning) []target {
	tb.Helper()
	llm, caddy, caddyPort := startProviderAndCaddy(tb, bins, p, time.Millisecond)
	llmHost := strings.TrimPrefix(llm.URL, "http://")
	plain, keyFile, manifests := benchFiles(tb, "bench-consumer")
	const secret = "bench-secret-0123456789"
	manifest := `{"project_id":"bench","modules":[{"module_type":"api_gateway","name":"gw","config":{
	  "consumer":{"username":"bench","plugins":{"jwt-auth":{"key":"bench-key","secret":"` + secret + `"}}},
	  "routes":[{"name":"chat","uri":"/bench/v1/chat/completions","methods":["POST"],
	    "upstream":{"scheme":"http","nodes":{"` + llmHost + `":1}},
	    "plugins":{"jwt-auth":{},"limit-count":{"count":1000000000,"time_window":3600},
	      "proxy-rewrite":{"uri":"/v1/chat/completions"}}}]}}]}`
	if err := os.WriteFile(filepath.Join(manifests, "bench.json"), []byte(manifest), 0o600); err != nil {
		tb.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": "bench-key", "sub": "bench",
		"exp": time.Now().Add(24 * time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	openaiPort, anthropicPort, geminiPort, manifestPort := freePort(tb), freePort(tb), freePort(tb), freePort(tb)
	inference := func(port int, provider string) string { return inferenceSite(port, keyFile, provider) }
	fd2 := start(tb, "fd2", bins.fd2, bins.env, p, "\tdsp {\n\t\tmanifests file "+manifests+"\n\t}\n",
		inference(openaiPort, "provider fake openai {\n\t\t\t\tbase_url "+llm.URL+"/v1\n\t\t\t}")+
			inference(anthropicPort, "provider fake anthropic {\n\t\t\t\tbase_url "+llm.URL+"\n\t\t\t\tapi_key bench\n\t\t\t}")+
			inference(geminiPort, "provider fake gemini {\n\t\t\t\tbase_url "+llm.URL+"\n\t\t\t\tapi_key bench\n\t\t\t}")+
			fmt.Sprintf(`
:%d {
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit {
			store memory
		}
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`, manifestPort), openaiPort, anthropicPort, geminiPort, manifestPort)

	var ts []target
	add := func(name string, srv *server, base, path string, h http.Header) {
		c, s := requests(base, path, h)
		t := target{name: name, srv: srv, chat: c, stream: s}
		if dir := os.Getenv("FD2_BENCH_PROFILE"); dir != "" && srv != nil {
			t.profile = filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		}
		ts = append(ts, t)
	}
	add("direct", nil, llm.URL, "/v1/chat/completions", nil)
	add("caddy reverse_proxy", caddy, fmt.Sprintf("http://127.0.0.1:%d", caddyPort), "/v1/chat/completions", nil)
	add("fd2 dsp_openai", fd2, fmt.Sprintf("http://127.0.0.1:%d", openaiPort), "/v1/chat/completions",
		http.Header{"X-Api-Key": {plain}})
	add("fd2 manifest", fd2, fmt.Sprintf("http://127.0.0.1:%d", manifestPort), "/bench/v1/chat/completions",
		http.Header{"Authorization": {"Bearer " + tok}})
	add("fd2 messages to openai", fd2, fmt.Sprintf("http://127.0.0.1:%d", openaiPort), "/v1/messages",
		http.Header{"X-Api-Key": {plain}})
	add("fd2 from anthropic", fd2, fmt.Sprintf("http://127.0.0.1:%d", anthropicPort), "/v1/chat/completions",
		http.Header{"X-Api-Key": {plain}})
	add("fd2 from gemini", fd2, fmt.Sprintf("http://127.0.0.1:%d", geminiPort), "/v1/chat/completions",
		http.Header{"X-Api-Key": {plain}})
	return ts
}

// inferenceSite is the inference pipeline of the benchmark's protocol on port: an API key from keyFile, a
// request and a token limit, dsp_openai with one provider (its Caddyfile block).
func inferenceSite(port int, keyFile, provider string) string {
	return fmt.Sprintf(`
:%d {
	route {
		dsp_auth {
			api_keys file %s
		}
		dsp_ratelimit {
			requests 1000000000/h
			tokens 1000000000/h
			store memory
		}
		dsp_openai {
			%s
		}
	}
	handle_errors {
		dsp_error
	}
}
`, port, keyFile, provider)
}

// startProviderAndCaddy starts the fake provider in this process (tokenDelay between streamed tokens) and
// stock Caddy's reverse_proxy in front of it.
func startProviderAndCaddy(tb testing.TB, bins binaries, p pinning, tokenDelay time.Duration) (*httptest.Server, *server, int) {
	tb.Helper()
	llm := httptest.NewServer(fakellm.New(fakellm.Options{TokenDelay: tokenDelay}))
	tb.Cleanup(llm.Close)
	port := freePort(tb)
	caddy := start(tb, "caddy", bins.caddy, bins.env, p, "", fmt.Sprintf(":%d {\n\treverse_proxy %s\n}\n", port,
		strings.TrimPrefix(llm.URL, "http://")), port)
	return llm, caddy, port
}

// benchFiles writes an API-key file with one key of owner and makes an empty manifest directory; it
// returns the plain key and both paths.
func benchFiles(tb testing.TB, owner string) (plain, keyFile, manifests string) {
	tb.Helper()
	dir := tb.TempDir()
	plain, rec, err := auth.NewAPIKey(owner)
	if err != nil {
		tb.Fatal(err)
	}
	keys, _ := json.Marshal(map[string]any{"keys": []auth.APIKey{rec}})
	keyFile = filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, keys, 0o600); err != nil {
		tb.Fatal(err)
	}
	manifests = filepath.Join(dir, "manifests")
	if err := os.Mkdir(manifests, 0o700); err != nil {
		tb.Fatal(err)
	}
	return plain, keyFile, manifests
}

// sample is one target's measure of one workload in one round.
type sample struct {
	rps, p50, p99, ttfb50, cpuPerReq float64 // latencies and CPU in microseconds
	rss, anon                        int64   // peak resident set, and its anonymous part
	failed                           int
	firstErr                         error
}

// measure runs one round of a workload against a target, metering the target's server process.
func measure(tb testing.TB, t target, stream bool, conns int, d time.Duration) sample {
	tb.Helper()
	req := t.chat
	if stream {
		req = t.stream
	}
	c := loadgen.NewClient(conns)
	defer c.CloseIdleConnections()
	// Open the connections first: the round measures serving, not connecting.
	warm := loadgen.Load(context.Background(), c, req, conns, 100*time.Millisecond)
	var s sample
	s.failed, s.firstErr = warm.Failed, warm.FirstErr
	var cpu0 time.Duration
	var mu sync.Mutex
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	if t.srv != nil {
		var err error
		if cpu0, err = loadgen.CPUTime(t.srv.pid); err != nil {
			tb.Fatal(err)
		}
		sampler.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if r, a, err := loadgen.Memory(t.srv.pid); err == nil {
						mu.Lock()
						s.rss, s.anon = max(s.rss, r), max(s.anon, a)
						mu.Unlock()
					}
				}
			}
		})
	}
	res := loadgen.Load(context.Background(), c, req, conns, d)
	close(stop)
	sampler.Wait()
	if t.srv != nil {
		cpu1, err := loadgen.CPUTime(t.srv.pid)
		if err != nil {
			tb.Fatal(err)
		}
		if res.OK > 0 {
			s.cpuPerReq = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(res.OK)
		}
	}
	s.rps = res.Throughput()
	s.p50 = us(loadgen.Percentile(res.Latency, .5))
	s.p99 = us(loadgen.Percentile(res.Latency, .99))
	s.ttfb50 = us(loadgen.Percentile(res.TTFB, .5))
	s.failed += res.Failed
	if s.firstErr == nil {
		s.firstErr = res.FirstErr
	}
	return s
}

// profile fetches a CPU profile of most of one round from the server's admin endpoint (Caddy serves
// net/http/pprof there), and its allocation profile before and after (compare them with pprof -diff_base).
func profile(tb testing.TB, t target, workload string, d time.Duration) {
	get := func(what, suffix string) {
		res, err := http.Get(fmt.Sprintf("http://localhost:%d/debug/pprof/%s", t.srv.admin, what))
		if err != nil {
			tb.Logf("profiling %s: %v", t.name, err)
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil {
			err = os.WriteFile(t.profile+"-"+workload+suffix, b, 0o644)
		}
		if err != nil {
			tb.Logf("profiling %s: %v", t.name, err)
		}
	}
	get("allocs", "-allocs-before.pprof")
	get(fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds()-0.5))), ".pprof")
	get("allocs", "-allocs-after.pprof")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
