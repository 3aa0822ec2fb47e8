// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/mock"
)

func serve(t *testing.T, store Store, method, target string) (rec *httptest.ResponseRecorder, found bool, err error) {
	t.Helper()
	r := httptest.NewRequest(method, "/v1/"+target, nil)
	rec = httptest.NewRecorder()
	path, _, _ := strings.Cut(target, "?")
	found, err = ServeStored(rec, r, store, path)
	return rec, found, err
}

func TestServeStored(t *testing.T) {
	store := NewMemoryStore(0, 0)
	o := testOver(&fakeChat{body: chatAnswer}, store)
	input := `[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"input_text","text":"c"}]}]`
	res := doJSON(t, o, `{"model":"m","input":`+input+`}`)
	id := res.Get("id").String()

	w, found, err := serve(t, store, http.MethodGet, "responses/"+id)
	if !found || err != nil || w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET: found %v err %v status %d", found, err, w.Code)
	}
	assertJSONEqual(t, "GET body", w.Body.Bytes(), []byte(res.Raw))

	// input_items: newest first by default, ids given to the items that had none.
	w, found, err = serve(t, store, http.MethodGet, "responses/"+id+"/input_items")
	if !found || err != nil || w.Code != http.StatusOK {
		t.Fatalf("input_items: found %v err %v status %d", found, err, w.Code)
	}
	want := `{"object":"list","data":[` +
		`{"type":"message","id":"msg_3","role":"user","content":[{"type":"input_text","text":"c"}]},` +
		`{"type":"message","id":"msg_2","role":"assistant","content":[{"type":"output_text","text":"b"}]},` +
		`{"type":"message","id":"msg_1","role":"user","content":[{"type":"input_text","text":"a"}]}],` +
		`"first_id":"msg_3","last_id":"msg_1","has_more":false}`
	assertJSONEqual(t, "input_items", w.Body.Bytes(), []byte(want))

	for _, tt := range []struct{ query, ids string }{
		{"order=asc", "msg_1 msg_2 msg_3"},
		{"order=asc&limit=2", "msg_1 msg_2 more"},
		{"order=asc&after=msg_1", "msg_2 msg_3"},
		{"limit=1&after=msg_3", "msg_2 more"},
		{"order=asc&before=msg_3", "msg_1 msg_2"},
	} {
		w, _, err := serve(t, store, http.MethodGet, "responses/"+id+"/input_items?"+tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		var ids []string
		for _, v := range gjson.GetBytes(w.Body.Bytes(), "data.#.id").Array() {
			ids = append(ids, v.String())
		}
		if gjson.GetBytes(w.Body.Bytes(), "has_more").Bool() {
			ids = append(ids, "more")
		}
		if got := strings.Join(ids, " "); got != tt.ids {
			t.Errorf("input_items?%s = %s, want %s", tt.query, got, tt.ids)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "order=up"} {
		_, _, err := serve(t, store, http.MethodGet, "responses/"+id+"/input_items?"+q)
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("input_items?%s: err = %v, want 400", q, err)
		}
	}

	// A continued response was generated from the whole conversation: its input items are all listed.
	next := doJSON(t, o, `{"model":"m","input":"d","previous_response_id":"`+id+`"}`).Get("id").String()
	w, _, _ = serve(t, store, http.MethodGet, "responses/"+next+"/input_items?order=asc")
	if got := gjson.GetBytes(w.Body.Bytes(), "data.#.id").Raw; got != `["msg_1","msg_2","msg_3","msg_5","msg_6"]` {
		t.Errorf("input items of a continued response: %s", got)
	}

	// Refusals: streaming a stored response, cancelling it, a method the path does not take.
	for _, tt := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, "responses/" + id + "?stream=true", http.StatusBadRequest},
		{http.MethodPost, "responses/" + id + "/cancel", http.StatusBadRequest},
		{http.MethodPost, "responses/" + id, http.StatusMethodNotAllowed},
		{http.MethodDelete, "responses/" + id + "/input_items", http.StatusMethodNotAllowed},
	} {
		w, found, err := serve(t, store, tt.method, tt.target)
		var ae *apierr.Error
		if !found || !errors.As(err, &ae) || ae.Status != tt.status || ae.Code == "" || w.Body.Len() != 0 {
			t.Errorf("%s %s: found %v err %v, want %d with nothing written", tt.method, tt.target, found, err, tt.status)
		}
	}

	w, found, err = serve(t, store, http.MethodDelete, "responses/"+id)
	if !found || err != nil || w.Code != http.StatusOK {
		t.Fatalf("DELETE: found %v err %v status %d", found, err, w.Code)
	}
	assertJSONEqual(t, "DELETE body", w.Body.Bytes(), []byte(fmt.Sprintf(`{"id":%q,"object":"response.deleted","deleted":true}`, id)))
	if _, err := store.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Error("DELETE left the record")
	}

	// Not FD2's: unknown ids, ownership records, other paths. Nothing is written; the engine routes.
	_ = Remember(context.Background(), store, "resp_native", "gpt")
	for _, tt := range []struct{ method, target string }{
		{http.MethodGet, "responses/" + id},
		{http.MethodDelete, "responses/" + id},
		{http.MethodGet, "responses/resp_native"},
		{http.MethodGet, "responses/resp_native/input_items"},
		{http.MethodDelete, "responses/resp_native"},
		{http.MethodGet, "responses"},
		{http.MethodGet, "responses/"},
		{http.MethodGet, "chat/completions"},
		{http.MethodGet, "responses/" + id + "/other"},
	} {
		w, found, err := serve(t, store, tt.method, tt.target)
		if found || err != nil || w.Body.Len() != 0 || w.Code != http.StatusOK {
			t.Errorf("%s %s: found %v err %v, body %q", tt.method, tt.target, found, err, w.Body.String())
		}
	}
	if Owner(context.Background(), store, "resp_native") != "gpt" {
		t.Error("Remember did not record the owner")
	}

	// A failing store is a 503, not a not-found the engine would route elsewhere.
	_, found, err = serve(t, failingStore{}, http.MethodGet, "responses/resp_1")
	var ae *apierr.Error
	if !found || !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("store down: found %v err %v", found, err)
	}
	if Owner(context.Background(), failingStore{}, "resp_1") != "" {
		t.Error("Owner with the store down is not empty")
	}
}

