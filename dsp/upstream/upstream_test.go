// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func newProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// serve runs one request through p, as the gateway does, and returns the recorded answer.
func serve(t *testing.T, p *Proxy, r *http.Request) (*httptest.ResponseRecorder, Result, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	res, err := p.Serve(rec, r, "203.0.113.9")
	return rec, res, err
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{Scheme: "ftp", Nodes: []Node{{Addr: "a:1"}}},
		{Scheme: "http"},
		{Scheme: "http", Nodes: []Node{{Addr: "no-port"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestRoundRobinOrder(t *testing.T) {
	count := func(order []int) map[int]int {
		m := map[int]int{}
		for _, i := range order {
			m[i]++
		}
		return m
	}
	if got := count(roundRobinOrder([]Node{{Weight: 5}, {Weight: 1}})); got[0] != 5 || got[1] != 1 {
		t.Errorf("5:1 gives %v", got)
	}
	// Smooth: the heavy node's turns are spread, never five in a row ahead of the light one.
	order := roundRobinOrder([]Node{{Weight: 2}, {Weight: 2}, {Weight: 4}})
	if len(order) != 4 || count(order)[2] != 2 {
		t.Errorf("2:2:4 reduces to 1:1:2, got %v", order)
	}
	if got := count(roundRobinOrder([]Node{{Weight: 3}, {Weight: 0}})); got[1] != 0 || got[0] != 1 {
		t.Errorf("a node of weight 0 takes traffic: %v", got)
	}
	if got := count(roundRobinOrder([]Node{{Weight: 0}, {Weight: 0}})); got[0] != 1 || got[1] != 1 {
		t.Errorf("all weights 0 must share: %v", got)
	}
}

// nodeServer answers with its name, counting requests.
func nodeServer(t *testing.T, name string, n *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBalancing(t *testing.T) {
	var na, nb atomic.Int64
	a, b := nodeServer(t, "a", &na), nodeServer(t, "b", &nb)
	t.Run("weighted round robin", func(t *testing.T) {
		na.Store(0)
		nb.Store(0)
		p := newProxy(t, Config{Nodes: []Node{{Addr: hostOf(a), Weight: 3}, {Addr: hostOf(b), Weight: 1}}})
		for range 40 {
			if _, _, err := serve(t, p, httptest.NewRequest("GET", "/", nil)); err != nil {
				t.Fatal(err)
			}
		}
		if na.Load() != 30 || nb.Load() != 10 {
			t.Errorf("3:1 weights sent %d and %d of 40", na.Load(), nb.Load())
		}
	})
	t.Run("client IP hash is sticky", func(t *testing.T) {
		p := newProxy(t, Config{Policy: IPHash, Nodes: []Node{{Addr: hostOf(a), Weight: 1}, {Addr: hostOf(b), Weight: 1}}})
		seen := map[string]map[string]bool{}
		for _, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
			seen[ip] = map[string]bool{}
			for range 5 {
				rec := httptest.NewRecorder()
				if _, err := p.Serve(rec, httptest.NewRequest("GET", "/", nil), ip); err != nil {
					t.Fatal(err)
				}
				seen[ip][rec.Body.String()] = true
			}
			if len(seen[ip]) != 1 {
				t.Errorf("client %s reached %v", ip, seen[ip])
			}
		}
	})
	t.Run("least connections", func(t *testing.T) {
		// a holds a slow request; the next ones go to b.
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
			_, _ = io.WriteString(w, "slow")
		}))
		defer slow.Close()
		defer close(release)
		p := newProxy(t, Config{Policy: LeastConn, Nodes: []Node{{Addr: hostOf(slow), Weight: 1}, {Addr: hostOf(b), Weight: 1}}})
		started := make(chan struct{})
		go func() {
			close(started)
			_, _ = p.Serve(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), "")
		}()
		<-started
		deadline := time.Now().Add(2 * time.Second)
		for p.nodes[0].active.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		for range 5 {
			rec, _, err := serve(t, p, httptest.NewRequest("GET", "/", nil))
			if err != nil || rec.Body.String() != "b" {
				t.Fatalf("got %q, %v; want the idle node", rec.Body.String(), err)
			}
		}
	})
}

