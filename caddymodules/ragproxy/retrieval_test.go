// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/inference"
)

// ragDouble is a RAG service's /retrieve: it records each call and answers with status (200: two
// documents) after delay.
type ragDouble struct {
	srv    *httptest.Server
	status int
	delay  time.Duration

	mu     sync.Mutex
	paths  []string
	body   []byte      // the last request's
	header http.Header // the last request's
}

func newRAGDouble(t *testing.T) *ragDouble {
	t.Helper()
	d := &ragDouble{status: http.StatusOK}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.paths = append(d.paths, r.URL.Path)
		d.body, d.header = b, r.Header.Clone()
		status, delay := d.status, d.delay
		d.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			_, _ = io.WriteString(w, `{"error":"Internal server error: boom","detail":"Traceback (most recent call last)"}`)
			return
		}
		_, _ = io.WriteString(w, `{"documents":[`+
			`{"content":"Refunds take 5 days.","metadata":{"tenant":"acme","doc":"refunds.md"},"similarity_score":0.91},`+
			`{"content":"Shipping is free.","metadata":{"tenant":"acme"},"similarity_score":0.5}]}`)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *ragDouble) calls() ([]string, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.paths...), d.body
}

// node is the double's address as a manifest node.
func (d *ragDouble) node(t *testing.T) manifest.Node {
	t.Helper()
	host, port, err := net.SplitHostPort(d.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return manifest.Node{Host: host, Port: p, Weight: 1}
}

// ragSpec is a rag_service module of project p served at the double, its service_url's path basePath.
func ragSpec(t *testing.T, d *ragDouble, config string, basePath string) *plan.ModuleSpec {
	t.Helper()
	return &plan.ModuleSpec{Project: "p", Module: &manifest.Module{ModuleType: manifest.TypeRAGService, Name: "kb",
		Config: json.RawMessage(config)},
		Upstream: &route.Upstream{Name: "kb", Nodes: []manifest.Node{d.node(t)}, Scheme: "http", BasePath: basePath}}
}

const kbConfig = `{"service_url":"http://rag.internal:8080/rag","configuration_name":"docs","default_k":8,
	"default_similarity_threshold":0.2,"default_metadata_filter":{"status":"published"},"request_timeout":5,"max_retries":1}`

const chatBody = `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How long do refunds take?"}]}`

// retrieve builds c and runs one chat body through Augment, returning the double's calls.
func retrieve(t *testing.T, c *Retrieval, d *ragDouble, peer func(string) *plan.ModuleSpec, x *plan.Exchange, body string) ([]byte, []string, []byte, error) {
	t.Helper()
	rt, err := c.Build(peer)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if x == nil {
		x = &plan.Exchange{}
	}
	out, _, err := rt.Augment(context.Background(), x, inference.EndpointChat, nil, []byte(body))
	paths, sent := d.calls()
	return out, paths, sent, err
}

func TestRetrievalBuildErrors(t *testing.T) {
	d := newRAGDouble(t)
	kb := ragSpec(t, d, kbConfig, "")
	models := &plan.ModuleSpec{Project: "p", Module: &manifest.Module{ModuleType: manifest.TypeModelServer, Name: "emb",
		Config: json.RawMessage(`{"service_url":"http://m:8000"}`)}, Upstream: kb.Upstream}
	noUpstream := &plan.ModuleSpec{Project: "p", Module: kb.Module}
	noNodes := &plan.ModuleSpec{Project: "p", Module: kb.Module, Upstream: &route.Upstream{Scheme: "http"}}
	badConfig := ragSpec(t, d, `{"service_url":"http://rag:8080"}`, "")
	peers := map[string]*plan.ModuleSpec{"kb": kb, "emb": models, "bare": noUpstream, "empty": noNodes, "broken": badConfig}
	peer := func(name string) *plan.ModuleSpec { return peers[name] }
	cases := []struct {
		name    string
		c       Retrieval
		peer    func(string) *plan.ModuleSpec
		wantErr string
	}{
		{"no source", Retrieval{}, peer, "rag (a rag_service module or a RAG service URL) is required"},
		{"URL without configuration", Retrieval{RAG: d.srv.URL}, nil, "configuration is required when rag is a URL"},
		{"URL without host", Retrieval{RAG: "http:///api", Configuration: "kb"}, nil, "rag is not a valid URL"},
		{"URL with credentials", Retrieval{RAG: "http://user:pw@rag:8080", Configuration: "kb"}, nil, "without credentials, query or fragment"},
		{"URL with a query", Retrieval{RAG: "http://rag:8080/?token=x", Configuration: "kb"}, nil, "without credentials, query or fragment"},
		{"module on a static site", Retrieval{RAG: "kb"}, nil, `rag "kb": a module name needs a manifest`},
		{"unknown module", Retrieval{RAG: "nokb"}, peer, `rag "nokb" names no rag_service module of the project`},
		{"not a rag_service", Retrieval{RAG: "emb"}, peer, `rag "emb" names no rag_service module of the project`},
		{"no upstream", Retrieval{RAG: "bare"}, peer, `rag_service "bare" has no usable service_url`},
		{"upstream without nodes", Retrieval{RAG: "empty"}, peer, `rag_service "empty" has no usable service_url`},
		{"invalid module config", Retrieval{RAG: "broken"}, peer, `rag_service "broken": validating rag_service config: configuration_name is required`},
		{"k above 50", Retrieval{RAG: "kb", K: 51}, peer, "k must be 1..50"},
		{"threshold above 1", Retrieval{RAG: "kb", Threshold: new(1.5)}, peer, "threshold must be 0..1"},
		{"negative max_retries", Retrieval{RAG: "kb", MaxRetries: new(-1)}, peer, "must not be negative"},
		{"filter not an object", Retrieval{RAG: "kb", Filter: json.RawMessage(`["x"]`)}, peer, "retrieval: filter: a metadata filter must be a JSON object"},
		{"bad template", Retrieval{RAG: "kb", Template: "{{.Documents"}, peer, "parsing retrieval template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := tc.c.Build(tc.peer)
			if tc.wantErr == "" {
				if err != nil || rt == nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
			}
			if rt != nil {
				t.Fatal("a retriever came back with the error")
			}
		})
	}
}

