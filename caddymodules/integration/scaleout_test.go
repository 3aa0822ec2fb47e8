// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// How a rollout drops nothing (issue 17 §3), as this test proves it:
//
//  1. Each instance runs with the shutdown_delay global option. On SIGTERM Caddy does not close its
//     listener at once: for the delay it keeps serving normally, with {http.shutting_down} true, and
//     dsp_health answers 503 on /health (caddymodules/health).
//  2. The balancer's active health check (health_uri /health, every scaleHealthInterval) sees the 503 and
//     takes the instance out of rotation well within the delay. Requests routed to it before that are
//     served normally: the instance is still fully up.
//  3. When the delay ends, Caddy closes the listener and its idle connections and gives the requests in
//     flight (streams included) grace_period to finish; nothing new reaches it, because the balancer no
//     longer picks it.
//  4. While it is down, and until its replacement passes a health check, a request the balancer still sends
//     there is refused at connect, which lb_try_duration retries on another instance (a dial error is safe
//     to retry, even for a POST); the passive check (fail_duration) keeps it out meanwhile.
//
// Without step 1 the listener closes the moment SIGTERM arrives, together with every idle keep-alive
// connection: a POST the balancer writes on such a connection just as the instance closes it fails after
// the connection was established, and Caddy does not retry that (the upstream may have received it), so
// the client gets a 502. Connect-refused requests alone would be retried; the keep-alive race would not.
// In Kubernetes, shutdown_delay plays the part of a preStop sleep, and terminationGracePeriodSeconds must
// cover shutdown_delay + grace_period.
const (
	scaleShutdownDelay  = 1500 * time.Millisecond
	scaleHealthInterval = 200 * time.Millisecond
	scaleRateLimit      = 15 // limit-count per window, shared by the three instances
	scaleRateWindow     = 10 // seconds
	scalePrompt         = "one two three four five six seven eight nine"
)

// scaleManifest is the project the three instances serve: chat to the fake provider, a route limited by
// limit-count (one bucket for the route), and a route whose response header names the manifest version.
func scaleManifest(llm, version string) string {
	return fmt.Sprintf(`{"project_id":"scale","project_name":"scale-out","modules":[{"module_type":"api_gateway","name":"gw","config":{"gateway_type":"apisix","routes":[
	  {"name":"chat","uri":"/scale/v1/chat/completions","methods":["POST"],
	   "upstream":{"scheme":"http","nodes":{"%[1]s":1},"timeout":{"connect":2,"send":10,"read":10}},
	   "plugins":{"proxy-rewrite":{"uri":"/v1/chat/completions"}}},
	  {"name":"count","uri":"/scale/count","upstream":{"scheme":"http","nodes":{"%[1]s":1}},
	   "plugins":{"limit-count":{"count":%[3]d,"time_window":%[4]d,"key_type":"constant","rejected_code":429},"proxy-rewrite":{"uri":"/echo/count"}}},
	  {"name":"version","uri":"/scale/version","upstream":{"scheme":"http","nodes":{"%[1]s":1}},
	   "plugins":{"proxy-rewrite":{"uri":"/echo/version"},"response-rewrite":{"headers":{"set":{"X-Manifest":"%[2]s"}}}}}
	]}}]}`, llm, version, scaleRateLimit, scaleRateWindow)
}

// scaleSite is an instance's site: the standard pipeline with API keys in Redis, labelled by X-Instance so
// that the client sees which instance (and which config generation) served each response.
const scaleSite = `
:{{HTTP}} {
	header X-Instance LABEL
	@health path /health
	handle @health {
		dsp_health
	}
	handle {
		route {
			dsp_manifest
			dsp_auth {
				api_keys redis
			}
			dsp_ratelimit
			dsp_dispatch
		}
	}
	handle_errors {
		dsp_error
	}
}
`

