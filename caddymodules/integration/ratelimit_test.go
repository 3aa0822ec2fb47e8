// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// redisProc is a redis-server this test can kill and restart on the same port.
type redisProc struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisProc(t *testing.T) *redisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is required under CI=true (apt-get install -y redis-server)")
		}
		t.Skip("redis-server not installed")
	}
	rp := &redisProc{t: t, port: freePort(t), dir: t.TempDir()}
	rp.start()
	t.Cleanup(rp.kill)
	return rp
}

func (rp *redisProc) addr() string { return fmt.Sprintf("127.0.0.1:%d", rp.port) }

func (rp *redisProc) start() {
	rp.t.Helper()
	rp.cmd = exec.Command("redis-server", "--port", fmt.Sprint(rp.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rp.dir)
	if err := rp.cmd.Start(); err != nil {
		rp.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", rp.addr(), 100*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	rp.t.Fatal("redis-server did not start")
}

func (rp *redisProc) kill() {
	if rp.cmd != nil && rp.cmd.Process != nil {
		_ = rp.cmd.Process.Kill()
		_ = rp.cmd.Wait()
		rp.cmd = nil
	}
}

// limitedManifest is a project whose routes are limited by APISIX plugins: /rl/count (limit-count, one
// bucket for the route) and /rl/tokens (ai-rate-limiting).
func limitedManifest(upstream string, count int, window int, tokens int) string {
	return fmt.Sprintf(`{"project_id":"rl","project_name":"rl","modules":[{"module_type":"api_gateway","name":"gw","config":{"routes":[
	  {"name":"count","uri":"/rl/count","upstream":{"scheme":"http","nodes":{"%[1]s":1}},
	   "plugins":{"limit-count":{"count":%[2]d,"time_window":%[3]d,"key_type":"constant","rejected_code":429},"proxy-rewrite":{"uri":"/echo/count"}}},
	  {"name":"tokens","uri":"/rl/tokens","methods":["POST"],"upstream":{"scheme":"http","nodes":{"%[1]s":1}},
	   "plugins":{"ai-rate-limiting":{"limit":%[4]d,"time_window":%[3]d,"key_type":"constant"},"proxy-rewrite":{"uri":"/v1/chat/completions"}}}
	]}}]}`, upstream, count, window, tokens)
}

const rlPipeline = `
:{{HTTP}} {
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit %s
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`

// burst fires requests from clients spread over urls until stop; it counts statuses.
func burst(clients int, d time.Duration, next func(i int) (int, error)) (ok, limited, other int64, errs []string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var o, l, x atomic.Int64
	end := time.Now().Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				code, err := next(c*100000 + i)
				switch {
				case err != nil:
					mu.Lock()
					if len(errs) < 10 {
						errs = append(errs, err.Error())
					}
					mu.Unlock()
					x.Add(1)
				case code == 200:
					o.Add(1)
				case code == 429:
					l.Add(1)
				default:
					x.Add(1)
					mu.Lock()
					if len(errs) < 10 {
						errs = append(errs, fmt.Sprintf("status %d", code))
					}
					mu.Unlock()
				}
			}
		}(c)
	}
	wg.Wait()
	return o.Load(), l.Load(), x.Load(), errs
}

// waitWindowStart sleeps until just after the next aligned window boundary (windows start at multiples of
// the window since the epoch, as in APISIX limit-count).
func waitWindowStart(w time.Duration) {
	now := time.Now()
	next := now.Truncate(w).Add(w)
	time.Sleep(time.Until(next) + 50*time.Millisecond)
}

var rlClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func statusOf(req *http.Request) (int, error) {
	res, err := rlClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// TestRateLimitAccuracyAcrossInstances: three FD2 processes share one real redis-server; 64 clients spread
// over them hit a route limited to N per window (and a token-limited route). Per window, exactly N (at
// least N−1) are admitted — not N per instance.
func TestRateLimitAccuracyAcrossInstances(t *testing.T) {
	requireIntegration(t)
	rp := startRedisProc(t)
	// An upstream that reports exactly the tokens FD2 reserves, so a token bucket's admissions are exact.
	body := `{"model":"m","max_tokens":40,"messages":[{"role":"user","content":"hello"}]}`
	reserve := inference.EstimateTokens(`[{"role":"user","content":"hello"}]`) + 40
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		p := inference.EstimateTokens(`[{"role":"user","content":"hello"}]`)
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":40,"total_tokens":%d}}`, p, p+40)
	}))
	t.Cleanup(up.Close)
	const n, window, tokenLimit = 50, 2, 1000
	dir := t.TempDir()
	writeManifest(t, dir, "rl", limitedManifest(hostOf(up), n, window, tokenLimit))
	dsp := fmt.Sprintf("manifests file %s\n cache redis redis://%s/0", dir, rp.addr())
	body0 := strings.ReplaceAll(rlPipeline, "%s", "")
	a := startFD2(t, dsp, body0)
	urls := []string{a.url("")}
	for i := 0; i < 2; i++ {
		b := &fd2{t: t, http: freePort(t), admin: freePort(t)}
		startSubprocessFD2(t, b.caddyfile(dsp, strings.ReplaceAll(body0, "{{HTTP}}", fmt.Sprint(b.http))))
		waitListening(t, b.http)
		urls = append(urls, b.url(""))
	}
	for _, u := range urls { // warm each instance (manifest, pool) outside the measured windows
		_, _ = statusOf(mustReq(t, "GET", u+"/rl/nothing", ""))
	}

	for w := 0; w < 3; w++ {
		waitWindowStart(window * time.Second)
		ok, limited, other, errs := burst(64, 800*time.Millisecond, func(i int) (int, error) {
			return statusOf(mustReq(t, "GET", urls[i%3]+"/rl/count", ""))
		})
		t.Logf("request window %d: admitted %d (limit %d), limited %d", w, ok, n, limited)
		if other > 0 {
			t.Fatalf("unexpected failures: %v", errs)
		}
		if ok > n || ok < n-1 {
			t.Fatalf("window %d admitted %d requests, want %d (or %d)", w, ok, n, n-1)
		}
	}
	want := int64(tokenLimit) / reserve
	for w := 0; w < 2; w++ {
		waitWindowStart(window * time.Second)
		ok, limited, other, errs := burst(64, 800*time.Millisecond, func(i int) (int, error) {
			return statusOf(mustReq(t, "POST", urls[i%3]+"/rl/tokens", body))
		})
		t.Logf("token window %d: admitted %d requests × %d tokens (limit %d tokens → %d), limited %d", w, ok, reserve, tokenLimit, want, limited)
		if other > 0 {
			t.Fatalf("unexpected failures: %v", errs)
		}
		if ok > want || ok < want-1 {
			t.Fatalf("token window %d admitted %d requests, want %d (or %d)", w, ok, want, want-1)
		}
	}
}

func mustReq(t testing.TB, method, url, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestRateLimitRedisOutage kills Redis mid-test: fail_open keeps answering (no 5xx storm) with local
// limits, fail_closed answers 503, and exact limiting resumes within one window once Redis is back.
func TestRateLimitRedisOutage(t *testing.T) {
	requireIntegration(t)
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			rp := startRedisProc(t)
			llm := startFakeLLM(t, fakellm.Options{})
			dir := t.TempDir()
			writeManifest(t, dir, "rl", limitedManifest(hostOf(llm), 10, 1, 100000))
			f := startFD2(t, fmt.Sprintf("manifests file %s\n cache redis redis://%s/0", dir, rp.addr()),
				// With an access log (the burst tests leave it out: thousands of lines).
				strings.Replace(fmt.Sprintf(rlPipeline, "{\n fail_mode "+mode+"\n instances 2\n }"), ":{{HTTP}} {", ":{{HTTP}} {\n\t{{LOG}}", 1))
			count := func() (ok, limited, other int64) {
				ok, limited, other, _ = burst(8, 300*time.Millisecond, func(int) (int, error) {
					return statusOf(mustReq(t, "GET", f.url("/rl/count"), ""))
				})
				return
			}
			waitWindowStart(time.Second)
			if ok, _, other := count(); ok != 10 || other != 0 {
				t.Fatalf("before the outage: admitted %d (want 10), other %d", ok, other)
			}
			rp.kill()
			waitWindowStart(time.Second)
			ok, limited, other := count()
			t.Logf("during the outage (%s): admitted %d, limited %d, other %d", mode, ok, limited, other)
			switch mode {
			case "open":
				// Local limiter at limit/instances = 5: no error storm, still limited.
				if other != 0 || ok != 5 || limited == 0 {
					t.Fatalf("fail_open: admitted %d (want 5), limited %d, errors %d", ok, limited, other)
				}
			case "closed":
				r := do(t, "GET", f.url("/rl/count"), "")
				expectStatus(t, r, 503)
				if r.errorCode(t) != "ratelimit_unavailable" || ok != 0 {
					t.Fatalf("fail_closed admitted %d during the outage: %s", ok, r.body)
				}
			}
			if mode == "open" {
				// The fallback's decisions are told apart, in the metrics and in the access log.
				m := string(do(t, "GET", f.adminURL("/metrics"), "").body)
				var n float64
				fmt.Sscan(metricValue(m, `fd2_ratelimit_decisions_total{policy="limit-count",result="fail_open"}`), &n)
				if n < 5 {
					t.Errorf("fail_open decisions = %v, want at least the 5 admitted during the outage", n)
				}
				if len(logLines(t, `"dsp_project":"rl"`, `"dsp_ratelimit":"fail_open"`)) < 5 {
					t.Errorf("fewer than 5 access lines with dsp_ratelimit fail_open")
				}
			}
			rp.start()
			// Within one window after Redis returns, limits are exact (shared) again.
			deadline := time.Now().Add(5 * time.Second)
			for {
				waitWindowStart(time.Second)
				ok, _, other := count()
				if ok == 10 && other == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after Redis returned: admitted %d (want 10), other %d", ok, other)
				}
			}
		})
	}
}

