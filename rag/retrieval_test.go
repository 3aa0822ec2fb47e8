// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

const retrieveAnswer = `{"query":"q","documents":[
 {"content":"Acme VPN guide","metadata":{"tenant":"acme","source":"vpn.md"},"similarity_score":0.91,"source_query":"q"},
 {"content":"Acme holidays","metadata":null,"similarity_score":0.5}],
 "processing_time":0.01,"configuration_name":"kb","total_found":2}`

// ragDouble answers /api/v1/retrieve, recording what it was sent.
type ragDouble struct {
	calls   atomic.Int32
	body    atomic.Value                  // last request body, string
	header  atomic.Value                  // last request header
	answers []func(w http.ResponseWriter) // one per call; the last repeats
}

func (d *ragDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(d.calls.Add(1)) - 1
	b, _ := io.ReadAll(r.Body)
	d.body.Store(string(b))
	d.header.Store(r.Header.Clone())
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/retrieve" {
		http.Error(w, `{"detail":"Not Found"}`, http.StatusNotFound)
		return
	}
	d.answers[min(n, len(d.answers)-1)](w)
}

func answer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newRetriever(t *testing.T, d *ragDouble, mod func(*RetrieverConfig)) *Retriever {
	t.Helper()
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	th := 0.3
	cfg := RetrieverConfig{URL: srv.URL + "/api/v1/retrieve", Configuration: "kb", K: 4, Threshold: &th,
		Filter: raw(`{"visibility":"internal"}`), MaxRetries: 2, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRetriever(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRetrieve(t *testing.T) {
	d := &ragDouble{answers: []func(http.ResponseWriter){answer(200, retrieveAnswer)}}
	r := newRetriever(t, d, nil)
	h := http.Header{"Authorization": {"Bearer tok"}, "X-Request-Id": {"rid-1"}, "Accept-Encoding": {"br"}, "Content-Length": {"999"}}
	srcs, err := r.Retrieve(context.Background(), "how do I use the VPN?", raw(`{"tenant":"acme"}`), h)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, []byte(d.body.Load().(string)), `{"query":"how do I use the VPN?","configuration_name":"kb","k":4,"similarity_threshold":0.3,
		"filter":{"$and":[{"visibility":"internal"},{"tenant":"acme"}]}}`) {
		t.Fatalf("sent %s", d.body.Load())
	}
	sent := d.header.Load().(http.Header)
	if sent.Get("Authorization") != "Bearer tok" || sent.Get("X-Request-Id") != "rid-1" || sent.Get("Content-Type") != "application/json" || sent.Get("Accept-Encoding") == "br" {
		t.Fatalf("headers sent: %v", sent)
	}
	if h.Get("Content-Type") != "" {
		t.Fatal("the caller's header was modified")
	}
	if len(srcs) != 2 || srcs[0].Content != "Acme VPN guide" || srcs[0].Score != 0.91 || !jsonEqual(t, srcs[0].Metadata, `{"tenant":"acme","source":"vpn.md"}`) ||
		srcs[1].Score != 0.5 || string(srcs[1].Metadata) != "{}" {
		t.Fatalf("sources %+v", srcs)
	}
	if !jsonEqual(t, SourcesJSON(srcs), `[{"content":"Acme VPN guide","metadata":{"tenant":"acme","source":"vpn.md"},"score":0.91},{"content":"Acme holidays","metadata":{},"score":0.5}]`) {
		t.Fatalf("SourcesJSON %s", SourcesJSON(srcs))
	}
	if string(SourcesJSON(nil)) != "[]" {
		t.Fatalf("SourcesJSON(nil) = %s", SourcesJSON(nil))
	}
}

func TestRetrieveMinimalRequest(t *testing.T) {
	d := &ragDouble{answers: []func(http.ResponseWriter){answer(200, `{"documents":[]}`)}}
	r := newRetriever(t, d, func(c *RetrieverConfig) { c.K, c.Threshold, c.Filter = 0, nil, nil })
	srcs, err := r.Retrieve(context.Background(), "q", nil, nil)
	if err != nil || len(srcs) != 0 {
		t.Fatalf("%v %v", srcs, err)
	}
	if got := d.body.Load().(string); got != `{"query":"q","configuration_name":"kb"}` {
		t.Fatalf("sent %s", got)
	}
}

func TestRetrieveErrors(t *testing.T) {
	tests := []struct {
		name    string
		answers []func(http.ResponseWriter)
		calls   int32
		status  int
		code    string
	}{
		{"wrapped 401 not retried", []func(http.ResponseWriter){answer(500, `{"detail":"Internal server error: 401: Invalid token: bad"}`)}, 1, 401, "unauthorized"},
		{"404 not retried", []func(http.ResponseWriter){answer(404, `{"detail":"Configuration 'kb' not found"}`)}, 1, 404, "not_found"},
		{"503 retried then ok", []func(http.ResponseWriter){answer(503, `{"detail":"busy"}`), answer(200, retrieveAnswer)}, 2, 0, ""},
		{"502 retried up to MaxRetries", []func(http.ResponseWriter){answer(502, `bad gateway`)}, 3, 502, "upstream_error"},
		{"unreadable answer", []func(http.ResponseWriter){answer(200, `{"documents":`)}, 1, 502, "upstream_error"},
		{"dropped connection retried", []func(http.ResponseWriter){func(w http.ResponseWriter) {
			c, _, _ := w.(http.Hijacker).Hijack()
			_ = c.Close()
		}, answer(200, retrieveAnswer)}, 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &ragDouble{answers: tt.answers}
			r := newRetriever(t, d, nil)
			srcs, err := r.Retrieve(context.Background(), "q", nil, nil)
			if got := d.calls.Load(); got != tt.calls {
				t.Fatalf("%d calls, want %d", got, tt.calls)
			}
			if tt.status == 0 {
				if err != nil || len(srcs) != 2 {
					t.Fatalf("%v %v", srcs, err)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code {
				t.Fatalf("error %v, want %d %s", err, tt.status, tt.code)
			}
		})
	}
}

func TestRetrieveTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := func(w http.ResponseWriter) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}
	d := &ragDouble{answers: []func(http.ResponseWriter){slow}}
	r := newRetriever(t, d, func(c *RetrieverConfig) { c.Timeout, c.MaxRetries = 50*time.Millisecond, 1 })
	_, err := r.Retrieve(context.Background(), "q", nil, nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusGatewayTimeout || d.calls.Load() != 2 {
		t.Fatalf("%v after %d calls, want 504 after 2", err, d.calls.Load())
	}
}

func TestRetrieveCallerGone(t *testing.T) {
	d := &ragDouble{answers: []func(http.ResponseWriter){answer(503, `{}`)}}
	r := newRetriever(t, d, func(c *RetrieverConfig) { c.MaxRetries = 5 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Retrieve(ctx, "q", nil, nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != 499 || !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want 499 wrapping context.Canceled", err)
	}
}

func TestRetrieveCallerDeadline(t *testing.T) {
	d := &ragDouble{answers: []func(http.ResponseWriter){answer(503, `{}`)}}
	r := newRetriever(t, d, func(c *RetrieverConfig) { c.MaxRetries = 50 })
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := r.Retrieve(ctx, "q", nil, nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusGatewayTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want 504 wrapping the deadline", err)
	}
	if n := d.calls.Load(); n < 1 || n > 3 {
		t.Fatalf("%d calls: the retries must stop at the caller's deadline", n)
	}
}

func TestRetrieveUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r, err := NewRetriever(RetrieverConfig{URL: url + "/api/v1/retrieve", Configuration: "kb"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Retrieve(context.Background(), "q", nil, nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || strings.Contains(ae.Message, "127.0.0.1") {
		t.Fatalf("%v, want a 502 without the address", err)
	}
}

func TestRetrieveBadClaim(t *testing.T) {
	d := &ragDouble{answers: []func(http.ResponseWriter){answer(200, retrieveAnswer)}}
	r := newRetriever(t, d, nil)
	_, err := r.Retrieve(context.Background(), "q", raw(`["acme"]`), nil)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != "invalid_filter" || d.calls.Load() != 0 {
		t.Fatalf("%v after %d calls", err, d.calls.Load())
	}
}

// RAG2 must not be able to move the claim-filtered query elsewhere.
func TestRetrieveDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	d := &ragDouble{answers: []func(http.ResponseWriter){func(w http.ResponseWriter) {
		w.Header().Set("Location", other.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}}}
	r := newRetriever(t, d, nil)
	_, err := r.Retrieve(context.Background(), "q", nil, nil)
	if err == nil || elsewhere.Load() != 0 {
		t.Fatalf("%v; redirect followed %d times", err, elsewhere.Load())
	}
}

func TestNewRetrieverRejects(t *testing.T) {
	neg := -0.1
	for i, c := range []RetrieverConfig{
		{Configuration: "kb"},
		{URL: "http://rag/api/v1/retrieve"},
		{URL: "u", Configuration: "kb", K: 51},
		{URL: "u", Configuration: "kb", Threshold: &neg},
		{URL: "u", Configuration: "kb", MaxRetries: -1},
		{URL: "u", Configuration: "kb", Filter: raw(`[1]`)},
		{URL: "u", Configuration: "kb", Template: "{{.Nope"},
	} {
		if _, err := NewRetriever(c); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func TestServiceRetrieverConfig(t *testing.T) {
	c := defaultsConfig()
	c.RetrieveEndpoint, c.RequestTimeout, c.MaxRetries = "/api/v1/retrieve", 45, 1
	rc := mustService(t, c, "/rag").RetrieverConfig("http://rag-service:8080/")
	if rc.URL != "http://rag-service:8080/rag/api/v1/retrieve" || rc.Configuration != "kb" || rc.K != 6 || rc.Threshold == nil || *rc.Threshold != 0.25 ||
		string(rc.Filter) != `{"visibility":"internal"}` || rc.Timeout != 45*time.Second || rc.MaxRetries != 1 {
		t.Fatalf("%+v", rc)
	}
	if _, err := NewRetriever(rc); err != nil {
		t.Fatal(err)
	}
}
