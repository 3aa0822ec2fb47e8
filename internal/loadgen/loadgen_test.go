// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chat":
			_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"hello"}}]}`))
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: {\"x\":1}\n\n"))
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Millisecond)
			_, _ = w.Write([]byte("data: [DONE]\n\n"))
		case "/cut":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: {\"x\":1}\n\n"))
		default:
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoad(t *testing.T) {
	srv := server(t)
	c := NewClient(4)
	cases := []struct {
		name   string
		req    Request
		wantOK bool
		errHas string
	}{
		{"chat", Request{Method: "POST", URL: srv.URL + "/chat", Want: []byte("hello")}, true, ""},
		{"stream", Request{Method: "POST", URL: srv.URL + "/stream", Stream: true}, true, ""},
		{"wrong answer", Request{Method: "POST", URL: srv.URL + "/chat", Want: []byte("bye")}, false, "lacks"},
		{"cut stream", Request{Method: "POST", URL: srv.URL + "/cut", Stream: true}, false, "without [DONE]"},
		{"status", Request{Method: "GET", URL: srv.URL + "/other"}, false, "status 418"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Load(context.Background(), c, tc.req, 4, 150*time.Millisecond)
			if tc.wantOK {
				if res.OK == 0 || res.Failed != 0 {
					t.Fatalf("ok %d failed %d (%v)", res.OK, res.Failed, res.FirstErr)
				}
				if len(res.Latency) != res.OK {
					t.Fatalf("%d latencies for %d answers", len(res.Latency), res.OK)
				}
				if tc.req.Stream {
					if len(res.TTFB) != res.OK {
						t.Fatalf("%d TTFBs for %d streams", len(res.TTFB), res.OK)
					}
					// The stream's first event comes 2 ms before its end.
					if p := Percentile(res.TTFB, .5); p >= Percentile(res.Latency, .5) {
						t.Fatalf("TTFB p50 %v not below latency p50 %v", p, Percentile(res.Latency, .5))
					}
				}
				if res.Throughput() <= 0 {
					t.Fatal("no throughput")
				}
				return
			}
			if res.OK != 0 || res.Failed == 0 || res.FirstErr == nil || !strings.Contains(res.FirstErr.Error(), tc.errHas) {
				t.Fatalf("ok %d failed %d err %v; want only failures with %q", res.OK, res.Failed, res.FirstErr, tc.errHas)
			}
		})
	}
}

func TestPercentileMedian(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3}
	if Percentile(d, .5) != 3 || Percentile(d, 0) != 1 || Percentile(d, 1) != 5 || Percentile(nil, .5) != 0 {
		t.Fatalf("percentiles of %v", d)
	}
	if Median([]float64{3, 1, 2}) != 2 || Median([]float64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 {
		t.Fatal("median")
	}
}

func TestProc(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn ~100 ms of CPU: the counter's unit is 10 ms.
	x := 0
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	after, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond {
		t.Fatalf("CPU time grew %v over 100 ms of spinning (%d)", d, x)
	}
	rss, anon, err := Memory(os.Getpid())
	if err != nil || rss < 1<<20 || anon <= 0 || anon > rss {
		t.Fatalf("RSS %d, anonymous %d, %v", rss, anon, err)
	}
	if _, err := CPUTime(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
