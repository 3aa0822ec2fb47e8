// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/rag"
)

// upstreamAnswer is what the fake forward writes: a status and body chunks.
type upstreamAnswer struct {
	status int
	chunks []string
}

// TestServeService: the RAG front resolves the path, enforces the claim, rewrites query, retrieve and chat
// bodies, passes successes through and maps the service's errors.
func TestServeService(t *testing.T) {
	acme := &auth.Principal{Claims: map[string]any{FilterClaim: map[string]any{"tenant": "acme"}}}
	ok := upstreamAnswer{http.StatusOK, []string{`{"ok":true}`}}
	cases := []struct {
		name      string
		method    string
		rest      string
		body      string
		principal *auth.Principal
		answer    upstreamAnswer
		wantPath  string            // "" : not forwarded
		wantBody  map[string]string // gjson path of the forwarded body → raw JSON
		wantCode  int               // the client's status, or the error's
		wantErr   string            // the error's code
		wantAllow string
	}{
		{"query rewritten", http.MethodPost, "/query", `{"query":"refunds","filter":{"lang":"en"}}`, acme, ok, "/rag/api/v1/query",
			map[string]string{"configuration_name": `"docs"`, "k": "4", "query": `"refunds"`,
				"filter": `{"$and":[{"lang":"en"},{"status":"published"},{"tenant":"acme"}]}`}, http.StatusOK, "", ""},
		{"retrieve with the API prefix written by the client", http.MethodPost, "/api/v1/retrieve", `{"query":"q"}`, nil, ok,
			"/rag/api/v1/retrieve", map[string]string{"configuration_name": `"docs"`, "filter": `{"status":"published"}`}, http.StatusOK, "", ""},
		{"chat at the service root", http.MethodPost, "/v1/chat/completions", `{"messages":[{"role":"user","content":"q"}]}`, acme, ok,
			"/rag/v1/chat/completions", map[string]string{"model": `"docs"`, "filter": `{"$and":[{"status":"published"},{"tenant":"acme"}]}`},
			http.StatusOK, "", ""},
		{"documents without a claim", http.MethodGet, "/documents", "", nil, ok, "/rag/api/v1/documents", nil, http.StatusOK, "", ""},
		{"health with a claim", http.MethodGet, "/health", "", acme, ok, "/rag/api/v1/health", nil, http.StatusOK, "", ""},
		{"documents with a claim", http.MethodGet, "/documents", "", acme, ok, "", nil, http.StatusForbidden, "filter_restricted", ""},
		{"upload with a claim", http.MethodPost, "/upload", `{}`, acme, ok, "", nil, http.StatusForbidden, "filter_restricted", ""},
		{"claim not an object", http.MethodPost, "/query", `{"query":"q"}`,
			&auth.Principal{Claims: map[string]any{FilterClaim: []any{"acme"}}}, ok, "", nil, http.StatusForbidden, "invalid_filter_claim", ""},
		{"unknown path", http.MethodGet, "/admin", "", nil, ok, "", nil, http.StatusNotFound, "not_found", ""},
		{"wrong method", http.MethodGet, "/query", "", nil, ok, "", nil, http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"body not an object", http.MethodPost, "/retrieve", `["q"]`, nil, ok, "", nil, http.StatusBadRequest, "invalid_json", ""},
		{"request filter not an object", http.MethodPost, "/query", `{"query":"q","filter":"tenant=globex"}`, nil, ok, "", nil,
			http.StatusBadRequest, "invalid_filter", ""},
		{"RAG2's wrapped 404", http.MethodPost, "/query", `{"query":"q"}`, nil,
			upstreamAnswer{http.StatusInternalServerError, []string{`{"error":"x","detail":"Internal server error: `, `404: Configuration 'docs' not found"}`}},
			"/rag/api/v1/query", nil, http.StatusNotFound, "not_found", ""},
		{"RAG2's traceback", http.MethodGet, "/documents", "", nil,
			upstreamAnswer{http.StatusInternalServerError, []string{`{"detail":"Traceback (most recent call last): File /srv/app.py"}`}},
			"/rag/api/v1/documents", nil, http.StatusBadGateway, "upstream_error", ""},
	}
	cfg := rag.DefaultServiceConfig()
	cfg.ServiceURL, cfg.ConfigurationName, cfg.DefaultK = "http://rag:8080/rag", "docs", 4
	cfg.DefaultMetadataFilter = json.RawMessage(`{"status":"published"}`)
	svc, err := rag.NewService(cfg, "/rag")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotPath string
			var gotBody []byte
			forward := func(w http.ResponseWriter, r *http.Request, path string) error {
				gotPath = path
				var err error
				if gotBody, err = io.ReadAll(r.Body); err != nil {
					return err
				}
				if tc.wantBody != nil && r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
				}
				w.Header().Set("X-Upstream", "rag2")
				w.WriteHeader(tc.answer.status)
				for _, c := range tc.answer.chunks {
					if _, err := io.WriteString(w, c); err != nil {
						return err
					}
				}
				return nil
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, "/p/kb"+tc.rest, body)
			x := &plan.Exchange{Principal: tc.principal, Start: time.Now()}
			err := serveService(svc, rec, r, x, tc.rest, "", forward)
			if gotPath != tc.wantPath {
				t.Fatalf("forwarded to %q, want %q", gotPath, tc.wantPath)
			}
			for path, want := range tc.wantBody {
				if got := gjson.GetBytes(gotBody, path).Raw; got != want {
					t.Errorf("%s = %s, want %s (body %s)", path, got, want, gotBody)
				}
			}
			if tc.wantErr != "" {
				var he caddyhttp.HandlerError
				var ae *apierr.Error
				if !errors.As(err, &he) || he.StatusCode != tc.wantCode || !errors.As(err, &ae) || ae.Code != tc.wantErr {
					t.Fatalf("err %v, want %d %s", err, tc.wantCode, tc.wantErr)
				}
				if strings.Contains(ae.Message, "Traceback") || strings.Contains(ae.Message, "/srv/") {
					t.Fatalf("the service's internals reach the client: %q", ae.Message)
				}
				// An error answer of the service never reaches the client: FD2 answers in its own shape.
				if rec.Body.Len() != 0 || rec.Header().Get("X-Upstream") != "" {
					t.Fatalf("the service's error reached the client: %q %v", rec.Body.String(), rec.Header())
				}
				if got := rec.Header().Get("Allow"); got != tc.wantAllow {
					t.Fatalf("Allow %q, want %q", got, tc.wantAllow)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.wantCode || rec.Body.String() != strings.Join(tc.answer.chunks, "") || rec.Header().Get("X-Upstream") != "rag2" {
				t.Fatalf("client got %d %q %v", rec.Code, rec.Body.String(), rec.Header())
			}
		})
	}
}

