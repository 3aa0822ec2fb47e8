// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/mock"
)

// recorder passes calls to a provider and keeps the chat bodies it was sent.
type recorder struct {
	inference.Provider
	mu     sync.Mutex
	bodies []string
}

func (r *recorder) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	r.mu.Lock()
	r.bodies = append(r.bodies, string(req.Body))
	r.mu.Unlock()
	return r.Provider.Do(ctx, req)
}

func (r *recorder) lastMessages(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	return gjson.Get(r.bodies[len(r.bodies)-1], "messages").Raw
}

// TestChains continues conversations by previous_response_id over the mock provider, with each store:
// non-streamed and streamed turns, instructions not carried over, a branch from an earlier turn, and the
// owner kept.
func TestChains(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemoryStore(0, 0) },
		"redis":  func(t *testing.T) Store { return NewRedisStore(newRedis(t), "test:", time.Hour) },
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			inner := &recorder{Provider: mock.New(mock.Config{Text: "Mock says hi."})}
			o := Over(inner, store)
			ctx := inference.WithClientModel(context.Background(), "alias-1")
			do := func(body string) gjson.Result {
				t.Helper()
				req := responsesReq(body)
				resp, err := o.Do(ctx, req)
				if err != nil {
					t.Fatalf("Do(%s): %v", body, err)
				}
				defer resp.Body.Close()
				out, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if !resp.Stream {
					return gjson.ParseBytes(out)
				}
				evs := parseEvents(t, out)
				return evs[len(evs)-1].data.Get("response")
			}

			r1 := do(`{"model":"mock","instructions":"Be terse.","input":"Hello"}`)
			if r1.Get("output.0.content.0.text").String() != "Mock says hi." || r1.Get("usage.input_tokens").Int() != 3 {
				t.Fatalf("turn 1: %s", r1.Raw)
			}
			id1 := r1.Get("id").String()
			assertJSONEqual(t, "turn 1 chat messages", []byte(inner.lastMessages(t)),
				[]byte(`[{"role":"system","content":"Be terse."},{"role":"user","content":"Hello"}]`))

			r2 := do(`{"model":"mock","stream":true,"input":[{"role":"user","content":"And?"}],"previous_response_id":"` + id1 + `"}`)
			if r2.Get("status").String() != "completed" || r2.Get("previous_response_id").String() != id1 {
				t.Fatalf("turn 2: %s", r2.Raw)
			}
			// The previous instructions are not carried over; the previous answer is.
			assertJSONEqual(t, "turn 2 chat messages", []byte(inner.lastMessages(t)),
				[]byte(`[{"role":"user","content":"Hello"},{"role":"assistant","content":"Mock says hi."},{"role":"user","content":"And?"}]`))

			r3 := do(`{"model":"mock","input":"Last.","previous_response_id":"` + r2.Get("id").String() + `"}`)
			assertJSONEqual(t, "turn 3 chat messages", []byte(inner.lastMessages(t)),
				[]byte(`[{"role":"user","content":"Hello"},{"role":"assistant","content":"Mock says hi."},{"role":"user","content":"And?"},`+
					`{"role":"assistant","content":"Mock says hi."},{"role":"user","content":"Last."}]`))

			// A branch from turn 1 sees turn 1 only.
			do(`{"model":"mock","input":"Other","previous_response_id":"` + id1 + `"}`)
			assertJSONEqual(t, "branch chat messages", []byte(inner.lastMessages(t)),
				[]byte(`[{"role":"user","content":"Hello"},{"role":"assistant","content":"Mock says hi."},{"role":"user","content":"Other"}]`))

			rec, err := store.Get(context.Background(), r3.Get("id").String())
			if err != nil {
				t.Fatal(err)
			}
			if rec.Owner != "alias-1" || len(rec.Conversation) != 6 || rec.Inputs != 5 {
				t.Errorf("turn 3 record: owner %q, %d conversation items, %d input items", rec.Owner, len(rec.Conversation), rec.Inputs)
			}
			if Owner(context.Background(), store, id1) != "alias-1" || Owner(context.Background(), store, "resp_unknown") != "" {
				t.Error("Owner does not report the alias")
			}

			// A response an OpenAI-compatible provider keeps itself cannot be continued here.
			if err := Remember(context.Background(), store, "resp_native", "gpt"); err != nil {
				t.Fatal(err)
			}
			_, err = o.Do(ctx, responsesReq(`{"model":"mock","input":"x","previous_response_id":"resp_native"}`))
			var pe *inference.ProviderError
			if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Code != "previous_response_not_found" {
				t.Errorf("continuing a native response: %v", err)
			}
		})
	}
}

// TestToolRoundTrip continues a response that called a function with the function's output only, as
// the SDKs' agents do.
func TestToolRoundTrip(t *testing.T) {
	store := NewMemoryStore(0, 0)
	inner := &fakeChat{body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_9","type":"function","function":{"name":"get","arguments":"{\"k\":1}"}}]},"finish_reason":"tool_calls"}]}`}
	o := testOver(inner, store)
	r1 := doJSON(t, o, `{"model":"m","input":"Use the tool","tools":[{"type":"function","name":"get"}]}`)
	if r1.Get("output.0.type").String() != "function_call" || r1.Get("output.0.call_id").String() != "call_9" {
		t.Fatalf("turn 1: %s", r1.Raw)
	}
	inner.body = chatAnswer
	doJSON(t, o, `{"model":"m","previous_response_id":"`+r1.Get("id").String()+`","input":[{"type":"function_call_output","call_id":"call_9","output":"42"}]}`)
	assertJSONEqual(t, "turn 2 chat messages", []byte(gjson.GetBytes(inner.last(t).Body, "messages").Raw),
		[]byte(`[{"role":"user","content":"Use the tool"},{"role":"assistant","tool_calls":[{"id":"call_9","type":"function","function":{"name":"get","arguments":"{\"k\":1}"}}]},`+
			`{"role":"tool","content":"42","tool_call_id":"call_9"}]`))
}
