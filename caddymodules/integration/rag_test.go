// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/internal/fakellm"
	"github.com/dsp-ai/fd2/internal/ragservice"
)

const ragSecret = "rag-integration-consumer-secret"

// startRAGService serves the RAG2 + model server double on loopback.
func startRAGService(t testing.TB, opts ragservice.Options) (*ragservice.Server, *httptest.Server) {
	t.Helper()
	s := ragservice.New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// recordingLLM is the fake provider behind a recorder of the chat bodies it received.
type recordingLLM struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (l *recordingLLM) start(t testing.TB) *httptest.Server {
	h := fakellm.New(fakellm.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.bodies = append(l.bodies, b)
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (l *recordingLLM) last() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bodies) == 0 {
		return nil
	}
	return l.bodies[len(l.bodies)-1]
}

// ragManifest is a project with a RAG service module (jwt_auth_enabled, bound to kb-auth's consumer), a
// RAG-augmented inference endpoint and a model server, behind a project-wide jwt-auth with two consumers.
func ragManifest(rag, llm string) string {
	return `{"project_id":"kbp","project_name":"kb","modules":[
	  {"module_type":"jwt_config","name":"kb-auth","config":{"service_url":"http://127.0.0.1:1","claims":{"static":{"key":"kb-key"}}}},
	  {"module_type":"api_gateway","name":"gw","config":{"gateway_type":"apisix","routes":[],
	    "consumer":{"username":"kb-consumer","plugins":{"jwt-auth":{"key":"kb-key","secret":"` + ragSecret + `"}}},
	    "global_plugins":[{"name":"jwt-auth","enabled":true,"config":{}}]}},
	  {"module_type":"api_gateway","name":"gw-other","config":{"gateway_type":"apisix","routes":[],
	    "consumer":{"username":"other-consumer","plugins":{"jwt-auth":{"key":"other-key","secret":"` + ragSecret + `"}}}}},
	  {"module_type":"rag_service","name":"kb","config":{"service_url":"http://` + rag + `","configuration_name":"demo-kb",
	    "default_k":8,"default_similarity_threshold":0,"use_reranking":true,"jwt_auth_enabled":true,"jwt_module_reference":"kb-auth",
	    "default_metadata_filter":{"status":"published"},"request_timeout":5,"max_retries":1}},
	  {"module_type":"inference_endpoint","name":"assistant","config":{"endpoint_url":"http://` + llm + `/v1","model_name":"fake-gpt",
	    "retrieval":{"rag":"kb","k":3}}}
	]}`
}

// ragToken is a kb-consumer token; filter, when set, is its metadata_filter claim.
func ragToken(t *testing.T, key string, filter map[string]any) string {
	t.Helper()
	registerSecret(ragSecret)
	claims := map[string]any{"key": key, "project": "kbp"}
	if filter != nil {
		claims["metadata_filter"] = filter
	}
	return mintJWS(t, corpus{}, ragSecret, claims)
}

// tenantsOf lists the tenant metadata of the documents or sources at path in a JSON answer.
func tenantsOf(body []byte, path string) []string {
	var out []string
	for _, d := range gjson.GetBytes(body, path).Array() {
		out = append(out, d.Get("metadata.tenant").String())
	}
	return out
}

// TestRAGServiceModule (issue 16): a rag_service module fronts RAG2 at its real paths, applies the module's
// defaults, enforces the caller's metadata_filter claim, maps RAG2's 500-wrapped errors back and refuses
// management calls to a filtered caller.
func TestRAGServiceModule(t *testing.T) {
	requireIntegration(t)
	rag, ragSrv := startRAGService(t, ragservice.Options{})
	var llm recordingLLM
	llmSrv := llm.start(t)
	dir := t.TempDir()
	writeManifest(t, dir, "kbp", ragManifest(hostOf(ragSrv), hostOf(llmSrv)))
	f := startFD2(t, "manifests file "+dir, ragSite)

	acme := ragToken(t, "kb-key", map[string]any{"tenant": "acme"})
	unfiltered := ragToken(t, "kb-key", nil)
	other := ragToken(t, "other-key", map[string]any{"tenant": "acme"})
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	t.Run("query applies defaults and the claim at the API prefix", func(t *testing.T) {
		rag.Reset()
		r := do(t, "POST", f.url("/kbp/kb/query"), `{"query":"vacation days policy"}`, bearer(acme)...)
		expectStatus(t, r, 200)
		if got := tenantsOf(r.body, "sources"); len(got) == 0 || strings.Contains(strings.Join(got, ","), "globex") {
			t.Fatalf("sources of tenants %v: %s", got, r.body)
		}
		rec, ok := rag.Last("/api/v1/query")
		if !ok {
			t.Fatalf("the service got no /api/v1/query: %v", rag.Requests())
		}
		want := `{"$and":[{"status":"published"},{"tenant":"acme"}]}`
		if got := gjson.GetBytes(rec.Body, "filter").Raw; !jsonEqual(got, want) {
			t.Errorf("filter sent %s, want %s", got, want)
		}
		for path, want := range map[string]string{"configuration_name": "demo-kb", "k": "8", "filter_after_reranking": "true"} {
			if got := gjson.GetBytes(rec.Body, path).String(); got != want {
				t.Errorf("%s sent %q, want %q (body %s)", path, got, want, rec.Body)
			}
		}
	})

	attacks := []struct{ name, path, body string }{
		{"request filter names the other tenant", "/kbp/kb/retrieve", `{"query":"vacation days","filter":{"tenant":"globex"}}`},
		{"an $or widening", "/kbp/kb/retrieve", `{"query":"vacation days","filter":{"$or":[{"tenant":"globex"},{"tenant":"acme"}]}}`},
		{"a duplicated filter key", "/kbp/kb/retrieve", `{"query":"security policy","filter":{"tenant":"acme"},"filter":{"tenant":"globex"}}`},
		{"a $ne on the claim's key", "/kbp/kb/retrieve", `{"query":"security lab badge","filter":{"tenant":{"$ne":"acme"}}}`},
		{"several configurations", "/kbp/kb/retrieve", `{"query":"vacation days","configuration_names":["demo-kb","demo-kb"]}`},
		{"the legacy path", "/kbp/rag/kb/retrieve", `{"query":"secret project codename","filter":{"tenant":"globex"}}`},
		{"the client's own API prefix", "/kbp/kb/api/v1/retrieve", `{"query":"acquire next quarter merger memo","filter":{"tenant":"globex"}}`},
		{"query with the other tenant", "/kbp/kb/query", `{"query":"Globex vacation days","filter":{"tenant":"globex"}}`},
		{"OpenAI-compatible chat", "/kbp/kb/v1/chat/completions", `{"model":"demo-kb","messages":[{"role":"user","content":"Globex vacation"}],"filter":{"tenant":"globex"}}`},
	}
	for _, a := range attacks {
		t.Run("attack: "+a.name, func(t *testing.T) {
			r := do(t, "POST", f.url(a.path), a.body, bearer(acme)...)
			if leak := globexLeak(r.body); leak != "" {
				t.Fatalf("%d: another tenant's documents reached the caller (%q): %s", r.status, leak, r.body)
			}
			if r.status != 200 && r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
	t.Run("the attack bodies find the other tenant without a claim", func(t *testing.T) {
		r := do(t, "POST", f.url("/kbp/kb/retrieve"), `{"query":"vacation days","filter":{"tenant":"globex"}}`, bearer(unfiltered)...)
		expectStatus(t, r, 200)
		if got := tenantsOf(r.body, "documents"); len(got) == 0 || got[0] != "globex" {
			t.Fatalf("tenants %v: the attack test would pass vacuously: %s", got, r.body)
		}
	})

	t.Run("auth: no token, another consumer's token", func(t *testing.T) {
		expectStatus(t, do(t, "POST", f.url("/kbp/kb/query"), `{"query":"q"}`), 401)
		r := do(t, "POST", f.url("/kbp/kb/query"), `{"query":"q"}`, bearer(other)...)
		expectStatus(t, r, 403)
		if r.errorCode(t) != "consumer_forbidden" {
			t.Fatalf("%s", r.body)
		}
		// The assistant retrieves from kb: a consumer kb refuses cannot read its documents through it.
		for _, p := range []string{"/kbp/assistant/v1/chat/completions", "/kbp/assistant/v1/messages"} {
			r = do(t, "POST", f.url(p), `{"max_tokens":9,"messages":[{"role":"user","content":"vacation days"}]}`, bearer(other)...)
			expectStatus(t, r, 403)
			if strings.Contains(string(r.body), "vacation") || !strings.Contains(string(r.body), "consumer") {
				t.Fatalf("%s: %s", p, r.body)
			}
		}
	})

	t.Run("management is refused to a filtered caller", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/kbp/kb/documents?configuration_name=demo-kb", ""},
			{"GET", "/kbp/kb/configurations", ""},
			{"POST", "/kbp/kb/upload/text", `{"documents":[{"content":"x"}],"configuration_name":"demo-kb"}`},
		} {
			r := do(t, c.method, f.url(c.path), c.body, bearer(acme)...)
			expectStatus(t, r, 403)
			if r.errorCode(t) != "filter_restricted" {
				t.Fatalf("%s %s: %s", c.method, c.path, r.body)
			}
		}
		r := do(t, "GET", f.url("/kbp/kb/documents?configuration_name=demo-kb"), "", bearer(unfiltered)...)
		expectStatus(t, r, 200)
	})

	t.Run("honest errors", func(t *testing.T) {
		r := do(t, "POST", f.url("/kbp/kb/query"), `{"query":"x","configuration_name":"no-such-kb"}`, bearer(unfiltered)...)
		expectStatus(t, r, 404)
		r = do(t, "POST", f.url("/kbp/kb/query"), `{"query":"please raise-internal-error now"}`, bearer(unfiltered)...)
		expectStatus(t, r, 502)
		for _, leak := range []string{"Traceback", "/app/", ".py", "KeyError"} {
			if strings.Contains(string(r.body), leak) {
				t.Fatalf("the service's internals reached the client (%q): %s", leak, r.body)
			}
		}
		if r.errorCode(t) != "upstream_error" || r.header.Get("X-Request-Id") == "" {
			t.Fatalf("%s %v", r.body, r.header)
		}
		r = do(t, "POST", f.url("/kbp/kb/nope"), `{}`, bearer(unfiltered)...)
		expectStatus(t, r, 404)
		r = do(t, "GET", f.url("/kbp/kb/query"), ``, bearer(unfiltered)...)
		expectStatus(t, r, 405)
	})

	t.Run("retries an idempotent call", func(t *testing.T) {
		rag.Reset()
		rag.Fail("/api/v1/retrieve", 0, 1) // the connection drops once
		r := do(t, "POST", f.url("/kbp/kb/retrieve"), `{"query":"vacation"}`, bearer(unfiltered)...)
		expectStatus(t, r, 200)
	})

	t.Run("simulated stream passes through and its first token is measured", func(t *testing.T) {
		r := do(t, "POST", f.url("/kbp/kb/v1/chat/completions"),
			`{"model":"demo-kb","stream":true,"messages":[{"role":"user","content":"Acme vacation days"}]}`, bearer(acme)...)
		expectStatus(t, r, 200)
		if !strings.Contains(string(r.body), "data: [DONE]") || !strings.Contains(r.header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("not a stream: %v %s", r.header, r.body)
		}
		m := do(t, "GET", f.url("/metrics"), "")
		if !strings.Contains(string(m.body), `fd2_rag_time_to_first_token_seconds_count{module="kb",project="kbp"}`) {
			t.Errorf("no time-to-first-token series for the module")
		}
	})

	t.Run("retrieval-augmented chat at the gateway", func(t *testing.T) {
		// The caller's own filter cannot widen the claim: asking for the other tenant finds nothing.
		r := do(t, "POST", f.url("/kbp/assistant/v1/chat/completions"),
			`{"messages":[{"role":"user","content":"How many vacation days do employees get?"}],"filter":{"tenant":"globex"}}`, bearer(acme)...)
		expectStatus(t, r, 200)
		if leak := globexLeak(r.body); leak != "" || len(tenantsOf(r.body, "sources")) != 0 || globexLeak(llm.last()) != "" {
			t.Fatalf("another tenant's documents (%q) reached the caller or the prompt: %s / %s", leak, r.body, llm.last())
		}
		if gjson.GetBytes(llm.last(), "filter").Exists() {
			t.Errorf("the retrieval filter reached the provider: %s", llm.last())
		}

		r = do(t, "POST", f.url("/kbp/assistant/v1/chat/completions"),
			`{"messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`, bearer(acme)...)
		expectStatus(t, r, 200)
		srcs := tenantsOf(r.body, "sources")
		if len(srcs) == 0 || strings.Contains(strings.Join(srcs, ","), "globex") {
			t.Fatalf("sources %v: %s", srcs, r.body)
		}
		sent := gjson.GetBytes(llm.last(), "messages.0")
		if sent.Get("role").String() != "system" || !strings.Contains(sent.Get("content").String(), "25 vacation days") {
			t.Fatalf("the provider got no documents: %s", llm.last())
		}
		if globexLeak(llm.last()) != "" {
			t.Fatalf("another tenant's documents reached the prompt: %s", llm.last())
		}
		if st := r.header.Get("Server-Timing"); !strings.Contains(st, "retrieval;dur=") {
			t.Errorf("Server-Timing %q has no retrieval stage", st)
		}

		r = do(t, "POST", f.url("/kbp/assistant/v1/chat/completions"),
			`{"stream":true,"messages":[{"role":"user","content":"vacation days"}]}`, bearer(acme)...)
		expectStatus(t, r, 200)
		events := strings.Split(strings.TrimSpace(string(r.body)), "\n\n")
		if len(events) < 3 || events[len(events)-1] != "data: [DONE]" {
			t.Fatalf("stream: %s", r.body)
		}
		last := strings.TrimPrefix(events[len(events)-2], "data: ")
		if got := tenantsOf([]byte(last), "sources"); len(got) == 0 || got[0] != "acme" {
			t.Fatalf("no sources chunk before [DONE]: %s", last)
		}
		m := do(t, "GET", f.url("/metrics"), "")
		if !strings.Contains(string(m.body), `fd2_rag_retrieval_duration_seconds_count{outcome="ok",project="kbp",source="kb"}`) {
			t.Errorf("no retrieval duration series")
		}
	})

	t.Run("retrieval-augmented Messages API", func(t *testing.T) {
		// The same enforcement on Anthropic's API: the caller's filter cannot widen the claim.
		r := do(t, "POST", f.url("/kbp/assistant/v1/messages"),
			`{"max_tokens":64,"messages":[{"role":"user","content":"How many vacation days do employees get?"}],"filter":{"tenant":"globex"}}`, bearer(acme)...)
		expectStatus(t, r, 200)
		if leak := globexLeak(r.body); leak != "" || len(tenantsOf(r.body, "sources")) != 0 || globexLeak(llm.last()) != "" {
			t.Fatalf("another tenant's documents (%q) reached the caller or the prompt: %s / %s", leak, r.body, llm.last())
		}

		r = do(t, "POST", f.url("/kbp/assistant/v1/messages"),
			`{"max_tokens":64,"system":"Be terse.","messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`, bearer(acme)...)
		expectStatus(t, r, 200)
		if gjson.GetBytes(r.body, "type").String() != "message" {
			t.Fatalf("not a Messages API answer: %s", r.body)
		}
		if srcs := tenantsOf(r.body, "sources"); len(srcs) == 0 || strings.Contains(strings.Join(srcs, ","), "globex") {
			t.Fatalf("sources %v: %s", srcs, r.body)
		}
		prompt := string(llm.last())
		docs, own := strings.Index(prompt, "25 vacation days"), strings.Index(prompt, "Be terse.")
		if docs < 0 || own < docs || globexLeak(llm.last()) != "" {
			t.Fatalf("the provider's prompt lacks the documents before the caller's system prompt: %s", prompt)
		}

		r = do(t, "POST", f.url("/kbp/assistant/v1/messages"),
			`{"max_tokens":64,"stream":true,"messages":[{"role":"user","content":"vacation days"}]}`, bearer(acme)...)
		expectStatus(t, r, 200)
		events := strings.Split(strings.TrimSpace(string(r.body)), "\n\n")
		n := len(events)
		if n < 3 || !strings.HasPrefix(events[n-1], "event: message_stop\n") || !strings.HasPrefix(events[n-2], "event: sources\ndata: ") {
			t.Fatalf("stream does not end with a sources event, then message_stop: %s", r.body)
		}
		if got := tenantsOf([]byte(strings.TrimPrefix(events[n-2], "event: sources\ndata: ")), "sources"); len(got) == 0 || got[0] != "acme" {
			t.Fatalf("sources event: %s", events[n-2])
		}

		// An endpoint FD2 cannot augment refuses rather than answering without the documents.
		r = do(t, "POST", f.url("/kbp/assistant/v1/responses"), `{"input":"vacation days"}`, bearer(acme)...)
		expectStatus(t, r, 400)
		if r.errorCode(t) != "retrieval_unsupported" {
			t.Fatalf("%s", r.body)
		}
	})

	t.Run("retrieval failure is the gateway's upstream failing", func(t *testing.T) {
		rag.Fail("/api/v1/retrieve", http.StatusServiceUnavailable, 5)
		defer rag.Reset()
		r := do(t, "POST", f.url("/kbp/assistant/v1/chat/completions"),
			`{"messages":[{"role":"user","content":"vacation"}]}`, bearer(acme)...)
		expectStatus(t, r, 502)
		if r.errorCode(t) != "retrieval_failed" {
			t.Fatalf("%s", r.body)
		}
	})
}

// ragSite is the full pipeline with /metrics.
const ragSite = `
:{{HTTP}} {
	{{LOG}}
	handle /metrics {
		metrics
	}
	handle {
		route {
			dsp_manifest
			dsp_auth
			dsp_ratelimit
			dsp_dispatch
		}
	}
	handle_errors {
		dsp_error
	}
}
`

// globexLeak names a piece of the globex tenant's documents found in an answer ("" when none is): its
// metadata, or words only its documents hold.
func globexLeak(body []byte) string {
	for _, s := range []string{`"tenant":"globex"`, `"tenant": "globex"`, "globex-00", "30 vacation days", "Hammock", "Initech",
		"badge access", "from 8 to 20"} {
		if bytes.Contains(body, []byte(s)) {
			return s
		}
	}
	return ""
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// TestRAGStaticSite (issue 16): a Caddyfile site without manifests fronts RAG2 with dsp_rag and serves
// retrieval-augmented chat with dsp_openai's retrieval block, both enforcing the metadata_filter claim of a
// static JWT policy.
func TestRAGStaticSite(t *testing.T) {
	requireIntegration(t)
	rag, ragSrv := startRAGService(t, ragservice.Options{})
	var llm recordingLLM
	llmSrv := llm.start(t)
	registerSecret(ragSecret)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	{{LOG}}
	handle /metrics {
		metrics
	}
	handle_path /kb/* {
		dsp_auth {
			name kb-site
			jwt {
				secret %[3]s
			}
		}
		dsp_rag %[1]s {
			configuration demo-kb
			k 6
			threshold 0.01
			filter {"status":"published"}
			timeout 5s
			max_retries 1
		}
	}
	handle /v1/* {
		dsp_auth {
			name chat-site
			jwt {
				secret %[3]s
			}
		}
		dsp_openai {
			provider fake openai {
				base_url %[2]s/v1
			}
			retrieval {
				rag %[1]s
				configuration demo-kb
				k 2
				template "Context:{{range .Documents}} [{{.Index}}] {{.Content}}{{end}}"
			}
		}
	}
	handle_errors {
		dsp_error
	}
}
`, ragSrv.URL, llmSrv.URL, ragSecret))
	acme := mintJWS(t, corpus{}, ragSecret, map[string]any{"metadata_filter": map[string]any{"tenant": "acme"}})
	auth := []string{"Authorization", "Bearer " + acme}

	t.Run("dsp_rag applies its options and the claim", func(t *testing.T) {
		rag.Reset()
		r := do(t, "POST", f.url("/kb/retrieve"), `{"query":"vacation days","filter":{"tenant":"globex"}}`, auth...)
		expectStatus(t, r, 200)
		if leak := globexLeak(r.body); leak != "" {
			t.Fatalf("leak %q: %s", leak, r.body)
		}
		rec, _ := rag.Last("/api/v1/retrieve")
		want := `{"$and":[{"tenant":"globex"},{"status":"published"},{"tenant":"acme"}]}`
		if got := gjson.GetBytes(rec.Body, "filter").Raw; !jsonEqual(got, want) || gjson.GetBytes(rec.Body, "k").Int() != 6 {
			t.Fatalf("sent %s, want filter %s and k 6", rec.Body, want)
		}
		if r.header.Get("X-Request-Id") == "" || !strings.Contains(r.header.Get("Server-Timing"), "fd2;dur=") {
			t.Errorf("the static site is not observed: %v", r.header)
		}
		expectStatus(t, do(t, "POST", f.url("/kb/retrieve"), `{"query":"vacation"}`), 401)
	})

	t.Run("dsp_openai retrieval", func(t *testing.T) {
		r := do(t, "POST", f.url("/v1/chat/completions"),
			`{"model":"fake-gpt","messages":[{"role":"user","content":"How many vacation days?"}]}`, auth...)
		expectStatus(t, r, 200)
		if got := tenantsOf(r.body, "sources"); len(got) == 0 || len(got) > 2 || got[0] != "acme" {
			t.Fatalf("sources %v: %s", got, r.body)
		}
		sys := gjson.GetBytes(llm.last(), "messages.0.content").String()
		if !strings.HasPrefix(sys, "Context: [1] Acme employees receive 25 vacation days") {
			t.Fatalf("the template did not render the documents: %q", sys)
		}
		m := do(t, "GET", f.url("/metrics"), "")
		if !strings.Contains(string(m.body), `fd2_rag_retrieval_duration_seconds_count{outcome="ok",project="chat-site",source="`+hostOf(ragSrv)+`"}`) {
			t.Errorf("no retrieval series for the static site")
		}
	})
}

// TestRAGChatSecuredConfiguration: a RAG configuration with its own JWT security (RAG2's jwt_bearer) is
// searched with the caller's platform token, which the rag_service module's own route would pass on too;
// RAG2 then admits the call and applies the token's claim itself, on top of FD2's. An FD2 API key is never
// handed to the service, so that caller's retrieval is refused by RAG2 and the chat fails rather than
// answering without documents.
func TestRAGChatSecuredConfiguration(t *testing.T) {
	requireIntegration(t)
	secured := ragservice.Configuration{Name: "secure-kb", Documents: ragservice.DefaultCorpus(),
		Config: map[string]any{"similarity_threshold": 0.1, "security": map[string]any{"enabled": true, "type": "jwt_bearer", "jwt_secret_key": ragSecret}}}
	rag, ragSrv := startRAGService(t, ragservice.Options{Configurations: []ragservice.Configuration{secured}})
	var llm recordingLLM
	llmSrv := llm.start(t)
	keyFile := t.TempDir() + "/keys.json"
	plain, rec, err := newKey("svc", 0)
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, keyFile, rec)
	dir := t.TempDir()
	writeManifest(t, dir, "kbp", `{"project_id":"kbp","project_name":"kb","modules":[
	  {"module_type":"jwt_config","name":"kb-auth","config":{"service_url":"http://127.0.0.1:1","claims":{"static":{"key":"kb-key"}}}},
	  {"module_type":"api_gateway","name":"gw","config":{"gateway_type":"apisix","routes":[],
	    "consumer":{"username":"kb-consumer","plugins":{"jwt-auth":{"key":"kb-key","secret":"`+ragSecret+`"}}}}},
	  {"module_type":"rag_service","name":"kb","config":{"service_url":"http://`+hostOf(ragSrv)+`","configuration_name":"secure-kb",
	    "jwt_auth_enabled":true,"jwt_module_reference":"kb-auth"}},
	  {"module_type":"rag_service","name":"kb-open","config":{"service_url":"http://`+hostOf(ragSrv)+`","configuration_name":"secure-kb"}},
	  {"module_type":"inference_endpoint","name":"assistant","config":{"endpoint_url":"http://`+hostOf(llmSrv)+`/v1","model_name":"fake-gpt","rag_service":"kb"}},
	  {"module_type":"inference_endpoint","name":"keyed","config":{"endpoint_url":"http://`+hostOf(llmSrv)+`/v1","model_name":"fake-gpt","rag_service":"kb-open"}}
	]}`)
	f := startFD2(t, "manifests file "+dir, strings.Replace(ragSite, "\t\t\tdsp_auth\n", "\t\t\tdsp_auth {\n\t\t\t\tapi_keys file "+keyFile+"\n\t\t\t\toptional\n\t\t\t}\n", 1))

	// Without the caller's token RAG2 would answer 401 (wrapped as a 500), and the chat 502.
	for _, tc := range []struct {
		name  string
		claim map[string]any
	}{{"a token with a claim", map[string]any{"tenant": "acme"}}, {"a token without one", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := ragToken(t, "kb-key", tc.claim)
			rag.Reset()
			r := do(t, "POST", f.url("/kbp/assistant/v1/chat/completions"), `{"messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`,
				"Authorization", "Bearer "+tok)
			expectStatus(t, r, 200)
			if got := tenantsOf(r.body, "sources"); len(got) == 0 || (tc.claim != nil && strings.Contains(strings.Join(got, ","), "globex")) {
				t.Fatalf("sources %v: %s", got, r.body)
			}
			got, ok := rag.Last("/api/v1/retrieve")
			if !ok || got.Header.Get("Authorization") != "Bearer "+tok {
				t.Fatalf("the retrieval did not carry the caller's token: %+v", got)
			}
		})
	}

	t.Run("an FD2 API key stays at the gateway", func(t *testing.T) {
		rag.Reset()
		r := do(t, "POST", f.url("/kbp/keyed/v1/chat/completions"), `{"messages":[{"role":"user","content":"vacation days"}]}`, "Authorization", "Bearer "+plain)
		expectStatus(t, r, 502)
		if r.errorCode(t) != "retrieval_failed" {
			t.Fatalf("%s", r.body)
		}
		got, ok := rag.Last("/api/v1/retrieve")
		if !ok || got.Header.Get("Authorization") != "" || strings.Contains(fmt.Sprint(got.Header), plain) {
			t.Fatalf("the API key reached the RAG service: %+v", got)
		}
	})
}