// ttftObserved is the count and sum of the time-to-first-token series of project and module kb.
func ttftObserved(t *testing.T, project string) (int, float64) {
	t.Helper()
	var m dto.Metric
	if err := serviceTTFT.WithLabelValues(project, "kb").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return int(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
}

// TestServeServiceTTFT: a chat stream's first content is observed once; other operations are not watched.
func TestServeServiceTTFT(t *testing.T) {
	cfg := rag.DefaultServiceConfig()
	cfg.ServiceURL, cfg.ConfigurationName = "http://rag:8080", "docs"
	svc, err := rag.NewService(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	stream := []string{"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"Ref", "unds\"}}]}\n\n", "data: {\"choices\":[{\"delta\":{\"content\":\" take\"}}]}\n\n",
		"data: [DONE]\n\n"}
	cases := []struct {
		name, method, rest, body string
		want                     int
	}{
		{"chat stream", http.MethodPost, "/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"q"}]}`, 1},
		{"query", http.MethodPost, "/query", `{"query":"q"}`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			project := "ttft-test-" + tc.name // a series of its own
			var chunks int
			forward := func(w http.ResponseWriter, r *http.Request, _ string) error {
				w.WriteHeader(http.StatusOK)
				for _, c := range stream {
					if _, err := io.WriteString(w, c); err != nil {
						return err
					}
					chunks++
					if n, _ := ttftObserved(t, project); chunks == 1 && n != 0 {
						t.Error("observed on a chunk without content")
					}
				}
				return nil
			}
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, tc.rest, strings.NewReader(tc.body))
			x := &plan.Exchange{Start: time.Now().Add(-50 * time.Millisecond), Site: project}
			if err := serveService(svc, rec, r, x, tc.rest, "kb", forward); err != nil {
				t.Fatal(err)
			}
			n, sum := ttftObserved(t, project)
			if n != tc.want {
				t.Fatalf("%d observations, want %d", n, tc.want)
			}
			if tc.want > 0 && sum < 0.05 {
				t.Fatalf("observed %gs, want at least the 50 ms since the exchange started", sum)
			}
			if rec.Body.String() != strings.Join(stream, "") {
				t.Fatalf("stream not passed through: %q", rec.Body.String())
			}
		})
	}
}
