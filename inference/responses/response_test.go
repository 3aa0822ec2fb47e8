// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/dsp-ai/fd2/inference"
)

// TestResponseObject checks a whole non-streamed answer: every field the SDKs read, echoes included.
func TestResponseObject(t *testing.T) {
	inner := &fakeChat{body: `{"id":"c1","object":"chat.completion","created":1,"model":"m-2025","choices":[{"index":0,` +
		`"message":{"role":"assistant","content":"Hello <b> \"you\"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}`}
	store := NewMemoryStore(0, 0)
	o := testOver(inner, store)
	resp, err := o.Do(context.Background(), responsesReq(`{"model":"m","instructions":"Be kind.","input":"Hi",`+
		`"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"auto","temperature":0.5,`+
		`"top_p":1,"max_output_tokens":100,"user":"u","metadata":{"k":"v"},"reasoning":{"effort":"low"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || resp.Stream || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d stream %v content type %q", resp.Status, resp.Stream, resp.Header.Get("Content-Type"))
	}
	got, _ := io.ReadAll(resp.Body)
	// Ids are drawn in order: msg_1 for the input message, resp_2, then the output items.
	want := `{"id":"resp_2","object":"response","created_at":1700000000,"status":"completed","background":false,"error":null,` +
		`"incomplete_details":null,"instructions":"Be kind.","max_output_tokens":100,"model":"m",` +
		`"output":[{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Hello <b> \"you\""}]},` +
		`{"id":"fc_4","type":"function_call","status":"completed","arguments":"{\"a\":1}","call_id":"call_1","name":"f"}],` +
		`"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"low","summary":null},"store":true,` +
		`"temperature":0.5,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],` +
		`"top_p":1,"truncation":"disabled","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,` +
		`"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15},"user":"u","metadata":{"k":"v"}}`
	assertJSONEqual(t, "response", got, []byte(want))

	rec, err := store.Get(context.Background(), "resp_2")
	if err != nil {
		t.Fatalf("the response was not stored: %v", err)
	}
	assertJSONEqual(t, "stored response", rec.Response, got)
	if rec.Inputs != 1 || len(rec.Conversation) != 3 {
		t.Fatalf("stored %d input items and %d conversation items, want 1 and 3", rec.Inputs, len(rec.Conversation))
	}
	assertJSONEqual(t, "stored input", rec.Conversation[0],
		[]byte(`{"type":"message","id":"msg_1","role":"user","content":[{"type":"input_text","text":"Hi"}]}`))
	assertJSONEqual(t, "stored call", rec.Conversation[2],
		[]byte(`{"id":"fc_4","type":"function_call","status":"completed","arguments":"{\"a\":1}","call_id":"call_1","name":"f"}`))
	if !rec.Created.Equal(testNow) {
		t.Errorf("created = %v", rec.Created)
	}
}

// TestResponseOutputs checks the output items and status of the answers a chat provider gives.
func TestResponseOutputs(t *testing.T) {
	tests := []struct {
		name, message, finish string
		status, reason        string
		output                string
	}{
		{"length is incomplete", `{"content":"cut"}`, "length", "incomplete", "max_output_tokens",
			`[{"id":"msg_3","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"cut"}]}]`},
		{"content filter is incomplete", `{"content":null}`, "content_filter", "incomplete", "content_filter",
			`[{"id":"msg_3","type":"message","status":"incomplete","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":""}]}]`},
		{"refusal", `{"content":null,"refusal":"No."}`, "stop", "completed", "",
			`[{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"refusal","refusal":"No."}]}]`},
		{"reasoning first", `{"content":"4","reasoning_content":"2+2"}`, "stop", "completed", "",
			`[{"id":"rs_3","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"2+2"}]},` +
				`{"id":"msg_4","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"4"}]}]`},
		{"content parts", `{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, "stop", "completed", "",
			`[{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"ab"}]}]`},
		{"only tool calls", `{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":""}}]}`, "tool_calls", "completed", "",
			`[{"id":"fc_3","type":"function_call","status":"completed","arguments":"{}","call_id":"c1","name":"f"},` +
				`{"id":"fc_4","type":"function_call","status":"completed","arguments":"","call_id":"c2","name":"g"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fakeChat{body: `{"choices":[{"index":0,"message":` + tt.message + `,"finish_reason":"` + tt.finish + `"}]}`}
			res := doJSON(t, testOver(inner, NewMemoryStore(0, 0)), `{"model":"m","input":"x"}`)
			if res.Get("status").String() != tt.status || res.Get("incomplete_details.reason").String() != tt.reason {
				t.Errorf("status %s, incomplete_details %s", res.Get("status").Raw, res.Get("incomplete_details").Raw)
			}
			assertJSONEqual(t, "output", []byte(res.Get("output").Raw), []byte(tt.output))
			if res.Get("usage").Type != 0 && res.Get("usage").Raw != "null" {
				t.Errorf("usage = %s, want null when the provider reported none", res.Get("usage").Raw)
			}
		})
	}
}

// TestNotStored checks store: false and the records too large to keep: answered, not stored, and the
// answer says so.
func TestNotStored(t *testing.T) {
	store := NewMemoryStore(0, 0)
	o := testOver(&fakeChat{body: chatAnswer}, store)
	res := doJSON(t, o, `{"model":"m","input":"x","store":false}`)
	if res.Get("store").Bool() {
		t.Error("store: false answered store: true")
	}
	if _, err := store.Get(context.Background(), res.Get("id").String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("a store: false response was stored (err %v)", err)
	}
	// Continuing it is continuing an unknown response.
	_, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"y","previous_response_id":"`+res.Get("id").String()+`"}`))
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Code != "previous_response_not_found" {
		t.Errorf("continuing a store: false response: %v", err)
	}

	big := make([]byte, MaxRecordBytes)
	for i := range big {
		big[i] = 'a'
	}
	res = doJSON(t, o, `{"model":"m","input":"`+string(big)+`"}`)
	if res.Get("store").Bool() || res.Get("status").String() != "completed" {
		t.Errorf("a conversation over MaxRecordBytes: store %s status %s", res.Get("store").Raw, res.Get("status").Raw)
	}
	if _, err := store.Get(context.Background(), res.Get("id").String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("a conversation over MaxRecordBytes was stored (err %v)", err)
	}
}

