// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// translateAll runs in through a stream translator to the end, with or without the fast path, on the
// calling goroutine (the provider's goroutine and pipe add nothing to compare).
func translateAll(t testing.TB, in []byte, includeUsage, noFast bool) (out []byte, err error) {
	ids := 0
	pv, err := New(Config{Name: "gm-fast", BaseURL: "http://127.0.0.1:1", Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
		NewID: func() string { ids++; return fmt.Sprintf("id%d", ids) }})
	if err != nil {
		t.Fatal(err)
	}
	p := pv.(*Provider)
	tr := &streamTranslator{p: p, id: "chatcmpl-" + p.newID(), created: p.now().Unix(), model: "gemini-<test>", includeUsage: includeUsage,
		choices: map[int]*choiceState{}, noFast: noFast}
	up := &upstream{ctx: context.Background(), body: bufio.NewReaderSize(bytes.NewReader(in), 16), closer: io.NopCloser(nil),
		cancel: func(error) {}}
	var buf bytes.Buffer
	err = tr.run(up, &buf)
	return buf.Bytes(), err
}

// checkSamePaths fails unless the fast path and the decoding path translate in identically.
func checkSamePaths(t testing.TB, in []byte) {
	t.Helper()
	for _, includeUsage := range []bool{false, true} {
		want, wantErr := translateAll(t, in, includeUsage, true)
		got, gotErr := translateAll(t, in, includeUsage, false)
		if !bytes.Equal(got, want) {
			t.Fatalf("input %q (include_usage %v):\nfast path wrote\n%s\ndecoding path wrote\n%s", in, includeUsage, got, want)
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("input %q: fast path ended with %v, decoding path with %v", in, gotErr, wantErr)
		}
	}
}

// textEvent is an event with one candidate whose content is parts (a JSON array).
func textEvent(index, parts, more string) string {
	return "data: {\"candidates\":[{\"content\":{\"parts\":" + parts + ",\"role\":\"model\"},\"index\":" + index + more + "}]}\r\n\r\n"
}

// fastParts are parts arrays in every shape the fast path takes or refuses.
var fastParts = []string{
	`[{"text":"plain"}]`,
	`[{"text":"line\nbreak \"quoted\" back\\slash\ttab \/ slash"}]`,
	`[{"text":"caf\u00e9 \u4e2d \ud83d\ude00 \ud83d lone \u0000 \u001f \u007f"}]`,
	`[{"text":"<b> & </b> \u003c \u0026 \u0027"}]`,
	"[{\"text\":\"raw caf\u00e9 \u2028 \u2029 \U0001F600 bad \xff\xfe cut \xe4\xb8\"}]",
	`[{"text":"split \ud83d"},{"text":"\ude00 pair"}]`,
	`[{"text":"a"},{"text":"b","thought":false},{"text":"hidden","thought":true},{"thoughtSignature":"c2ln"},{}]`,
	`[{"text":""}]`, `[]`, `null`, `[null]`, `[{"text":null}]`, `[{"text":5}]`, `[{"text":"a","text":"b"}]`,
	`[{"Text":"folded"}]`, `[{"text":"x","thought":null}]`, `[{"text":"x","thought":1}]`, `[{"text":"x","thought":true,"thought":false}]`,
	`[{"text":"x","inlineData":{"mimeType":"image/png","data":"AA=="}}]`, `[{"functionCall":{"name":"f","args":{"a":1}}}]`,
	`[{"text":"x"},{"functionCall":{"name":"f"}}]`, `[{"fileData":null}]`, `[{"text":"x","extra":{"nested":[1,{"a":"b"}]}}]`, `"parts"`,
}