// TestRetrievalBuildSources: what a built retriever asks the RAG service for, from a URL or a module,
// with and without the block's overrides.
func TestRetrievalBuildSources(t *testing.T) {
	cases := []struct {
		name     string
		c        func(d *ragDouble) Retrieval
		config   string // the kb module's config
		basePath string // the kb module's service_url path
		wantPath string
		want     map[string]string // gjson path of the retrieve request → its raw JSON ("" : absent)
	}{
		{"URL root", func(d *ragDouble) Retrieval { return Retrieval{RAG: d.srv.URL, Configuration: "c1"} }, kbConfig, "",
			"/api/v1/retrieve", map[string]string{"configuration_name": `"c1"`, "k": "5", "similarity_threshold": "", "filter": "",
				"query": `"How long do refunds take?"`}},
		{"URL path prefix kept", func(d *ragDouble) Retrieval {
			return Retrieval{RAG: d.srv.URL + "/tenant-a/", Configuration: "c1", K: 2}
		},
			kbConfig, "", "/tenant-a/api/v1/retrieve", map[string]string{"k": "2"}},
		{"URL ending with the API prefix", func(d *ragDouble) Retrieval { return Retrieval{RAG: d.srv.URL + "/rag/api/v1", Configuration: "c1"} },
			kbConfig, "", "/rag/api/v1/retrieve", map[string]string{"configuration_name": `"c1"`}},
		{"module defaults", func(*ragDouble) Retrieval { return Retrieval{RAG: "kb"} }, kbConfig, "/rag",
			"/rag/api/v1/retrieve", map[string]string{"configuration_name": `"docs"`, "k": "8", "similarity_threshold": "0.2",
				"filter": `{"status":"published"}`}},
		{"module retrieve_endpoint", func(*ragDouble) Retrieval { return Retrieval{RAG: "kb"} },
			`{"service_url":"http://rag","configuration_name":"docs","retrieve_endpoint":"/search"}`, "",
			"/api/v1/search", map[string]string{"k": "5", "similarity_threshold": "0", "filter": ""}},
		{"module overrides", func(*ragDouble) Retrieval {
			return Retrieval{RAG: "kb", Configuration: "other", K: 3, Threshold: new(0.5), Filter: json.RawMessage(`{"lang":"en"}`)}
		}, kbConfig, "/rag", "/rag/api/v1/retrieve", map[string]string{"configuration_name": `"other"`, "k": "3",
			"similarity_threshold": "0.5", "filter": `{"$and":[{"status":"published"},{"lang":"en"}]}`}},
		{"filter without a module default", func(*ragDouble) Retrieval { return Retrieval{RAG: "kb", Filter: json.RawMessage(`{"lang":"en"}`)} },
			`{"service_url":"http://rag","configuration_name":"docs"}`, "", "/api/v1/retrieve", map[string]string{"filter": `{"lang":"en"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newRAGDouble(t)
			kb := ragSpec(t, d, tc.config, tc.basePath)
			c := tc.c(d)
			out, paths, sent, err := retrieve(t, &c, d, func(name string) *plan.ModuleSpec {
				if name == "kb" {
					return kb
				}
				return nil
			}, nil, chatBody)
			if err != nil {
				t.Fatalf("Augment: %v", err)
			}
			if len(paths) != 1 || paths[0] != tc.wantPath {
				t.Fatalf("paths %v, want [%s]", paths, tc.wantPath)
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(sent, path).Raw; got != want {
					t.Errorf("%s = %s, want %s (request %s)", path, got, want, sent)
				}
			}
			if !strings.Contains(gjson.GetBytes(out, "messages.0.content").String(), "[1] Refunds take 5 days.") {
				t.Errorf("documents not injected: %s", out)
			}
		})
	}
}

// TestRetrievalTimeoutAndRetries: the block's timeout and max_retries override the module's.
func TestRetrievalTimeoutAndRetries(t *testing.T) {
	cases := []struct {
		name       string
		c          Retrieval
		status     int
		delay      time.Duration
		wantStatus int
		wantCalls  int
	}{
		{"module's max_retries", Retrieval{RAG: "kb"}, http.StatusServiceUnavailable, 0, http.StatusBadGateway, 2},
		{"max_retries 0", Retrieval{RAG: "kb", MaxRetries: new(0)}, http.StatusServiceUnavailable, 0, http.StatusBadGateway, 1},
		{"max_retries 2", Retrieval{RAG: "kb", MaxRetries: new(2)}, http.StatusBadGateway, 0, http.StatusBadGateway, 3},
		{"not retried", Retrieval{RAG: "kb", MaxRetries: new(2)}, http.StatusInternalServerError, 0, http.StatusBadGateway, 1},
		{"timeout", Retrieval{RAG: "kb", Timeout: 0.05, MaxRetries: new(0)}, http.StatusOK, 2 * time.Second, http.StatusGatewayTimeout, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newRAGDouble(t)
			d.status, d.delay = tc.status, tc.delay
			kb := ragSpec(t, d, kbConfig, "")
			x := &plan.Exchange{}
			t0 := time.Now()
			_, paths, _, err := retrieve(t, &tc.c, d, func(string) *plan.ModuleSpec { return kb }, x, chatBody)
			var he caddyhttp.HandlerError
			if !errors.As(err, &he) || he.StatusCode != tc.wantStatus {
				t.Fatalf("err %v, want %d", err, tc.wantStatus)
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != "retrieval_failed" {
				t.Fatalf("err %v, want retrieval_failed", err)
			}
			if len(paths) != tc.wantCalls {
				t.Fatalf("%d calls, want %d", len(paths), tc.wantCalls)
			}
			if tc.delay > 0 && time.Since(t0) > tc.delay/2 {
				t.Fatalf("the timeout did not cut the call short: %v", time.Since(t0))
			}
			if x.Retrieval <= 0 {
				t.Fatal("the retrieval time was not counted on the exchange")
			}
		})
	}
}

// TestAugment: the filter sent is the $and of the module default, the block's filter, the request's filter
// and the claim; the request's filter leaves the body; the documents come first in the prompt and back as
// sources.
func TestAugment(t *testing.T) {
	claim := func(v any) *plan.Exchange {
		return &plan.Exchange{Principal: &auth.Principal{Claims: map[string]any{FilterClaim: v}}}
	}
	const userOnly = `{"messages":[{"role":"user","content":"refunds?"}]}`
	cases := []struct {
		name       string
		x          *plan.Exchange
		body       string
		wantFilter string // the filter sent ("" : none)
		wantQuery  string
		wantStatus int    // an error's status
		wantCode   string // and code
		noCall     bool
	}{
		{"module and block filters", &plan.Exchange{}, userOnly, `{"$and":[{"status":"published"},{"kind":"faq"}]}`, "refunds?", 0, "", false},
		{"claim", claim(map[string]any{"tenant": "acme"}), userOnly,
			`{"$and":[{"status":"published"},{"kind":"faq"},{"tenant":"acme"}]}`, "refunds?", 0, "", false},
		{"request filter and claim", claim(map[string]any{"tenant": "acme"}),
			`{"filter":{"tenant":"globex"},"messages":[{"role":"user","content":"refunds?"}]}`,
			`{"$and":[{"status":"published"},{"kind":"faq"},{"tenant":"globex"},{"tenant":"acme"}]}`, "refunds?", 0, "", false},
		{"request filter", &plan.Exchange{}, `{"messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"text","text":"part two"}]}],"filter":{"lang":"en"}}`,
			`{"$and":[{"status":"published"},{"kind":"faq"},{"lang":"en"}]}`, "part one\npart two", 0, "", false},
		{"last user message", &plan.Exchange{}, `{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":"second"}]}`,
			`{"$and":[{"status":"published"},{"kind":"faq"}]}`, "second", 0, "", false},
		{"request filter not an object", &plan.Exchange{}, `{"filter":"tenant=acme","messages":[{"role":"user","content":"q"}]}`,
			"", "", http.StatusBadRequest, "invalid_filter", true},
		{"claim not an object", claim("tenant=acme"), userOnly, "", "", http.StatusForbidden, "invalid_filter_claim", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newRAGDouble(t)
			kb := ragSpec(t, d, kbConfig, "")
			c := &Retrieval{RAG: "kb", Filter: json.RawMessage(`{"kind":"faq"}`), Template: "Context for {{.Query}}:{{range .Documents}} [{{.Index}}] {{.Content}} ({{with .Metadata.doc}}{{.}}{{end}}){{end}}"}
			rt, err := c.Build(func(string) *plan.ModuleSpec { return kb })
			if err != nil {
				t.Fatal(err)
			}
			out, extra, err := rt.Augment(context.Background(), tc.x, inference.EndpointChat, nil, []byte(tc.body))
			paths, sent := d.calls()
			if tc.noCall && len(paths) != 0 {
				t.Fatalf("the RAG service was called: %v", paths)
			}
			if tc.wantStatus != 0 {
				var he caddyhttp.HandlerError
				var ae *apierr.Error
				if !errors.As(err, &he) || he.StatusCode != tc.wantStatus || !errors.As(err, &ae) || ae.Code != tc.wantCode {
					t.Fatalf("err %v, want %d %s", err, tc.wantStatus, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := gjson.GetBytes(sent, "filter").Raw; got != tc.wantFilter {
				t.Errorf("filter sent %s, want %s", got, tc.wantFilter)
			}
			if got := gjson.GetBytes(sent, "query").String(); got != tc.wantQuery {
				t.Errorf("query %q, want %q", got, tc.wantQuery)
			}
			if gjson.GetBytes(out, "filter").Exists() {
				t.Errorf("the request's filter is still in the body: %s", out)
			}
			msgs := gjson.GetBytes(out, "messages").Array()
			in := gjson.Get(tc.body, "messages").Array()
			if len(msgs) != len(in)+1 || msgs[0].Get("role").String() != "system" {
				t.Fatalf("messages %s", gjson.GetBytes(out, "messages").Raw)
			}
			wantPrompt := "Context for " + tc.wantQuery + ": [1] Refunds take 5 days. (refunds.md) [2] Shipping is free. ()"
			if got := msgs[0].Get("content").String(); got != wantPrompt {
				t.Errorf("prompt %q, want %q", got, wantPrompt)
			}
			for i, m := range in {
				if msgs[i+1].Raw != m.Raw {
					t.Errorf("message %d changed: %s, want %s", i, msgs[i+1].Raw, m.Raw)
				}
			}
			if extra == nil || extra.Field != "sources" {
				t.Fatalf("extra %+v", extra)
			}
			if got := gjson.GetBytes(extra.Value, "#.score").Raw; got != "[0.91,0.5]" {
				t.Errorf("sources %s", extra.Value)
			}
			if got := gjson.GetBytes(extra.Value, "0.metadata.doc").String(); got != "refunds.md" {
				t.Errorf("sources %s", extra.Value)
			}
			if tc.x.Retrieval <= 0 {
				t.Error("the retrieval time was not counted on the exchange")
			}
		})
	}
}

// TestAugmentMessages: an Anthropic Messages API request gets the same retrieval — the claim enforced, the
// request's filter AND-ed and taken out, the tool-result turn passed over for the question — with the
// documents as the first block of its top-level system prompt.
func TestAugmentMessages(t *testing.T) {
	d := newRAGDouble(t)
	kb := ragSpec(t, d, kbConfig, "")
	c := &Retrieval{RAG: "kb", Template: "Context:{{range .Documents}} [{{.Index}}] {{.Content}}{{end}}"}
	rt, err := c.Build(func(string) *plan.ModuleSpec { return kb })
	if err != nil {
		t.Fatal(err)
	}
	x := &plan.Exchange{Principal: &auth.Principal{Claims: map[string]any{FilterClaim: map[string]any{"tenant": "acme"}}}}
	body := `{"model":"claude","max_tokens":64,"system":"Be terse.","filter":{"lang":"en"},"messages":[` +
		`{"role":"user","content":[{"type":"text","text":"refunds?"}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"lookup","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"none"}]}]}`
	out, extra, err := rt.Augment(context.Background(), x, inference.EndpointMessages, nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	_, sent := d.calls()
	if got, want := gjson.GetBytes(sent, "filter").Raw, `{"$and":[{"status":"published"},{"lang":"en"},{"tenant":"acme"}]}`; got != want {
		t.Errorf("filter sent %s, want %s", got, want)
	}
	if got := gjson.GetBytes(sent, "query").String(); got != "refunds?" {
		t.Errorf("query %q", got)
	}
	if gjson.GetBytes(out, "filter").Exists() || gjson.GetBytes(out, "messages").Raw != gjson.Get(body, "messages").Raw {
		t.Errorf("body sent %s", out)
	}
	sys := gjson.GetBytes(out, "system").Array()
	if len(sys) != 2 || sys[0].Get("text").String() != "Context: [1] Refunds take 5 days. [2] Shipping is free." ||
		sys[1].Raw != `{"type":"text","text":"Be terse."}` {
		t.Errorf("system %s", gjson.GetBytes(out, "system").Raw)
	}
	if extra == nil || extra.Field != "sources" || gjson.GetBytes(extra.Value, "#").Int() != 2 {
		t.Errorf("extra %+v", extra)
	}
}

// TestRetrievalForwardsPlatformToken: a module source gets the caller's verified platform token, as the
// module's own route would pass it on; an FD2 API key, an unverified or non-bearer credential, and
// anything bound for a URL source stay at the gateway. The request id always goes.
func TestRetrievalForwardsPlatformToken(t *testing.T) {
	const token = "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"
	d := newRAGDouble(t)
	kb := ragSpec(t, d, kbConfig, "")
	peer := func(string) *plan.ModuleSpec { return kb }
	byURL := &Retrieval{RAG: d.srv.URL, Configuration: "docs"}
	cases := []struct {
		name      string
		c         *Retrieval
		principal *auth.Principal
		auth      string
		want      string
	}{
		{"jwt-auth token to a module", &Retrieval{RAG: "kb"}, &auth.Principal{Method: "jwt-auth", Consumer: "c"}, token, token},
		{"jwe-decrypt's inner token to a module", &Retrieval{RAG: "kb"}, &auth.Principal{Method: "jwe-decrypt", Consumer: "c"}, token, token},
		{"an FD2 API key", &Retrieval{RAG: "kb"}, &auth.Principal{Method: "api-key", Consumer: "k"}, "Bearer fd2_secretkey", ""},
		{"key-auth", &Retrieval{RAG: "kb"}, &auth.Principal{Method: "key-auth", Consumer: "k"}, "Bearer x", ""},
		{"no principal", &Retrieval{RAG: "kb"}, nil, token, ""},
		{"not a bearer token", &Retrieval{RAG: "kb"}, &auth.Principal{Method: "jwt-auth", Consumer: "c"}, "Basic dXNlcjpwdw==", ""},
		{"a URL source", byURL, &auth.Principal{Method: "jwt-auth", Consumer: "c"}, token, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := tc.c.Build(peer)
			if err != nil {
				t.Fatal(err)
			}
			x := &plan.Exchange{Principal: tc.principal}
			x.SetRequestID("req-123")
			in := http.Header{"Authorization": {tc.auth}}
			if _, _, err := rt.Augment(context.Background(), x, inference.EndpointChat, in, []byte(chatBody)); err != nil {
				t.Fatal(err)
			}
			d.mu.Lock()
			h := d.header
			d.mu.Unlock()
			if got := h.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization sent %q, want %q", got, tc.want)
			}
			if got := h.Get("X-Request-ID"); got != "req-123" {
				t.Errorf("X-Request-ID sent %q", got)
			}
		})
	}
}

// TestAugmentWithoutQuery: a chat with no user text retrieves nothing, and its own filter (no chat
// parameter) still does not reach the provider.
func TestAugmentWithoutQuery(t *testing.T) {
	cases := []struct {
		name, body string
		wantOut    string // the body to send instead ("" : unchanged)
		wantStatus int
	}{
		{"no messages", `{"model":"m"}`, "", 0},
		{"no user message", `{"messages":[{"role":"system","content":"hi"}]}`, "", 0},
		{"blank user message", `{"messages":[{"role":"user","content":"  "}]}`, "", 0},
		{"not JSON", `not json`, "", 0},
		{"filter, no user message", `{"filter":{"tenant":"acme"},"messages":[{"role":"system","content":"hi"}]}`,
			`{"messages":[{"role":"system","content":"hi"}]}`, 0},
		{"filter not an object, no user message", `{"filter":[1],"messages":[]}`, "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newRAGDouble(t)
			c := &Retrieval{RAG: d.srv.URL, Configuration: "kb"}
			rt, err := c.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			out, extra, err := rt.Augment(context.Background(), &plan.Exchange{}, inference.EndpointChat, nil, []byte(tc.body))
			if paths, _ := d.calls(); len(paths) != 0 {
				t.Fatalf("the RAG service was called: %v", paths)
			}
			if tc.wantStatus != 0 {
				var he caddyhttp.HandlerError
				if !errors.As(err, &he) || he.StatusCode != tc.wantStatus {
					t.Fatalf("err %v, want %d", err, tc.wantStatus)
				}
				return
			}
			if string(out) != tc.wantOut || extra != nil || err != nil {
				t.Fatalf("Augment = %s, %+v, %v; want %s", out, extra, err, tc.wantOut)
			}
		})
	}
}