// TestRetry: a node that refuses connections is skipped for another within Retries, the POST body sent
// whole to the node that takes it; without retries, or past them, the answer is 502.
func TestRetry(t *testing.T) {
	var got atomic.Value
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		_, _ = io.WriteString(w, "ok")
	}))
	defer ok.Close()
	dead := closedAddr(t)
	p := newProxy(t, Config{Retries: 1, Nodes: []Node{{Addr: dead, Weight: 1}, {Addr: hostOf(ok), Weight: 1}}})
	for i := range 4 { // whichever node round robin starts with
		body := fmt.Sprintf(`{"n":%d}`, i)
		rec, res, err := serve(t, p, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
		if err != nil || rec.Body.String() != "ok" || res.Status != 200 || got.Load() != body {
			t.Fatalf("attempt %d: %v %q status %d, upstream got %v", i, err, rec.Body.String(), res.Status, got.Load())
		}
	}
	p0 := newProxy(t, Config{Nodes: []Node{{Addr: dead, Weight: 1}}})
	_, _, err := serve(t, p0, httptest.NewRequest("GET", "/", nil))
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway {
		t.Fatalf("a refused connection gave %v; want a 502 Error", err)
	}
}

// TestNoRetryOnceSent: a POST that reached a node which then failed is not sent again (it may have had
// effects); a GET is.
func TestNoRetryOnceSent(t *testing.T) {
	var hits atomic.Int64
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		panic(http.ErrAbortHandler) // the connection drops without an answer
	}))
	defer broken.Close()
	p := newProxy(t, Config{Retries: 3, Nodes: []Node{{Addr: hostOf(broken), Weight: 1}, {Addr: hostOf(broken), Weight: 1}}})
	_, _, err := serve(t, p, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if err == nil || hits.Load() != 1 {
		t.Fatalf("POST: err %v after %d attempts; want an error after 1", err, hits.Load())
	}
	hits.Store(0)
	_, _, err = serve(t, p, httptest.NewRequest("GET", "/", nil))
	if err == nil || hits.Load() != 4 {
		t.Fatalf("GET: err %v after %d attempts; want an error after 4", err, hits.Load())
	}
}