// TestThroughEngine serves the Responses API through inference.Engine and Router over the decorated mock
// provider: the engine finds the usage of both answers where the Responses API puts it.
func TestThroughEngine(t *testing.T) {
	store := NewMemoryStore(0, 0)
	router, err := inference.NewRouter([]inference.Route{{Alias: "fast", Targets: []inference.Deployment{
		{Provider: Over(mock.New(mock.Config{Name: "mock-1", Text: "one two three"}), store), Model: "mock"},
	}}}, inference.RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var usage []inference.Usage
	e := &inference.Engine{Backend: router, Hooks: inference.Hooks{OnUsage: func(_, kind, model string, u inference.Usage) {
		if kind != "mock" || model != "mock" {
			t.Errorf("usage of kind %q model %q", kind, model)
		}
		usage = append(usage, u)
	}}}
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"fast","input":"four five","stream":%v}`, stream)
		r := httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		if err := e.ServeHTTP(w, r, "responses"); err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
		var text string
		if stream {
			evs := parseEvents(t, w.Body.Bytes())
			if evs[len(evs)-1].typ != "response.completed" || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("stream: %v", types(evs))
			}
			text = evs[len(evs)-1].data.Get("response.output.0.content.0.text").String()
		} else {
			text = gjson.GetBytes(w.Body.Bytes(), "output.0.content.0.text").String()
		}
		if w.Code != http.StatusOK || text != "one two three" {
			t.Errorf("stream %v: status %d, text %q: %s", stream, w.Code, text, w.Body.String())
		}
	}
	want := inference.Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5, Source: inference.UsageSourceProvider}
	if len(usage) != 2 || usage[0] != want || usage[1] != want {
		t.Errorf("usage = %+v, want twice %+v", usage, want)
	}

	// A refused parameter reaches the client as the 400 it is.
	r := httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(`{"model":"fast","input":"x","background":true}`))
	err = e.ServeHTTP(httptest.NewRecorder(), r, "responses")
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "unsupported_parameter" || !strings.Contains(ae.Message, "background") {
		t.Errorf("background: %v", err)
	}
}

// nativeProvider is an OpenAI-compatible provider that keeps its responses itself: it records the calls
// it gets and answers a created response with its own id.
type nativeProvider struct {
	mu    sync.Mutex
	calls []string
}

func (p *nativeProvider) Name() string { return "native" }
func (p *nativeProvider) Kind() string { return "openai" }
func (p *nativeProvider) Do(_ context.Context, req *inference.Request) (*inference.Response, error) {
	p.mu.Lock()
	p.calls = append(p.calls, req.Method+" "+req.Endpoint)
	p.mu.Unlock()
	body := `{"id":"resp_native1","object":"response","status":"completed","output":[],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}`
	if req.Stream {
		return &inference.Response{Status: 200, Stream: true, Header: http.Header{"Content-Type": {"text/event-stream"}},
			Body: io.NopCloser(strings.NewReader("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_native2\"}}\n\n" +
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_native2\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n"))}, nil
	}
	return &inference.Response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (p *nativeProvider) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.calls, ", ")
}

// TestEngineStoredResponses: the engine serves GET/DELETE of responses FD2 stored from the store, routes
// those an OpenAI-compatible provider keeps to the model that made them, and hides both from a caller who
// may not use that model.
func TestEngineStoredResponses(t *testing.T) {
	store := NewMemoryStore(0, 0)
	native := &nativeProvider{}
	router, err := inference.NewRouter([]inference.Route{
		{Alias: "claude", Targets: []inference.Deployment{{Provider: Over(mock.New(mock.Config{Text: "stored answer"}), store)}}},
		{Alias: "gpt", Targets: []inference.Deployment{{Provider: native}}},
	}, inference.RouterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &inference.Engine{Backend: router, Responses: ForEngine(store)}
	call := func(e *inference.Engine, method, endpoint, body string) (*httptest.ResponseRecorder, error) {
		r := httptest.NewRequest(method, "/v1/"+endpoint, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		return w, e.ServeHTTP(w, r, endpoint)
	}

	w, err := call(e, http.MethodPost, "responses", `{"model":"claude","input":"hi"}`)
	if err != nil {
		t.Fatal(err)
	}
	id := gjson.GetBytes(w.Body.Bytes(), "id").Str
	if w, err = call(e, http.MethodGet, "responses/"+id, ""); err != nil || gjson.GetBytes(w.Body.Bytes(), "id").Str != id {
		t.Fatalf("GET a stored response: %v %s", err, w.Body.String())
	}
	if got := Owner(context.Background(), store, id); got != "claude" {
		t.Errorf("owner %q; want the alias claude", got)
	}

	// A response the provider keeps: remembered from its answer (JSON and stream), reached through it.
	if _, err := call(e, http.MethodPost, "responses", `{"model":"gpt","input":"hi"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := call(e, http.MethodPost, "responses", `{"model":"gpt","input":"hi","stream":true}`); err != nil {
		t.Fatal(err)
	}
	for _, rid := range []string{"resp_native1", "resp_native2"} {
		if got := Owner(context.Background(), store, rid); got != "gpt" {
			t.Errorf("owner of %s %q; want gpt", rid, got)
		}
	}
	if _, err := call(e, http.MethodGet, "responses/resp_native1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := call(e, http.MethodDelete, "responses/resp_native1", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := native.log(), "POST responses, POST responses, GET responses/resp_native1, DELETE responses/resp_native1"; got != want {
		t.Errorf("provider calls %q; want %q", got, want)
	}
	if got := Owner(context.Background(), store, "resp_native1"); got != "" {
		t.Errorf("a deleted response is still remembered: owner %q", got)
	}

	// A caller who may not use claude does not see its responses.
	limited := *e
	limited.AllowModel = func(m string) bool { return m == "gpt" }
	if _, err := call(&limited, http.MethodGet, "responses/"+id, ""); err == nil || !strings.Contains(err.Error(), "no response with id") {
		t.Fatalf("GET another model's response: %v", err)
	}
	// Deleting a stored response.
	if w, err = call(e, http.MethodDelete, "responses/"+id, ""); err != nil || !gjson.GetBytes(w.Body.Bytes(), "deleted").Bool() {
		t.Fatalf("DELETE: %v %s", err, w.Body.String())
	}
}