// failingStore fails every call, as an unreachable Redis does.
type failingStore struct{}

var errDown = errors.New("store down")

func (failingStore) Get(context.Context, string) (*Record, error) { return nil, errDown }
func (failingStore) Put(context.Context, string, *Record) error   { return errDown }
func (failingStore) Delete(context.Context, string) error         { return errDown }

// TestStoreDown checks a failing store: a new response is still answered (store: false), and a
// continuation is a 503 that no other deployment is tried for.
func TestStoreDown(t *testing.T) {
	o := testOver(&fakeChat{body: chatAnswer}, failingStore{})
	if res := doJSON(t, o, `{"model":"m","input":"x"}`); res.Get("store").Bool() || res.Get("output.0.content.0.text").String() != "ok" {
		t.Errorf("answer with the store down: %s", res.Raw)
	}
	_, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"x","previous_response_id":"resp_1"}`))
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusServiceUnavailable || pe.Retryable || pe.Code != "response_store_unavailable" ||
		!errors.Is(err, errDown) {
		t.Errorf("continuation with the store down: %+v", err)
	}
}

// TestBadProviderAnswer checks that a provider answer that is not a chat completion is a 502.
func TestBadProviderAnswer(t *testing.T) {
	o := testOver(&fakeChat{body: `<html>`}, NewMemoryStore(0, 0))
	_, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"x"}`))
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Errorf("err = %v, want a 502 ProviderError", err)
	}
}

// TestNilStore checks Over without a store: answers say store: false and nothing can be continued.
func TestNilStore(t *testing.T) {
	o := testOver(&fakeChat{body: chatAnswer}, nil)
	if res := doJSON(t, o, `{"model":"m","input":"x"}`); res.Get("store").Bool() || res.Get("status").String() != "completed" {
		t.Errorf("answer without a store: %s", res.Raw)
	}
	_, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"x","previous_response_id":"resp_1"}`))
	var pe *inference.ProviderError
	if !errors.As(err, &pe) || pe.Code != "previous_response_not_found" {
		t.Errorf("continuation without a store: %v", err)
	}
}