// TestRateLimitStatic covers the static policy, the principal's rate_limit, headers, the 429 body and
// that limiter state survives a reload while a changed limit takes effect at once.
func TestRateLimitStatic(t *testing.T) {
	requireIntegration(t)
	keyFile := t.TempDir() + "/keys.json"
	plain, rec, err := newKey("svc", 3)
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, keyFile, rec)
	site := func(limit string) string {
		return fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			api_keys file %s
		}
		dsp_ratelimit {
			requests %s
			by consumer
			store memory
		}
		respond "ok" 200
	}
	handle_errors {
		dsp_error
	}
}
`, keyFile, limit)
	}
	f := startFD2(t, "", site("5/h"))
	// The key's rate_limit is 3 per minute: the 4th request is refused by the consumer policy.
	for i := 0; i < 3; i++ {
		r := do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain)
		expectStatus(t, r, 200)
		for _, h := range []string{"RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if r.header.Get(h) == "" {
				t.Fatalf("admitted response lacks %s: %v", h, r.header)
			}
		}
	}
	r := do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain)
	expectStatus(t, r, 429)
	if r.errorCode(t) != "rate_limit_exceeded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After or code: %v %s", r.header, r.body)
	}

	// Another consumer (no rate_limit) meets the static 5/h policy; reloads keep its count.
	plain2, rec2, _ := newKey("svc2", 0)
	writeKeys(t, keyFile, rec, rec2)
	time.Sleep(1100 * time.Millisecond) // the key file is re-read at most once a second
	for i := 0; i < 3; i++ {
		expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 200)
	}
	f.load("", site("4/h")) // a changed Caddyfile: the new limit applies to the existing count at once
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 200)
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 429)
	f.load("", site("6/h"))
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 200)
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 200)
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", plain2), 429)
	m := string(do(t, "GET", f.adminURL("/metrics"), "").body)
	if !strings.Contains(m, `fd2_ratelimit_decisions_total{policy="static",result="rejected"}`) ||
		!strings.Contains(m, `fd2_ratelimit_decisions_total{policy="consumer",result="rejected"}`) {
		t.Fatalf("decision metrics missing:\n%s", grepLines(m, "fd2_ratelimit"))
	}
}

// TestRateLimitRequiredByManifest: a route whose manifest asks for limits is refused when no
// dsp_ratelimit stage ran, rather than served unlimited.
func TestRateLimitRequiredByManifest(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "rl", limitedManifest(hostOf(llm), 10, 1, 100))
	f := startFD2(t, "manifests file "+dir, pipeline)
	r := do(t, "GET", f.url("/rl/count"), "")
	expectStatus(t, r, 503)
	if r.errorCode(t) != "ratelimit_required" {
		t.Fatal(string(r.body))
	}
}

// TestTokenReconciliationStream: a streamed completion's reservation (prompt estimate + max_tokens) is
// settled with the usage the provider reports in its final chunk, so the bucket is charged what was used.
func TestTokenReconciliationStream(t *testing.T) {
	requireIntegration(t)
	const used = 7
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}`,
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			fmt.Sprintf(`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":%d}}`, used),
		} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
			http.NewResponseController(w).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "rl", limitedManifest(hostOf(up), 100, 60, 1000))
	f := startFD2(t, "manifests file "+dir, strings.ReplaceAll(rlPipeline, "%s", "{\n store memory\n }"))
	body := `{"model":"m","stream":true,"max_tokens":40,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`
	reserve := inference.EstimateTokens(`[{"role":"user","content":"hello"}]`) + 40
	r := do(t, "POST", f.url("/rl/tokens"), body)
	expectStatus(t, r, 200)
	if got := r.header.Get("X-RateLimit-Remaining"); got != fmt.Sprint(1000-reserve) {
		t.Fatalf("remaining at admission %s, want %d", got, 1000-reserve)
	}
	// The first stream used 7 tokens: 1000 − 7 − this request's reservation remain.
	r = do(t, "POST", f.url("/rl/tokens"), body)
	expectStatus(t, r, 200)
	if got := r.header.Get("X-RateLimit-Remaining"); got != fmt.Sprint(1000-used-reserve) {
		t.Fatalf("remaining after a settled stream %s, want %d (reservation %d refunded to the %d used)", got, 1000-used-reserve, reserve, used)
	}
}

