// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// TestEngineExtra attaches the request's extension (retrieval sources) to chat completions and Messages API
// messages only: a member of a non-streamed answer; in a stream a last choice-less chunk before [DONE], or
// a "sources" event before message_stop, also when the provider ends without them; never to an error
// answer or another endpoint.
func TestEngineExtra(t *testing.T) {
	extra := &Extra{Field: "sources", Value: json.RawMessage(`[{"content":"doc","score":0.5}]`)}
	const messageEvents = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n"
	const chunk = `data: {"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n"
	tests := []struct {
		name     string
		endpoint string
		body     string
		resp     func() *Response
		check    func(t *testing.T, out string)
	}{
		{
			name: "non-streamed chat", endpoint: EndpointChat, body: `{"model":"m","messages":[]}`,
			resp: func() *Response { return jsonResponse(`{"id":"c1","choices":[]}`) },
			check: func(t *testing.T, out string) {
				if gjson.Get(out, "sources.0.content").String() != "doc" || gjson.Get(out, "id").String() != "c1" {
					t.Errorf("body = %s", out)
				}
			},
		},
		{
			name: "stream with [DONE]", endpoint: EndpointChat, body: `{"model":"m","stream":true,"messages":[]}`,
			resp: func() *Response {
				return sseResponse(io.NopCloser(strings.NewReader(chunk + "data: [DONE]\n\n")))
			},
			check: func(t *testing.T, out string) {
				events := strings.Split(strings.TrimSpace(out), "\n\n")
				if len(events) != 3 || events[2] != "data: [DONE]" {
					t.Fatalf("events = %q", events)
				}
				last := strings.TrimPrefix(events[1], "data: ")
				if gjson.Get(last, "sources.0.score").Float() != 0.5 || gjson.Get(last, "id").String() != "c1" ||
					gjson.Get(last, "model").String() != "m" || gjson.Get(last, "created").Int() != 7 ||
					!gjson.Get(last, "choices").IsArray() || len(gjson.Get(last, "choices").Array()) != 0 {
					t.Errorf("sources chunk = %s", last)
				}
			},
		},
		{
			name: "stream without [DONE]", endpoint: EndpointChat, body: `{"model":"m","stream":true,"messages":[]}`,
			resp: func() *Response { return sseResponse(io.NopCloser(strings.NewReader(chunk))) },
			check: func(t *testing.T, out string) {
				if !strings.HasSuffix(out, "\n\n") || !strings.Contains(out[len(chunk):], `"sources":[{"content":"doc"`) {
					t.Errorf("stream = %q", out)
				}
			},
		},
		{
			name: "non-streamed message", endpoint: EndpointMessages, body: `{"model":"m","max_tokens":5,"messages":[]}`,
			resp: func() *Response { return jsonResponse(`{"id":"msg_1","type":"message","content":[]}`) },
			check: func(t *testing.T, out string) {
				if gjson.Get(out, "sources.0.content").String() != "doc" || gjson.Get(out, "type").String() != "message" {
					t.Errorf("body = %s", out)
				}
			},
		},
		{
			name: "message stream with message_stop", endpoint: EndpointMessages, body: `{"model":"m","max_tokens":5,"stream":true,"messages":[]}`,
			resp: func() *Response {
				return sseResponse(io.NopCloser(strings.NewReader(messageEvents + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")))
			},
			check: func(t *testing.T, out string) {
				events := strings.Split(strings.TrimSpace(out), "\n\n")
				n := len(events)
				if n < 3 || events[n-1] != "event: message_stop\ndata: {\"type\":\"message_stop\"}" {
					t.Fatalf("events = %q", events)
				}
				name, data, _ := strings.Cut(events[n-2], "\n")
				data = strings.TrimPrefix(data, "data: ")
				if name != "event: sources" || gjson.Get(data, "type").String() != "sources" || gjson.Get(data, "sources.0.score").Float() != 0.5 {
					t.Errorf("sources event = %q", events[n-2])
				}
				if strings.Count(out, "sources") != 3 { // the event name, its type, its member: once
					t.Errorf("stream = %q", out)
				}
			},
		},
		{
			name: "message stream without message_stop", endpoint: EndpointMessages, body: `{"model":"m","max_tokens":5,"stream":true,"messages":[]}`,
			resp: func() *Response { return sseResponse(io.NopCloser(strings.NewReader(messageEvents))) },
			check: func(t *testing.T, out string) {
				if !strings.HasSuffix(out, "\n\n") || !strings.Contains(out[len(messageEvents):], "event: sources\ndata: {\"sources\":[{\"content\":\"doc\"") {
					t.Errorf("stream = %q", out)
				}
			},
		},
		{
			name: "error answer untouched", endpoint: EndpointChat, body: `{"model":"m","messages":[]}`,
			resp: func() *Response {
				r := jsonResponse(`{"error":{"message":"bad"}}`)
				r.Status = http.StatusBadRequest
				return r
			},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "sources") {
					t.Errorf("body = %s", out)
				}
			},
		},
		{
			name: "embeddings untouched", endpoint: EndpointEmbeddings, body: `{"model":"m","input":"x"}`,
			resp: func() *Response { return jsonResponse(`{"data":[]}`) },
			check: func(t *testing.T, out string) {
				if out != `{"data":[]}` {
					t.Errorf("body = %s", out)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{models: []string{"m"}, do: func(context.Context, string, *Request) (*Response, error) { return tc.resp(), nil }}
			e := &Engine{Backend: b, Extra: extra}
			w, err := serve(t, e, http.MethodPost, tc.endpoint, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, w.Body.String())
		})
	}
}
