// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// chunk renders a chat.completion.chunk of choice 0, as OpenAI sends them (usage null when asked for).
func chunk(delta, finish string) string {
	if finish == "" {
		finish = "null"
	} else {
		finish = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":` +
		delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}`
}

const usageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],` +
	`"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"completion_tokens_details":{"reasoning_tokens":1}}}`

func TestStreamText(t *testing.T) {
	inner := &fakeChat{stream: true, body: sse(
		chunk(`{"role":"assistant","content":""}`, ""),
		chunk(`{"content":"Hel"}`, ""),
		chunk(`{"content":"lo \"<w>\"\n"}`, ""),
		chunk(`{}`, "stop"),
		usageChunk,
	)}
	store := NewMemoryStore(0, 0)
	out, err := doStream(t, testOver(inner, store), `{"model":"m","input":"Hi","stream":true}`)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	evs := parseEvents(t, out)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
		"response.output_item.done", "response.completed"}
	if got := types(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	created := evs[0].data.Get("response")
	if created.Get("id").String() != "resp_2" || created.Get("status").String() != "in_progress" ||
		created.Get("output").Raw != "[]" || created.Get("usage").Raw != "null" || created.Get("model").String() != "m" {
		t.Errorf("response.created: %s", created.Raw)
	}
	added := evs[2].data
	if added.Get("output_index").Int() != 0 || added.Get("item").Raw !=
		`{"id":"msg_3","type":"message","status":"in_progress","role":"assistant","content":[]}` {
		t.Errorf("output_item.added: %s", added.Raw)
	}
	if p := evs[3].data; p.Get("item_id").String() != "msg_3" || p.Get("content_index").Int() != 0 ||
		p.Get("part").Raw != `{"type":"output_text","annotations":[],"logprobs":[],"text":""}` {
		t.Errorf("content_part.added: %s", p.Raw)
	}
	d := evs[5].data
	if d.Get("delta").String() != "lo \"<w>\"\n" || d.Get("item_id").String() != "msg_3" || d.Get("output_index").Int() != 0 ||
		d.Get("content_index").Int() != 0 || d.Get("logprobs").Raw != "[]" {
		t.Errorf("output_text.delta: %s", d.Raw)
	}
	if !strings.Contains(string(out), `"delta":"lo \"<w>\"\n"`) {
		t.Error("the delta is not copied as encoding/json writes it without HTML escaping")
	}
	if s := evs[6].data.Get("text").String(); s != "Hello \"<w>\"\n" {
		t.Errorf("output_text.done text = %q", s)
	}
	if s := evs[8].data.Get("item.status").String(); s != "completed" {
		t.Errorf("output_item.done status = %q", s)
	}
	final := evs[9].data.Get("response")
	if final.Get("status").String() != "completed" || final.Get("output.0.content.0.text").String() != "Hello \"<w>\"\n" ||
		final.Get("usage").Raw != `{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":10}` ||
		!final.Get("store").Bool() {
		t.Errorf("response.completed: %s", final.Raw)
	}
	rec, err := store.Get(context.Background(), "resp_2")
	if err != nil {
		t.Fatalf("the streamed response was not stored: %v", err)
	}
	assertJSONEqual(t, "stored response", rec.Response, []byte(final.Raw))
	// FD2 asked the chat provider for the usage chunk.
	if !strings.Contains(string(inner.last(t).Body), `"stream_options":{"include_usage":true}`) {
		t.Errorf("chat body %s does not ask for usage", inner.last(t).Body)
	}
}

func TestStreamToolCalls(t *testing.T) {
	inner := &fakeChat{stream: true, body: sse(
		chunk(`{"role":"assistant","content":"Let me check."}`, ""),
		chunk(`{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, ""),
		chunk(`{}`, "tool_calls"),
		usageChunk,
	)}
	out, err := doStream(t, testOver(inner, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true,"tools":[{"type":"function","name":"weather"},{"type":"function","name":"time"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, out)
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done", // the text ends when a call starts
		"response.output_item.added", "response.function_call_arguments.delta",
		"response.output_item.added", "response.function_call_arguments.delta",
		"response.function_call_arguments.delta", // interleaved: call 0 again
		"response.function_call_arguments.done", "response.output_item.done",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed"}
	if got := types(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	if it := evs[8].data; it.Get("output_index").Int() != 1 || it.Get("item").Raw !=
		`{"id":"fc_4","type":"function_call","status":"in_progress","arguments":"","call_id":"call_a","name":"weather"}` {
		t.Errorf("first call added: %s", it.Raw)
	}
	if d := evs[12].data; d.Get("item_id").String() != "fc_4" || d.Get("output_index").Int() != 1 || d.Get("delta").String() != `"Paris"}` {
		t.Errorf("interleaved delta: %s", d.Raw)
	}
	if d := evs[13].data; d.Get("arguments").String() != `{"city":"Paris"}` || d.Get("name").String() != "weather" || d.Get("item_id").String() != "fc_4" {
		t.Errorf("arguments.done: %s", d.Raw)
	}
	final := evs[len(evs)-1].data.Get("response")
	wantOut := `[{"id":"msg_3","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Let me check."}]},` +
		`{"id":"fc_4","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"call_a","name":"weather"},` +
		`{"id":"fc_5","type":"function_call","status":"completed","arguments":"{}","call_id":"call_b","name":"time"}]`
	assertJSONEqual(t, "output", []byte(final.Get("output").Raw), []byte(wantOut))
	if final.Get("usage.total_tokens").Int() != 10 {
		t.Errorf("usage = %s", final.Get("usage").Raw)
	}
}

func TestStreamLengthIsIncomplete(t *testing.T) {
	inner := &fakeChat{stream: true, body: sse(chunk(`{"content":"cut sho"}`, ""), chunk(`{}`, "length"), usageChunk)}
	out, err := doStream(t, testOver(inner, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true,"max_output_tokens":3}`)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, out)
	last := evs[len(evs)-1]
	if last.typ != "response.incomplete" || len(find(evs, "response.completed")) != 0 {
		t.Fatalf("events %v: want response.incomplete last and no response.completed", types(evs))
	}
	r := last.data.Get("response")
	if r.Get("status").String() != "incomplete" || r.Get("incomplete_details.reason").String() != "max_output_tokens" ||
		r.Get("output.0.status").String() != "incomplete" || r.Get("max_output_tokens").Int() != 3 || r.Get("usage.output_tokens").Int() != 3 {
		t.Errorf("response.incomplete: %s", r.Raw)
	}
	if s := find(evs, "response.output_item.done")[0].data.Get("item.status").String(); s != "incomplete" {
		t.Errorf("output_item.done status = %q", s)
	}
}

func TestStreamUpstreamError(t *testing.T) {
	inner := &fakeChat{stream: true, body: "data: " + chunk(`{"content":"par"}`, "") + "\n\n" +
		`data: {"error":{"message":"Overloaded","type":"overloaded_error","code":"overloaded"}}` + "\n\n"}
	store := NewMemoryStore(0, 0)
	out, err := doStream(t, testOver(inner, store), `{"model":"m","input":"x","stream":true}`)
	if err != nil {
		t.Fatalf("an error event ends the stream cleanly, after response.failed: %v", err)
	}
	evs := parseEvents(t, out)
	last := evs[len(evs)-1]
	if last.typ != "response.failed" || len(find(evs, "response.completed")) != 0 {
		t.Fatalf("events %v: want response.failed last", types(evs))
	}
	r := last.data.Get("response")
	if r.Get("status").String() != "failed" || r.Get("error.code").String() != "overloaded" || r.Get("error.message").String() != "Overloaded" ||
		r.Get("output.0.status").String() != "incomplete" || r.Get("output.0.content.0.text").String() != "par" {
		t.Errorf("response.failed: %s", r.Raw)
	}
	if _, err := store.Get(context.Background(), r.Get("id").String()); !errors.Is(err, ErrNotFound) {
		t.Error("a failed response was stored")
	}
	// A rate-limit error without a code.
	inner.body = `data: {"error":{"message":"slow down","type":"rate_limit_error"}}` + "\n\n"
	out, _ = doStream(t, testOver(inner, store), `{"model":"m","input":"x","stream":true}`)
	evs = parseEvents(t, out)
	if got := types(evs); !reflect.DeepEqual(got, []string{"response.created", "response.in_progress", "response.failed"}) ||
		evs[2].data.Get("response.error.code").String() != "rate_limit_exceeded" {
		t.Errorf("events %v: %s", got, out)
	}
}

// TestStreamBrokenOff checks that a chat stream ending without a finish reason, or with bytes that are
// not a chunk, never ends as a completed response: the reader gets an error, which the engine reports.
func TestStreamBrokenOff(t *testing.T) {
	for name, body := range map[string]string{
		"cut":      "data: " + chunk(`{"content":"par"}`, "") + "\n\n",
		"not json": "data: " + chunk(`{"content":"par"}`, "") + "\n\ndata: {oops\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := doStream(t, testOver(&fakeChat{stream: true, body: body}, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true}`)
			if err == nil {
				t.Fatalf("no error; stream:\n%s", out)
			}
			if strings.Contains(string(out), "response.completed") {
				t.Error("a broken stream completed")
			}
			if name == "cut" && !errors.Is(err, errUnfinished) {
				t.Errorf("err = %v", err)
			}
		})
	}
	// A finish reason and the end of the body, without [DONE], is a finished answer.
	body := "data: " + chunk(`{"content":"done"}`, "stop") + "\n\n"
	out, err := doStream(t, testOver(&fakeChat{stream: true, body: body}, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true}`)
	if err != nil || !strings.Contains(string(out), "event: response.completed") {
		t.Errorf("finish without [DONE]: err %v, stream %s", err, out)
	}
}

// TestStreamReasoning checks reasoning deltas: an item of its own, before the message.
func TestStreamReasoning(t *testing.T) {
	inner := &fakeChat{stream: true, body: sse(chunk(`{"reasoning_content":"think"}`, ""), chunk(`{"reasoning_content":"ing"}`, ""),
		chunk(`{"content":"ok"}`, "stop"))}
	out, err := doStream(t, testOver(inner, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, out)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.reasoning_text.delta",
		"response.reasoning_text.delta", "response.reasoning_text.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done",
		"response.content_part.done", "response.output_item.done", "response.completed"}
	if got := types(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	if s := evs[5].data.Get("text").String(); s != "thinking" {
		t.Errorf("reasoning_text.done text = %q", s)
	}
	if r := evs[len(evs)-1].data.Get("response"); r.Get("output.0.type").String() != "reasoning" || r.Get("output.1.type").String() != "message" ||
		r.Get("output.0.content.0.text").String() != "thinking" || r.Get("usage").Raw != "null" {
		t.Errorf("response: %s", r.Raw)
	}
}

// TestStreamFromWholeAnswer checks a provider that answers a stream request with one JSON completion:
// its answer is replayed as events.
func TestStreamFromWholeAnswer(t *testing.T) {
	out, err := doStream(t, testOver(&fakeChat{body: chatAnswer}, NewMemoryStore(0, 0)), `{"model":"m","input":"x","stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, out)
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed"}
	if got := types(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	if r := evs[len(evs)-1].data.Get("response"); r.Get("output.0.content.0.text").String() != "ok" || r.Get("usage.total_tokens").Int() != 4 {
		t.Errorf("response: %s", r.Raw)
	}
}

// TestStreamClose checks that closing the translated stream early closes the provider's body and ends
// the translating goroutine.
func TestStreamClose(t *testing.T) {
	up := &blockingBody{closed: make(chan struct{})}
	o := testOver(&bodyProvider{body: up}, NewMemoryStore(0, 0))
	resp, err := o.Do(context.Background(), responsesReq(`{"model":"m","input":"x","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	<-up.closed // hangs (test timeout) if the upstream body is never closed
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Error("read after Close succeeded")
	}
}