// fastEvents are whole events in the shapes the parts cases above do not vary.
var fastEvents = []string{
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"no CR\"}]},\"index\":0}]}\n\n",
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"spaced\"}],\"role\": \"model\"},\"index\": 0}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"index\":1},{\"content\":{\"parts\":[{\"text\":\"y\"}]},\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"index\":0},{\"index\":1},{\"index\":2},{\"index\":3},{\"index\":4}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"index\":0,\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2,\"totalTokenCount\":5,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":3}]}}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"thoughtsTokenCount\":7}}\n\n",
	"data: {\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"finishReason\":\"\",\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"finishReason\":\"ST\\u004fP\",\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"finishReason\":\"bad \xff\",\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"finishReason\":null,\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"finishReason\":\"STOP\",\"finishReason\":\"\",\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"index\":1.5}]}\n\n",
	"data: {\"candidates\":[{\"index\":\"0\"}]}\n\n",
	"data: {\"candidates\":[{\"index\":-3}]}\n\n",
	"data: {\"candidates\":[{\"index\":0,\"index\":1}]}\n\n",
	"data: {\"candidates\":[{\"content\":null,\"index\":0}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}],\"parts\":[{\"text\":\"b\"}]}}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"Parts\":[{\"text\":\"folded\"}]}}]}\n\n",
	"data: {\"candidates\":[{\"content\":{\"role\":\"model\"},\"safetyRatings\":[{\"category\":\"X\",\"probability\":\"NEGLIGIBLE\"}]}]}\n\n",
	"data: {\"candidates\":[null]}\n\n",
	"data: {\"candidates\":[5]}\n\n",
	"data: {\"candidates\":null}\n\n",
	"data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":4}}\n\n",
	"data: {\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":9}}\n\n",
	"data: {\"usageMetadata\":{\"promptTokenCount\":4.0}}\n\n",
	"data: {\"usageMetadata\":{\"promptTokenCount\":\"4\"}}\n\n",
	"data: {\"usageMetadata\":{\"promptTokenCount\":4,\"promptTokenCount\":5}}\n\n",
	"data: {\"usageMetadata\":{\"PromptTokenCount\":4}}\n\n",
	"data: {\"usageMetadata\":{\"promptTokenCount\":99999999999999999999}}\n\n",
	"data: {\"usageMetadata\":null}\n\n",
	"data: {\"candidates\":[{\"index\":0}],\"candidates\":[{\"index\":1}]}\n\n",
	"data: {\"Candidates\":[{\"index\":0}]}\n\n",
	"data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n",
	"data: {\"candidates\":[{\"index\":0}],\"promptFeedback\":null}\n\n",
	"data: {\"candidates\":[{\"index\":0}],\"error\":null}\n\n",
	"data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\n\n",
	"data: {\"candidates\":[{\"index\":0}],\"modelVersion\":\"m\",\"responseId\":\"r\",\"extra\":{\"error\":5}}\n\n",
	"data: {\"candidates\":[{\"index\":0}]} x\n\n",
	"data: {\"candidates\":[{\"index\":0,\ndata: \"content\":{\"parts\":[{\"text\":\"multi-line\"}]}}]}\n\n",
	"data: {\"candidates\":[{\"index\":0,\"deep\":" + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + "}]}\n\n",
	"data: {\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"" + strings.Repeat("long ", 20000) + "\"}]}}]}\n\n",
	"data: [1]\n\n", "data: null\n\n", "data: {}\n\n", "data: not json\n\n",
}

// finalEvent finishes choice 0 with usage, so that a stream can end cleanly.
const finalEvent = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"end\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":3,\"totalTokenCount\":5}}\r\n\r\n"

// callEvent calls a function on choice 0, so later finishes read tool_calls.
const callEvent = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}}]},\"index\":0}]}\n\n"

// TestFastPathMatchesDecoding holds the fast path to the decoding path's exact bytes on the stream
// fixture, the benchmark stream and every case above, alone, twice (role chunks only once) and in
// complete streams.
func TestFastPathMatchesDecoding(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "stream", "text_and_tool", "gemini_stream.sse"))
	if err != nil {
		t.Fatal(err)
	}
	checkSamePaths(t, golden)
	checkSamePaths(t, benchStream())
	events := fastEvents
	for _, parts := range fastParts {
		for _, index := range []string{"0", "1"} {
			events = append(events, textEvent(index, parts, ""), textEvent(index, parts, `,"finishReason":"STOP"`))
		}
	}
	for _, ev := range events {
		checkSamePaths(t, []byte(ev))
		checkSamePaths(t, []byte(ev+ev+finalEvent))
		checkSamePaths(t, []byte(callEvent+ev+finalEvent+ev))
		checkSamePaths(t, []byte(strings.TrimSuffix(ev, "\n")))
	}
}

// TestFastPathTakesHotEvents checks that the events of a normal stream do take the fast path, escapes,
// non-ASCII text, thoughts and usage included, so the comparison above is not vacuous.
func TestFastPathTakesHotEvents(t *testing.T) {
	hot := []string{
		strings.TrimPrefix(strings.TrimSpace(benchEvent("word ")), "data: "),
		strings.TrimPrefix(strings.TrimSpace(benchLast("end")), "data: "),
		`{"candidates":[{"content":{"parts":[{"text":"line\nbreak \"q\" \u00e9 \ud83d\ude00 <b> \u0027"}],"role":"model"},"index":0}]}`,
		"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"caf\u00e9 \U0001F600\"}]}}]}",
		`{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"a","thoughtSignature":"c2ln"}]},"index":0}],"usageMetadata":{"promptTokenCount":9,"promptTokensDetails":[{"modality":"TEXT","tokenCount":9}]}}`,
	}
	for _, data := range hot {
		tr := &streamTranslator{p: benchProvider(t), id: "chatcmpl-x", model: "m", choices: map[int]*choiceState{}}
		if ok, err := tr.fastEvent([]byte(data), io.Discard); !ok || err != nil {
			t.Errorf("fast path refused %s (%v)", data, err)
		}
	}
}
