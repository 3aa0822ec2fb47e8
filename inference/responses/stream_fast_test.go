// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

// translateStream runs a chat stream through a translator as the provider does, but on the test's
// goroutine (so that a panic fails the test) and with deterministic ids: the translated stream and the
// translator's error.
func translateStream(t testing.TB, in []byte, noFast bool) ([]byte, error) {
	inner := &fakeChat{}
	o := Over(inner, NewMemoryStore(0, 0)).(*provider)
	var n atomic.Int64
	o.newID = func(prefix string) string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }
	o.now = func() time.Time { return testNow }
	tr, err := o.translate(context.Background(), &inference.Request{Endpoint: inference.EndpointResponses, Method: "POST",
		Body: []byte(`{"model":"m","input":"x","stream":true}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tl := o.newTranslator(context.Background(), tr, &out)
	tl.noFast = noFast
	err = tl.run(bytes.NewReader(in))
	tl.release()
	return out.Bytes(), err
}

// fastEvents are chat chunks the fast path must treat exactly as the decoding path does, whether it
// takes them or not.
var fastEvents = []string{
	chunk(`{"content":"plain"}`, ""),
	chunk(`{"role":"assistant","content":""}`, ""),
	chunk(`{"content":"esc \" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \ud800 <>&"}`, ""),
	chunk(`{"content":"raw é 😀 \u2028"}`, ""),
	"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bad \xff utf8\"}}]}",
	`{"choices":[{"index":0,"delta":{"content":"no usage key"}}]}`,
	`{"choices":[{"delta":{"content":"no index"}}]}`,
	`{"choices":[{"index":1,"delta":{"content":"other choice"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`,
	`{"choices":[{"index":0.0,"delta":{"content":"float index"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":null}}]}`,
	`{"choices":[{"index":0,"delta":{"content":["x"]}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"dup","content":"licate"}}]}`,
	`{"choices":[{"index":0,"delta":{"Content":"folded"}}]}`,
	`{"choices":[{"index":0,"delta":{"cont\u0065nt":"escaped key"}}]}`,
	`{"Choices":[{"index":0,"delta":{"content":"folded top"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"x","refusal":null}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"x","tool_calls":null}}]}`,
	`{"choices":[{"index":0,"delta":null}]}`,
	`{"choices":null}`,
	`{"choices":[]}`,
	`{"choices":[{"index":0,"delta":{"content":"fin"},"finish_reason":"stop"}]}`,
	`{"choices":[{"index":0,"delta":{"content":"u"}}],"usage":{"prompt_tokens":1}}`,
	`{"choices":[{"index":0,"delta":{"content":"u"}}],"usage":null,"usage":null}`,
	`{"choices":[{"index":0,"delta":{"content":"e"}}],"error":null}`,
	` { "choices" : [ { "index" : 0 , "delta" : { "content" : "spaced" } } ] } `,
	`[1]`,
	`"str"`,
	`{"choices":[{"index":0,"delta":{"content":"trunc"`,
}

// TestFastPathMatchesDecoding runs every fastEvents entry, between two ordinary chunks, through both
// paths: the translated streams and errors are the same.
func TestFastPathMatchesDecoding(t *testing.T) {
	for _, ev := range fastEvents {
		in := []byte(sse(chunk(`{"content":"a"}`, ""), ev, chunk(`{"content":"b"}`, "stop")))
		fast, ferr := translateStream(t, in, false)
		slow, serr := translateStream(t, in, true)
		if !bytes.Equal(fast, slow) || fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Errorf("event %s:\nfast (%v):\n%s\nslow (%v):\n%s", ev, ferr, fast, serr, slow)
		}
		if ferr == nil {
			if _, err := checkEvents(fast); err != nil {
				t.Errorf("event %s: %v", ev, err)
			}
		}
	}
}

// TestFastPathTakesContentDeltas checks that the common chunks do take the fast path.
func TestFastPathTakesContentDeltas(t *testing.T) {
	tl := &translator{}
	for _, ev := range []string{chunk(`{"content":""}`, ""), chunk(`{"role":"assistant","content":""}`, ""),
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}],"usage":null,"system_fingerprint":null}`,
	} {
		if ok, err := tl.fastEvent([]byte(ev)); !ok || err != nil {
			t.Errorf("fast path refused %s (%v)", ev, err)
		}
	}
	for _, ev := range []string{chunk(`{}`, "stop"), usageChunk, chunk(`{"tool_calls":[]}`, ""), `{"error":{}}`} {
		if ok, _ := tl.fastEvent([]byte(ev)); ok {
			t.Errorf("fast path took %s", ev)
		}
	}
}

// FuzzStreamTranslator feeds arbitrary bytes, as a chat stream, through the translator. Whatever the
// input, nothing panics; every output event is framed and numbered; a stream that ends without error
// ends with exactly one terminal event (completed, incomplete or failed), and one that errs has none;
// the fast path and the decoding path write the same bytes and end the same way.
func FuzzStreamTranslator(f *testing.F) {
	f.Add([]byte(sse(chunk(`{"role":"assistant","content":""}`, ""), chunk(`{"content":"Hi"}`, ""), chunk(`{}`, "stop"), usageChunk)))
	f.Add([]byte(sse(chunk(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}`, ""),
		chunk(`{"tool_calls":[{"index":3,"function":{"arguments":"}"}}]}`, ""), chunk(`{"content":"t","reasoning_content":"r","refusal":"n"}`, "length"))))
	f.Add([]byte("data: " + chunk(`{"content":"x"}`, "") + "\n\ndata: {\"error\":{\"message\":\"m\",\"code\":5}}\n\n"))
	f.Add([]byte("data: {\"error\":\"plain\"}\n\n"))
	f.Add([]byte("data: " + chunk(`{"content":"x"}`, "") + "\r\n\r\n: comment\nevent: x\ndata: [DONE]"))
	f.Add([]byte("data: a\ndata: b\n\n"))
	f.Add([]byte(""))
	for _, ev := range fastEvents {
		f.Add([]byte("data: " + ev + "\n\n" + "data: " + chunk(`{}`, "stop") + "\n\n"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fast, ferr := translateStream(t, in, false)
		slow, serr := translateStream(t, in, true)
		if !bytes.Equal(fast, slow) || fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("paths differ:\nfast (%v):\n%s\nslow (%v):\n%s", ferr, fast, serr, slow)
		}
		evs, err := checkEvents(fast)
		if err != nil {
			t.Fatal(err)
		}
		terminal := 0
		for i, e := range evs {
			switch e.typ {
			case "response.completed", "response.incomplete", "response.failed":
				terminal++
				if i != len(evs)-1 {
					t.Fatalf("%s is event %d of %d", e.typ, i, len(evs))
				}
			}
		}
		if (ferr == nil) != (terminal == 1) {
			t.Fatalf("error %v with %d terminal events:\n%s", ferr, terminal, fast)
		}
		if ferr == nil && len(evs) < 3 {
			t.Fatalf("a finished stream without its lifecycle events:\n%s", fast)
		}
		if len(evs) > 0 && (evs[0].typ != "response.created" || strings.Contains(string(fast), `"sequence_number":-`)) {
			t.Fatalf("stream starts with %s", evs[0].typ)
		}
	})
}

// TestDeltaDoesNotAllocate checks the hot path: a content delta of an open message, read and written
// without allocating (the text it keeps grows by doubling).
func TestDeltaDoesNotAllocate(t *testing.T) {
	o := testOver(&fakeChat{}, NewMemoryStore(0, 0))
	tr, err := o.translate(context.Background(), responsesReq(`{"model":"m","input":"x","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	tl := o.newTranslator(context.Background(), tr, io.Discard)
	defer tl.release()
	ev := []byte(chunk(`{"content":" word"}`, ""))
	if _, err := tl.event(ev); err != nil { // opens the message
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if done, err := tl.event(ev); done || err != nil {
			t.Fatal(done, err)
		}
	}); n != 0 {
		t.Errorf("a content delta allocates %v times", n)
	}
}