// TestIdempotentRetry: a POST marked Idempotent is sent again, whole, after its exchange failed; without a
// replayable body it is not.
func TestIdempotentRetry(t *testing.T) {
	var hits atomic.Int64
	var bodies sync.Map
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		bodies.Store(n, string(b))
		if n == 1 {
			panic(http.ErrAbortHandler) // the first exchange breaks after the body went out
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer flaky.Close()
	p := newProxy(t, Config{Retries: 2, Nodes: []Node{{Addr: hostOf(flaky), Weight: 1}}})
	const body = `{"query":"q"}`
	r := httptest.NewRequest("POST", "/api/v1/query", strings.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	r = r.WithContext(Idempotent(r.Context()))
	rec, _, err := serve(t, p, r)
	if err != nil || rec.Body.String() != "ok" || hits.Load() != 2 {
		t.Fatalf("idempotent POST: err %v body %q after %d attempts; want ok after 2", err, rec.Body.String(), hits.Load())
	}
	if b, _ := bodies.Load(int64(2)); b != body {
		t.Errorf("the retry sent %q; want the whole body %q", b, body)
	}

	hits.Store(0)
	r = httptest.NewRequest("POST", "/api/v1/query", strings.NewReader(body)) // no GetBody
	r = r.WithContext(Idempotent(r.Context()))
	if _, _, err := serve(t, p, r); err == nil || hits.Load() != 1 {
		t.Fatalf("no replayable body: err %v after %d attempts; want an error after 1", err, hits.Load())
	}
}

// TestForwarding: the request that reaches the node — path, query, Host policy, forwarding headers,
// hop-by-hop headers gone — and the answer that reaches the client.
func TestForwarding(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("X-Answer", "yes")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]any{"uri": r.RequestURI, "host": r.Host, "headers": r.Header})
	}))
	defer echo.Close()
	for _, tc := range []struct {
		mode     HostMode
		host     string
		wantHost string
	}{{HostPass, "", "client.example"}, {HostNode, "", hostOf(echo)}, {HostRewrite, "svc.internal", "svc.internal"}} {
		p := newProxy(t, Config{HostMode: tc.mode, Host: tc.host, Nodes: []Node{{Addr: hostOf(echo), Weight: 1}}})
		r := httptest.NewRequest("GET", "http://client.example/a%2Fb/c?q=1&r=%20", nil)
		r.URL.Path = "/up/a%2Fb/c" // what the route's rewrite left (escaped as the client sent it)
		r.URL.RawPath = ""
		r.Header.Set("Connection", "keep-alive, X-Hop")
		r.Header.Set("X-Hop", "drop me")
		r.Header.Set("Keep-Alive", "timeout=5")
		r.Header.Set("X-Forwarded-For", "10.0.0.1") // a client's claim is not trusted
		r.Header.Set("Authorization", "Bearer kept")
		rec, res, err := serve(t, p, r)
		if err != nil || res.Status != 201 || rec.Code != 201 {
			t.Fatalf("%v status %d/%d", err, res.Status, rec.Code)
		}
		var got struct {
			URI     string      `json:"uri"`
			Host    string      `json:"host"`
			Headers http.Header `json:"headers"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		h := got.Headers
		if got.URI != "/up/a%252Fb/c?q=1&r=%20" || got.Host != tc.wantHost {
			t.Errorf("mode %d: uri %q host %q; want host %q", tc.mode, got.URI, got.Host, tc.wantHost)
		}
		if h.Get("X-Hop") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Forwarded-For") != "203.0.113.9" ||
			h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Host") != "client.example" ||
			h.Get("Via") != "1.1 fd2" || h.Get("Authorization") != "Bearer kept" || h.Get("User-Agent") != "" {
			t.Errorf("headers upstream: %v", h)
		}
		if rec.Header().Get("X-Answer") != "yes" || rec.Header().Get("X-Secret-Hop") != "" || rec.Header().Get("Connection") != "" {
			t.Errorf("headers to the client: %v", rec.Header())
		}
	}
}

// flushRecorder records what reached the client at each flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes chan string
}

func (f *flushRecorder) Flush() {
	f.ResponseRecorder.Flush()
	f.flushes <- f.Body.String()
}

// TestStreamsUnbuffered: an event stream reaches the client event by event: the second event is only sent
// once the client has the first.
func TestStreamsUnbuffered(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", "28") // declared, yet still a stream
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-next
		_, _ = io.WriteString(w, "data: [DONE]\n\n\n\n\n")
	}))
	defer srv.Close()
	p := newProxy(t, Config{Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder(), flushes: make(chan string, 8)}
	done := make(chan error, 1)
	go func() {
		_, err := p.Serve(rec, httptest.NewRequest("POST", "/", strings.NewReader("{}")), "")
		done <- err
	}()
	select {
	case s := <-rec.flushes:
		if s != "data: one\n\n" {
			t.Fatalf("first flush %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the first event was held back")
	}
	close(next)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTimeouts: no headers within ReadTimeout is 504; a body pause longer than ReadTimeout aborts the
// answer; a long stream that keeps producing is never cut; a client that goes away is 499.
func TestTimeouts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-headers":
			time.Sleep(300 * time.Millisecond)
		case "/stall":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		case "/steady":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 8 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(40 * time.Millisecond) // 320 ms in all, each pause under the timeout
			}
		case "/hold":
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	p := newProxy(t, Config{ReadTimeout: 150 * time.Millisecond, Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	var e *Error
	if _, _, err := serve(t, p, httptest.NewRequest("GET", "/slow-headers", nil)); !errors.As(err, &e) || e.Status != 504 {
		t.Errorf("slow headers: %v; want a 504 Error", err)
	}
	t0 := time.Now()
	rec, _, err := serve(t, p, httptest.NewRequest("GET", "/stall", nil))
	if !errors.Is(err, ErrAborted) || rec.Body.String() != "data: 1\n\n" || time.Since(t0) > time.Second {
		t.Errorf("stalled stream: %v after %v with %q; want ErrAborted after the first event", err, time.Since(t0), rec.Body.String())
	}
	rec, _, err = serve(t, p, httptest.NewRequest("GET", "/steady", nil))
	if err != nil || strings.Count(rec.Body.String(), "data:") != 8 {
		t.Errorf("steady stream: %v, %q", err, rec.Body.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p2 := newProxy(t, Config{Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	if _, _, err := serve(t, p2, httptest.NewRequest("GET", "/hold", nil).WithContext(ctx)); !errors.As(err, &e) || e.Status != 499 {
		t.Errorf("client gone: %v; want a 499 Error", err)
	}
}

// TestTrailers: trailers the upstream sends after the body reach the client.
func TestTrailers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("Grpc-Status", "0")
	}))
	defer srv.Close()
	p := newProxy(t, Config{Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	// A real server, so the trailers go over the wire to a client.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := p.Serve(w, r, ""); err != nil {
			t.Error(err)
		}
	}))
	defer front.Close()
	res, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("body %q trailers %v", b, res.Trailer)
	}
}

// TestConcurrentReuse: many concurrent requests through one proxy share a bounded set of connections
// (no per-request dial once warm).
func TestConcurrentReuse(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := newProxy(t, Config{Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				rec, _, err := serve(t, p, httptest.NewRequest("GET", "/", nil))
				if err != nil || rec.Body.String() != "ok" {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A few more than 16 is net/http's dial race (a dial begun while a connection was being returned);
	// 800 requests must not mean hundreds of connections.
	if n := conns.Load(); n > 32 {
		t.Errorf("%d connections for 800 requests of 16 concurrent clients", n)
	}
}