// scaleInstance is one fd2 process of the cluster.
type scaleInstance struct {
	label string // i<slot>-v<generation>
	port  int
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
	out   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startScaleInstance starts an fd2 process (this test binary in Caddy mode) on port, without waiting. The
// process lives until owner's cleanup (the whole test, not the subtest that started it).
func startScaleInstance(t, owner *testing.T, dsp, label string, port int) *scaleInstance {
	t.Helper()
	f := &fd2{t: t, http: port, admin: freePort(t), info: true}
	site := strings.ReplaceAll(strings.ReplaceAll(scaleSite, "LABEL", label), "{{HTTP}}", fmt.Sprint(port))
	cfg := f.caddyfile(dsp, site)
	withDelay := strings.Replace(cfg, "grace_period 5s", "grace_period 5s\n\tshutdown_delay "+scaleShutdownDelay.String(), 1)
	if withDelay == cfg {
		t.Fatal("the global block has no grace_period line to put shutdown_delay after")
	}
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(withDelay), 0o600); err != nil {
		t.Fatalf("writing Caddyfile: %v", err)
	}
	in := &scaleInstance{label: label, port: port, done: make(chan struct{}), out: &lockedBuffer{}}
	in.cmd = exec.Command(os.Args[0], "-test.run=^$")
	in.cmd.Env = append(os.Environ(), "FD2_AS_CADDY=1", "FD2_ARGS=run --config "+path+" --adapter caddyfile")
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("starting instance %s: %v", label, err)
	}
	go func() {
		_ = in.cmd.Wait()
		close(in.done)
	}()
	owner.Cleanup(func() {
		select {
		case <-in.done:
		default:
			_ = in.cmd.Process.Kill()
			<-in.done
		}
		if owner.Failed() {
			owner.Logf("instance %s output (last 4 KiB):\n%s", label, tail(in.out.String(), 4096))
		}
	})
	return in
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitHealthy waits until the instance answers 200 on /health itself.
func (in *scaleInstance) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.done:
			t.Fatalf("instance %s exited while starting:\n%s", in.label, tail(in.out.String(), 4096))
		default:
		}
		res, err := scaleClient.Get(fmt.Sprintf("http://127.0.0.1:%d/health", in.port))
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("instance %s is not healthy after 20s", in.label)
}

// stop signals the process and waits for it to exit.
func (in *scaleInstance) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	in.signal(t, sig)
	in.wait(t, sig)
}

func (in *scaleInstance) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := in.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling instance %s: %v", in.label, err)
	}
}

func (in *scaleInstance) wait(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-in.done:
	case <-time.After(scaleShutdownDelay + 5*time.Second + 10*time.Second): // delay + grace_period + slack
		t.Fatalf("instance %s did not exit after %v", in.label, sig)
	}
}

func (in *scaleInstance) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", in.port, path)
}

// scaleClient has a pool large enough that closed-loop clients keep their connections.
var scaleClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// outcome is one request of the load, as the client saw it.
type outcome struct {
	stream     bool
	start, end time.Time
	label      string // X-Instance of the response ("" when none arrived)
	upstream   string // the upstream a balancer error names (X-Lb-Upstream)
	err        string // "" when the request succeeded
}

// scaleLoad runs closed-loop clients through the balancer until stop is called.
type scaleLoad struct {
	lb, key string
	mu      sync.Mutex
	results []outcome
	stopped atomic.Bool
	wg      sync.WaitGroup
}

func (l *scaleLoad) run(chats, streams int) {
	for i := 0; i < chats+streams; i++ {
		stream := i >= chats
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopped.Load() {
				o := l.one(stream)
				l.mu.Lock()
				l.results = append(l.results, o)
				l.mu.Unlock()
			}
		}()
	}
}

func (l *scaleLoad) stop() []outcome {
	l.stopped.Store(true)
	l.wg.Wait()
	return l.snapshot()
}

func (l *scaleLoad) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.results...)
}

