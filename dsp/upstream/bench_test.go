// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discardWriter is a client connection that costs nothing, so the numbers are the proxy's own.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) Flush()                      {}

const benchEvents = 200

func benchUpstream(b *testing.B) *Proxy {
	chat := []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"echo: benchmark"}}]}`)
	event := []byte("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			f := w.(http.Flusher)
			for range benchEvents {
				_, _ = w.Write(event)
				f.Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(chat)
	}))
	b.Cleanup(srv.Close)
	p, err := New(Config{Scheme: "http", ReadTimeout: 30e9, SendTimeout: 30e9, Nodes: []Node{{Addr: hostOf(srv), Weight: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

// BenchmarkServe is one proxied non-streamed chat call (the upstream on loopback included).
func BenchmarkServe(b *testing.B) {
	p := benchUpstream(b)
	w := &discardWriter{h: http.Header{}}
	body := `{"model":"m","messages":[{"role":"user","content":"benchmark"}]}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		clear(w.h)
		if _, err := p.Serve(w, r, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeStream is one proxied stream of benchEvents events, flushed one by one; allocs/event is
// the proxy's (and net/http's) cost per event once the request's own allocations are spread.
func BenchmarkServeStream(b *testing.B) {
	p := benchUpstream(b)
	w := &discardWriter{h: http.Header{}}
	run := func() {
		r := httptest.NewRequest("POST", "/stream", strings.NewReader("{}"))
		clear(w.h)
		if _, err := p.Serve(w, r, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	b.StopTimer()
	b.ReportMetric(testing.AllocsPerRun(5, run)/benchEvents, "allocs/event")
}