// TestTokenHardBudgetEndsStream: a provider that ignores max_tokens keeps streaming; FD2 ends the client's
// stream cleanly at the reserved allowance with finish_reason "length", an error event and [DONE].
func TestTokenHardBudgetEndsStream(t *testing.T) {
	requireIntegration(t)
	// The upstream would stream 200 words over ~2 s; it records how many it sent before FD2 hung up.
	sent := make(chan int, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 200; i++ {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word%03d \"},\"finish_reason\":null}]}\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				sent <- i + 1
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		sent <- 200
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "rl", limitedManifest(hostOf(up), 100, 60, 100000))
	f := startFD2(t, "manifests file "+dir, strings.ReplaceAll(rlPipeline, "%s", "{\n store memory\n }"))
	res, err := client.Post(f.url("/rl/tokens"), "application/json",
		strings.NewReader(`{"model":"m","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"go on forever"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("the stream was cut instead of ended: %v", err)
	}
	s := string(b)
	if !strings.Contains(s, `"finish_reason":"length"`) || !strings.Contains(s, `"code":"token_budget_exceeded"`) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream end:\n%s", s[max(0, len(s)-400):])
	}
	words := strings.Count(s, `"content":"word`)
	if words == 0 || words > 12 {
		t.Fatalf("%d content chunks passed a 10-token allowance", words)
	}
	select {
	case n := <-sent:
		if n >= 200 {
			t.Fatal("the upstream streamed to its end: FD2 did not stop it when the budget ended the client's stream")
		}
		t.Logf("stream ended after %d content chunks; the upstream was stopped after sending %d of 200", words, n)
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream was not stopped")
	}
}

// TestTokenHardBudgetStopsProvider: through dsp_openai, a stream that outgrows its token reservation is
// ended for the client and the provider call is stopped, so the response completes at once instead of
// after the provider's whole (slow) answer.
func TestTokenHardBudgetStopsProvider(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 10 * time.Millisecond})
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_ratelimit {
			tokens 100000/h
			by ip
			store memory
			default_max_tokens 5
		}
		dsp_openai {
			provider fake openai {
				base_url %s/v1
			}
		}
	}
	handle_errors {
		dsp_error
	}
}
`, llm.URL))
	prompt := strings.Repeat("word ", 150) // echoed back word by word: ~1.5 s of stream
	t0 := time.Now()
	res, err := client.Post(f.url("/v1/chat/completions"), "application/json",
		strings.NewReader(`{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"`+prompt+`"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("the stream was cut instead of ended: %v", err)
	}
	s := string(b)
	if !strings.Contains(s, `"code":"token_budget_exceeded"`) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream end:\n%s", s[max(0, len(s)-400):])
	}
	if took > 700*time.Millisecond {
		t.Fatalf("the response took %v: FD2 waited for the provider's whole answer instead of stopping it", took)
	}
	t.Logf("stream ended by the budget after %v (the provider's whole answer takes ~1.5 s)", took)
}
