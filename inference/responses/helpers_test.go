// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/inference"
)

// testNow is the clock of every test translation.
var testNow = time.Unix(1_700_000_000, 0)

// testOver is Over with deterministic ids (prefix + a counter) and clock.
func testOver(inner inference.Provider, store Store) *provider {
	o := Over(inner, store).(*provider)
	var n atomic.Int64
	o.newID = func(prefix string) string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }
	o.now = func() time.Time { return testNow }
	return o
}

// fakeChat is a chat provider answering a fixed body, recording the requests it gets.
type fakeChat struct {
	body   string
	stream bool
	err    error

	mu   sync.Mutex
	reqs []*inference.Request
}

func (f *fakeChat) Name() string { return "fake" }
func (f *fakeChat) Kind() string { return "anthropic" }

func (f *fakeChat) Do(_ context.Context, req *inference.Request) (*inference.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if req.Endpoint != inference.EndpointChat {
		return nil, inference.ErrUnsupported
	}
	return &inference.Response{Status: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(strings.NewReader(f.body)), Stream: f.stream}, nil
}

func (f *fakeChat) last(t *testing.T) *inference.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the chat provider was not called")
	}
	return f.reqs[len(f.reqs)-1]
}

// sse renders chat chunks as a chat stream ending with [DONE].
func sse(chunks ...string) string {
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString("data: " + c + "\n\n")
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func responsesReq(body string) *inference.Request {
	return &inference.Request{Endpoint: inference.EndpointResponses, Method: http.MethodPost, Body: []byte(body),
		Model: gjson.Get(body, "model").String(), Stream: gjson.Get(body, "stream").Bool()}
}

func normJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

func assertJSONEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !reflect.DeepEqual(normJSON(t, got), normJSON(t, want)) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// event is one parsed Responses stream event.
type event struct {
	typ  string
	data gjson.Result
}

// parseEvents splits a Responses stream into its events and checks their framing: "event: <type>" then
// one data line holding a JSON object of that type, and sequence numbers 0, 1, 2….
func parseEvents(t testing.TB, out []byte) []event {
	t.Helper()
	evs, err := checkEvents(out)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func checkEvents(out []byte) ([]event, error) {
	if len(out) == 0 {
		return nil, nil
	}
	if !bytes.HasSuffix(out, []byte("\n\n")) {
		return nil, fmt.Errorf("stream does not end at an event boundary: %.200q", out)
	}
	var evs []event
	for i, raw := range bytes.Split(bytes.TrimSuffix(out, []byte("\n\n")), []byte("\n\n")) {
		lines := bytes.Split(raw, []byte("\n"))
		if len(lines) != 2 || !bytes.HasPrefix(lines[0], []byte("event: ")) || !bytes.HasPrefix(lines[1], []byte("data: ")) {
			return nil, fmt.Errorf("event %d is not an event line and a data line: %.300q", i, raw)
		}
		typ := string(lines[0][len("event: "):])
		data := lines[1][len("data: "):]
		if !json.Valid(data) {
			return nil, fmt.Errorf("event %d is not JSON: %.300q", i, data)
		}
		d := gjson.ParseBytes(data)
		if d.Get("type").String() != typ {
			return nil, fmt.Errorf("event %d: type %q under event %q", i, d.Get("type").String(), typ)
		}
		if n := d.Get("sequence_number"); n.Type != gjson.Number || n.Int() != int64(i) {
			return nil, fmt.Errorf("event %d has sequence_number %s", i, n.Raw)
		}
		evs = append(evs, event{typ: typ, data: d})
	}
	return evs, nil
}

func types(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.typ
	}
	return out
}

func find(evs []event, typ string) []event {
	var out []event
	for _, e := range evs {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// doStream runs a streamed Responses request through o and returns the translated stream.
func doStream(t *testing.T, o inference.Provider, body string) ([]byte, error) {
	t.Helper()
	resp, err := o.Do(context.Background(), responsesReq(body))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !resp.Stream {
		t.Fatal("the response is not a stream")
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return out, err
}

// doJSON runs a non-streamed Responses request through o and returns the response object.
func doJSON(t *testing.T, o inference.Provider, body string) gjson.Result {
	t.Helper()
	resp, err := o.Do(context.Background(), responsesReq(body))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Stream || !json.Valid(out) {
		t.Fatalf("not a JSON response: %s", out)
	}
	return gjson.ParseBytes(out)
}

// blockingBody is a provider body that sends nothing until it is closed.
type blockingBody struct {
	once   sync.Once
	closed chan struct{}
}

func (b *blockingBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, io.ErrClosedPipe
}

func (b *blockingBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// bodyProvider answers every chat call with a stream over body.
type bodyProvider struct{ body io.ReadCloser }

func (p *bodyProvider) Name() string { return "body" }
func (p *bodyProvider) Kind() string { return "gemini" }
func (p *bodyProvider) Do(context.Context, *inference.Request) (*inference.Response, error) {
	return &inference.Response{Status: http.StatusOK, Body: p.body, Stream: true}, nil
}
