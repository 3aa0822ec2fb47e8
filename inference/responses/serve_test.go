// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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