// one sends a chat completion (a stream must end with [DONE]) and reports how it went.
func (l *scaleLoad) one(stream bool) (o outcome) {
	o = outcome{stream: stream, start: time.Now()}
	defer func() { o.end = time.Now() }()
	body := fmt.Sprintf(`{"model":"fake-gpt","stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, scalePrompt)
	req, err := http.NewRequest("POST", l.lb+"/scale/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		o.err = err.Error()
		return o
	}
	req.Header.Set("Authorization", "Bearer "+l.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := scaleClient.Do(req)
	if err != nil {
		o.err = "request: " + err.Error()
		return o
	}
	defer res.Body.Close()
	o.label, o.upstream = res.Header.Get("X-Instance"), res.Header.Get("X-Lb-Upstream")
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		o.err = fmt.Sprintf("status %d: %s", res.StatusCode, bytes.TrimSpace(b))
		return o
	}
	if !stream {
		b, err := io.ReadAll(res.Body)
		if err != nil {
			o.err = "reading: " + err.Error()
		} else if !bytes.Contains(b, []byte("echo: "+scalePrompt)) {
			o.err = "unexpected body: " + string(b)
		}
		return o
	}
	sc := bufio.NewScanner(res.Body)
	var words int
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			done = true
			continue
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"content":"`) {
			words++
		}
	}
	switch {
	case sc.Err() != nil:
		o.err = fmt.Sprintf("stream broken after %d chunks: %v", words, sc.Err())
	case !done:
		o.err = fmt.Sprintf("stream ended after %d chunks without [DONE]", words)
	}
	return o
}

// fd2Keys runs `fd2 keys …` (this binary in Caddy mode), as an operator would.
func fd2Keys(t *testing.T, args ...string) string {
	t.Helper()
	return runFD2(t, append([]string{"keys"}, args...)...)
}

// runFD2 runs FD2's command line (this test binary as Caddy's) with args and returns its output.
func runFD2(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FD2_AS_CADDY=1", "FD2_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fd2 %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func createRedisKey(t *testing.T, redisURL, owner string) (id, key string) {
	t.Helper()
	return createdKey(t, fd2Keys(t, "create", "--redis", redisURL, "--owner", owner))
}

// createdKey reads the id and the key `fd2 keys create` printed, and registers the key as a secret the
// suite's logs must never hold.
func createdKey(t *testing.T, out string) (id, key string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "key:"); ok {
			key = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "id:"); ok {
			id = strings.TrimSpace(v)
		}
	}
	if id == "" || key == "" {
		t.Fatalf("fd2 keys create printed no id or key:\n%s", out)
	}
	registerSecret(key)
	return id, key
}

func getStatus(t *testing.T, url, key string) (int, http.Header) {
	t.Helper()
	code, h, err := tryStatus(url, key)
	if err != nil {
		t.Fatal(err)
	}
	return code, h
}

func tryStatus(url, key string) (int, http.Header, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := scaleClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header, nil
}

// TestScaleOutRollingRestart is issue 17 §3: three fd2 processes on one redis-server behind a fourth FD2
// as the load balancer (reverse_proxy, least_conn, active and passive health checks). It checks the state
// they share (one rate limit bucket, a manifest change, an API key revocation), rolls all three one at a
// time under chat and SSE load with no failed request and no broken stream, then SIGKILLs one and bounds
// what the client lost.
func TestScaleOutRollingRestart(t *testing.T) {
	requireIntegration(t)
	parent := t
	redisAddr := redistest.Start(t)
	redisURL := "redis://" + redisAddr + "/0"
	// Streams of ~1.1 s (11 events 100 ms apart), so every stop meets streams in flight.
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 100 * time.Millisecond, Latency: 30 * time.Millisecond})
	ctDir := t.TempDir()
	writeManifest(t, ctDir, "scale", scaleManifest(hostOf(llm), "v1"))
	ct := httptest.NewServer(controltower.New(ctDir, controltower.Options{}))
	t.Cleanup(ct.Close)

	// Only slot 0 polls the Control Tower often; slots 1 and 2 poll hourly, so a change reaches them only
	// through Redis pub/sub, and the bound for all three is slot 0's refresh.
	const refresh = time.Second
	dsp := func(slot int) string {
		every := time.Hour
		if slot == 0 {
			every = refresh
		}
		return fmt.Sprintf("manifests control_tower %s {\n refresh %s\n }\n cache redis %s {\n ttl 10m\n prefix scale:\n }\n cache_key %s",
			ct.URL, every, redisURL, testCacheKey)
	}
	var slots [3]*scaleInstance
	for i := range slots {
		slots[i] = startScaleInstance(t, t, dsp(i), fmt.Sprintf("i%d-v1", i), freePort(t))
	}
	for _, in := range slots {
		in.waitHealthy(t)
	}

	lb := startFD2Info(t, "", fmt.Sprintf(`
:{{HTTP}} {
	reverse_proxy 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d {
		lb_policy least_conn
		lb_try_duration 5s
		lb_try_interval 50ms
		health_uri /health
		health_interval %s
		health_timeout 2s
		fail_duration 2s
		max_fails 1
		flush_interval -1
		transport http {
			dial_timeout 1s
		}
	}
	handle_errors {
		header X-Lb-Upstream {http.reverse_proxy.upstream.hostport}
		respond "balancer: {err.status_code} {err.message}" {err.status_code}
	}
}
`, slots[0].port, slots[1].port, slots[2].port, scaleHealthInterval))

	_, loadKey := createRedisKey(t, redisURL, "load")
	revokedID, revokedKey := createRedisKey(t, redisURL, "leaver")
	for _, in := range slots { // each instance loads the project (the first from the Control Tower, then Redis)
		if code, h := getStatus(t, in.url("/scale/version"), loadKey); code != 200 || h.Get("X-Manifest") != "v1" {
			t.Fatalf("instance %s: status %d, X-Manifest %q", in.label, code, h.Get("X-Manifest"))
		}
	}

	t.Run("shared rate limit", func(t *testing.T) {
		// limit-count windows are aligned to multiples of the window: keep the burst inside one.
		w := scaleRateWindow * time.Second
		if time.Until(time.Now().Truncate(w).Add(w)) < 3*time.Second {
			waitWindowStart(w)
		}
		windowStart := time.Now().Truncate(w)
		var ok, limited, other atomic.Int64
		var othersMu sync.Mutex
		var others []string // what the requests counted as other got
		var wg sync.WaitGroup
		for c := 0; c < 6; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 2*scaleRateLimit/6; i++ {
					in := slots[(c+i)%3]
					code, h, err := tryStatus(in.url("/scale/count"), loadKey) // an error counts as other
					switch code {
					case 200:
						ok.Add(1)
					case 429:
						limited.Add(1)
					default:
						other.Add(1)
						othersMu.Lock()
						others = append(others, fmt.Sprintf("%s: status %d, error %v, X-Instance %q", in.label, code, err, h.Get("X-Instance")))
						othersMu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if !time.Now().Truncate(w).Equal(windowStart) {
			t.Fatal("the burst crossed a window boundary")
		}
		t.Logf("rate limit: %d requests spread over 3 instances, %d admitted (limit %d), %d refused", 2*scaleRateLimit, ok.Load(), scaleRateLimit, limited.Load())
		if ok.Load() != scaleRateLimit || limited.Load() != scaleRateLimit || other.Load() != 0 {
			t.Fatalf("admitted %d, refused %d, other %d; want exactly %d and %d; the others:\n%s", ok.Load(), limited.Load(), other.Load(),
				scaleRateLimit, scaleRateLimit, strings.Join(others, "\n"))
		}
	})

	t.Run("manifest change reaches all three", func(t *testing.T) {
		writeManifest(t, ctDir, "scale", scaleManifest(hostOf(llm), "v2"))
		changed := time.Now()
		seen := map[int]time.Duration{}
		deadline := changed.Add(refresh + 2*time.Second) // slot 0's refresh, one fetch, pub/sub, scheduling
		for len(seen) < 3 && time.Now().Before(deadline) {
			for i, in := range slots {
				if _, ok := seen[i]; ok {
					continue
				}
				if _, h := getStatus(t, in.url("/scale/version"), loadKey); h.Get("X-Manifest") == "v2" {
					seen[i] = time.Since(changed)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("manifest v2 seen after %v (slot 0, polling every %v), %v and %v (slots 1 and 2, by pub/sub)", seen[0], refresh, seen[1], seen[2])
		if len(seen) < 3 {
			t.Fatalf("after %v only slots %v serve the new manifest", time.Since(changed), seen)
		}
	})

	t.Run("revoked key refused by all three", func(t *testing.T) {
		for _, in := range slots {
			if code, _ := getStatus(t, in.url("/scale/version"), revokedKey); code != 200 {
				t.Fatalf("instance %s refuses the key before revocation: %d", in.label, code)
			}
		}
		fd2Keys(t, "revoke", "--redis", redisURL, revokedID)
		revoked := time.Now()
		var worst time.Duration
		for _, in := range slots {
			for {
				code, _ := getStatus(t, in.url("/scale/version"), revokedKey)
				if code == 401 {
					break
				}
				if time.Since(revoked) > time.Second {
					t.Fatalf("instance %s still admits the revoked key after one second (status %d)", in.label, code)
				}
				time.Sleep(10 * time.Millisecond)
			}
			worst = max(worst, time.Since(revoked))
		}
		t.Logf("revocation refused by all three within %v", worst.Round(time.Millisecond))
	})

	load := &scaleLoad{lb: lb.url(""), key: loadKey}
	load.run(4, 4)
	t.Cleanup(func() { load.stop() }) // a failing subtest must not leave clients running

	// servedBy waits until a request that started after since was served by label through the balancer.
	servedBy := func(label string, since time.Time) (time.Time, bool) {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			for _, o := range load.snapshot() {
				if o.label == label && o.err == "" && o.start.After(since) {
					return o.start, true
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Time{}, false
	}
	for _, in := range slots {
		if _, ok := servedBy(in.label, time.Time{}); !ok {
			t.Fatalf("the balancer never routed to %s", in.label)
		}
	}

	t.Run("rolling restart", func(t *testing.T) {
		before := len(load.snapshot())
		type roll struct {
			old, new                        string
			sigterm, exited, started, first time.Time
			draining                        time.Duration // SIGTERM to /health answering 503
		}
		var rolls []roll
		for i := range slots {
			time.Sleep(500 * time.Millisecond) // let the load settle on the new set
			r := roll{old: slots[i].label, new: fmt.Sprintf("i%d-v2", i), sigterm: time.Now()}
			slots[i].signal(t, syscall.SIGTERM)
			// Draining: the instance still serves, but its /health fails so the balancer drops it.
			for {
				code, _, err := tryStatus(slots[i].url("/health"), "")
				if err == nil && code == 503 {
					break
				}
				if time.Since(r.sigterm) > scaleShutdownDelay/2 {
					t.Fatalf("%s: /health answers %d (%v) %v after SIGTERM, want 503 while shutting down", r.old, code, err, time.Since(r.sigterm))
				}
				time.Sleep(10 * time.Millisecond)
			}
			r.draining = time.Since(r.sigterm)
			slots[i].wait(t, syscall.SIGTERM)
			r.exited = time.Now()
			r.started = time.Now()
			// The changed config: another X-Instance label on the same port, so the balancer's upstream list
			// does not change.
			slots[i] = startScaleInstance(t, parent, dsp(i), r.new, slots[i].port)
			slots[i].waitHealthy(t)
			first, ok := servedBy(r.new, r.started)
			if !ok {
				t.Fatalf("the balancer never routed to the replacement %s", r.new)
			}
			r.first = first
			rolls = append(rolls, r)
		}
		time.Sleep(1500 * time.Millisecond) // streams started on the last replacement finish under observation
		res := load.snapshot()[before:]
		var chats, streams, failed int
		var errs []string
		for _, o := range res {
			if o.stream {
				streams++
			} else {
				chats++
			}
			if o.err != "" {
				failed++
				if len(errs) < 10 {
					errs = append(errs, fmt.Sprintf("%s (stream %t, instance %q, upstream %q, at %v)", o.err, o.stream, o.label, o.upstream, o.start.Format("15:04:05.000")))
				}
			}
		}
		drained := 0
		for _, r := range rolls {
			// notice: the last request routed to the stopping instance started this long after SIGTERM.
			var last time.Time
			inflight := 0
			for _, o := range res {
				if o.label != r.old {
					continue
				}
				if o.start.After(last) {
					last = o.start
				}
				if o.stream && o.start.Before(r.sigterm) && o.end.After(r.sigterm) {
					inflight++
				}
			}
			drained += inflight
			notice := last.Sub(r.sigterm)
			if notice < 0 {
				notice = 0
			}
			t.Logf("roll %s → %s: /health 503 after %v, last request routed to it %v after SIGTERM, %d streams in flight at SIGTERM finished, exited after %v, replacement started and routed to after %v",
				r.old, r.new, r.draining.Round(time.Millisecond), notice.Round(time.Millisecond), inflight, r.exited.Sub(r.sigterm).Round(time.Millisecond), r.first.Sub(r.started).Round(time.Millisecond))
			// The balancer must drop the instance well before its listener closes: with a /health that kept
			// answering 200 it would route there for the whole delay and race the keep-alive close.
			if notice > scaleShutdownDelay*2/3 {
				t.Errorf("the balancer routed to %s %v after SIGTERM; it should have left rotation well within the shutdown delay (%v)", r.old, notice, scaleShutdownDelay)
			}
		}
		t.Logf("rolling restart: %d chat requests and %d streams through the balancer, %d failed; %d streams drained from stopping instances", chats, streams, failed, drained)
		if failed > 0 {
			t.Fatalf("%d requests failed during the rolling restart: %s", failed, strings.Join(errs, "\n"))
		}
		if chats == 0 || streams == 0 || drained == 0 {
			t.Fatalf("the load did not exercise the rollout: %d chats, %d streams, %d drained", chats, streams, drained)
		}
	})

	t.Run("sigkill one instance", func(t *testing.T) {
		time.Sleep(500 * time.Millisecond)
		victim := slots[1]
		addr := fmt.Sprintf("127.0.0.1:%d", victim.port)
		var upstreams []struct {
			Address     string `json:"address"`
			NumRequests int    `json:"num_requests"`
		}
		if err := json.Unmarshal(do(t, "GET", lb.adminURL("/reverse_proxy/upstreams"), "").body, &upstreams); err != nil {
			t.Fatalf("reading the balancer's upstreams: %v", err)
		}
		onVictim := -1
		for _, u := range upstreams {
			if u.Address == addr {
				onVictim = u.NumRequests
			}
		}
		before := len(load.snapshot())
		killed := time.Now()
		victim.stop(t, syscall.SIGKILL)
		// The process is reaped, so the kernel has closed its sockets; the balancer still needs a moment to
		// see its pooled connections close (a request written on one fails and is not retried).
		reaped := time.Now()
		settled := reaped.Add(100 * time.Millisecond)
		time.Sleep(2 * time.Second)
		res := load.stop()[before:]
		var lost, inflightVictim, inflightAll, after int
		var errs []string
		for _, o := range res {
			if o.start.Before(reaped) && o.end.After(killed) {
				inflightAll++
				if o.label == victim.label || o.upstream == addr {
					inflightVictim++
				}
			} else if o.err == "" && o.start.After(settled) {
				after++
			}
			if o.err == "" {
				continue
			}
			lost++
			errs = append(errs, fmt.Sprintf("%s (stream %t, instance %q, upstream %q, started %v before the kill)", o.err, o.stream, o.label, o.upstream, killed.Sub(o.start).Round(time.Millisecond)))
			if o.label != victim.label && o.upstream != addr {
				t.Errorf("a request not on the killed instance failed: %s", errs[len(errs)-1])
			}
			if o.start.After(settled) {
				t.Errorf("a request sent after the kill failed instead of being routed around it: %s", errs[len(errs)-1])
			}
		}
		sort.Strings(errs)
		t.Logf("SIGKILL %s: the balancer counted %d requests on it just before; the client lost %d (of %d requests in flight at the kill, %d of them known to be on it); %d requests sent after it succeeded (reaped %v after SIGKILL)\n%s",
			victim.label, onVictim, lost, inflightAll, inflightVictim, after, reaped.Sub(killed).Round(time.Millisecond), strings.Join(errs, "\n"))
		if lost > inflightAll {
			t.Fatalf("lost %d requests, more than the %d in flight at the kill", lost, inflightAll)
		}
		if after == 0 {
			t.Fatal("no request succeeded after the kill")
		}
	})
}

// TestHealthFailsWhileShuttingDown checks dsp_health's draining answer in process: Caddy applies
// shutdown_delay to a listener that closes, here through a reload that moves the site to another port.
// During the delay the old listener still serves, and its /health answers 503 shutting_down.
func TestHealthFailsWhileShuttingDown(t *testing.T) {
	requireIntegration(t)
	const delay = 2 * time.Second
	site := `
:{{HTTP}} {
	handle /health {
		dsp_health
	}
	respond "still serving" 200
}
`
	load := func(f *fd2) error {
		cfg := strings.Replace(f.caddyfile("", site), "grace_period 5s", "grace_period 5s\n\tshutdown_delay "+delay.String(), 1)
		adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
		if err != nil {
			return fmt.Errorf("adapting: %w", err)
		}
		return caddy.Load(adapted, true)
	}
	old := &fd2{t: t, http: freePort(t), admin: freePort(t), info: true}
	if err := load(old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	waitListening(t, old.http)
	if r := do(t, "GET", old.url("/health"), ""); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Fatalf("health before the shutdown: %d %s", r.status, r.body)
	}

	moved := &fd2{t: t, http: freePort(t), admin: old.admin, info: true}
	reloaded := make(chan error, 1)
	start := time.Now()
	go func() { reloaded <- load(moved) }() // returns once the old server has stopped, after the delay
	for {
		res, err := scaleClient.Get(old.url("/health"))
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 503 {
				if !strings.Contains(string(b), `"status":"shutting_down"`) {
					t.Fatalf("503 body: %s", b)
				}
				break
			}
		}
		if time.Since(start) > delay/2 {
			t.Fatalf("/health of the closing listener did not turn 503 within %v (last: %v)", delay/2, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Draining is not refusing: the old listener still serves everything else, and the new one is healthy.
	if r := do(t, "GET", old.url("/anything"), ""); r.status != 200 || string(r.body) != "still serving" {
		t.Fatalf("the draining listener answers %d %s", r.status, r.body)
	}
	if r := do(t, "GET", moved.url("/health"), ""); r.status != 200 {
		t.Fatalf("the new listener's health: %d %s", r.status, r.body)
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("reloading: %v", err)
	}
	if waited := time.Since(start); waited < delay {
		t.Fatalf("the reload returned after %v, before the shutdown delay (%v)", waited, delay)
	}
}
