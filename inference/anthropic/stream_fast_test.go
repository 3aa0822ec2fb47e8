// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package anthropic

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// translateAll runs in through a stream reader to the end, with or without the fast path.
func translateAll(in []byte, includeUsage, noFast bool) (out []byte, err error, released bool) {
	tr := &translated{clientModel: "claude-test", includeUsage: includeUsage}
	ids := 0
	s := newStreamReader(io.NopCloser(bytes.NewReader(in)), func(error) { released = true }, tr, time.Unix(1_700_000_000, 0),
		func() string { ids++; return fmt.Sprintf("id%d", ids) })
	s.noFast = noFast
	out, err = io.ReadAll(s)
	return out, err, released
}

// checkSamePaths fails unless the fast path and the decoding path translate in identically.
func checkSamePaths(t *testing.T, in []byte) {
	t.Helper()
	for _, includeUsage := range []bool{false, true} {
		want, wantErr, wantReleased := translateAll(in, includeUsage, true)
		got, gotErr, gotReleased := translateAll(in, includeUsage, false)
		if !bytes.Equal(got, want) {
			t.Fatalf("input %q (include_usage %v):\nfast path wrote\n%s\ndecoding path wrote\n%s", in, includeUsage, got, want)
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || gotReleased != wantReleased {
			t.Fatalf("input %q: fast path ended with %v (released %v), decoding path with %v (released %v)",
				in, gotErr, gotReleased, wantErr, wantReleased)
		}
	}
}

// deltaEvent is a content_block_delta event with the given delta object, as Anthropic frames it.
func deltaEvent(index, delta string) string {
	return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":" + delta + "}\n\n"
}

// fastCases are content_block_delta events in every shape the fast path takes or refuses: escapes
// and text encoding/json rewrites, fields it must not ignore, duplicate and case-folded keys.
var fastCases = []string{
	`{"type":"text_delta","text":"plain"}`,
	`{"type":"text_delta","text":"line\nbreak \"quoted\" back\\slash\ttab \/ slash"}`,
	`{"type":"text_delta","text":"caf\u00e9 \u4e2d \ud83d\ude00 \ud83d lone \u0000 \u001f \u007f"}`,
	`{"type":"text_delta","text":"<b> & </b> \u003c \u0026"}`,
	"{\"type\":\"text_delta\",\"text\":\"raw caf\u00e9 \u2028 \u2029 \U0001F600 bad \xff\xfe cut \xe4\xb8\"}",
	`{"type":"text_delta","text":"\u2028\u2029\b\f\r"}`,
	`{"type":"text_delta","text":""}`,
	`{"type":"text_delta"}`,
	`{"type":"text_delta","text":null}`,
	`{"type":"text_delta","text":5}`,
	`{"type":"text_delta","text":"a","text":"b"}`,
	`{"type":"text_delta","Text":"folded"}`,
	`{"TYPE":"text_delta","text":"folded"}`,
	`{"type":"text_\u0064elta","text":"escaped type"}`,
	`{"type":"text_delta","text":"x","extra":{"nested":[1,2,{"a":"b"}]},"n":1.5}`,
	`{"type":"text_delta","text":"x","stop_reason":"end_turn"}`,
	`{"type":"text_delta","text":"x","stop_reason":7}`,
	`{"type":"text_delta","text":"x","partial_json":"{}"}`,
	`{"type":"thinking_delta","thinking":"hmm \n"}`,
	`{"type":"signature_delta","signature":"c2ln"}`,
	`{"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}`,
	`{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}`,
	`{"type":"input_json_delta","partial_json":""}`,
	`{"type":null,"text":"x"}`,
	`null`, `[]`, `"text_delta"`, `{}`,
}

// fastFrames are whole content_block_delta events the fast path sees differently from the delta.
var fastFrames = []string{
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"no event line\"}}\n\n",
	"data: {\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"type last\"},\"type\":\"content_block_delta\"}\n\n",
	"data:{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"no index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":1.0,\"delta\":{\"type\":\"text_delta\",\"text\":\"float index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":\"0\",\"delta\":{\"type\":\"text_delta\",\"text\":\"string index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":99999999999999999999,\"delta\":{\"type\":\"text_delta\",\"text\":\"huge index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":null,\"delta\":{\"type\":\"text_delta\",\"text\":\"null index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":null}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\"text\"}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"},\"delta\":{\"text\":\"b\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"type\":\"ping\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"dup type\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"usage\":{\"output_tokens\":\"x\"},\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"usage\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"Index\":2,\"delta\":{\"type\":\"text_delta\",\"text\":\"folded index\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"\\u0069ndex\":\"x\",\"delta\":{\"type\":\"text_delta\",\"text\":\"escaped key\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"ındex\":\"x\",\"delta\":{\"type\":\"text_delta\",\"text\":\"dotless i\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"trailing\"}} x\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\n\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"split\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\ndata: \"delta\":{\"type\":\"text_delta\",\"text\":\"multi-line\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"deep\":" + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) +
		",\"delta\":{\"type\":\"text_delta\",\"text\":\"too deep\"}}\n\n",
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + strings.Repeat("long ", 8000) + "\"}}\n\n",
	"data: {\"type\": \"ping\"}\n\n",
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"data: {\"type\":\"content_block_stop\",\"index\":\"x\"}\n\n",
	"data: {\"type\":\"ping\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
	"data: {\"type\":\"ping\",\"delta\":5}\n\n",
	"data: {\"type\":\"ping\",\"message\":5}\n\n",
	"data: {\"type\":\"ping\",\"extra\":{\"message\":5}}\n\n",
	"data: {\"type\":\"message_stop\",\"index\":0}\n\n",
}

// toolStart opens tool_use block 1, so input_json_delta events at index 1 are translated.
const toolStart = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n"

const msgStop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

// TestFastPathMatchesDecoding holds the fast path to the decoding path's exact bytes on the stream
// fixtures, the benchmark stream and every case above, each alone, in a complete stream and with no
// message_start (the id is then made by the first chunk).
func TestFastPathMatchesDecoding(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "stream", "anthropic.sse"))
	if err != nil {
		t.Fatal(err)
	}
	checkSamePaths(t, golden)
	checkSamePaths(t, benchStream())
	for _, sse := range []string{evStart + evText, evStart + evText + msgStop, strings.ReplaceAll(evStart+evText+msgStop, "\n", "\r\n")} {
		checkSamePaths(t, []byte(sse))
	}
	events := fastFrames
	for _, d := range fastCases {
		for _, index := range []string{"0", "1", "2"} {
			events = append(events, deltaEvent(index, d))
		}
	}
	for _, ev := range events {
		checkSamePaths(t, []byte(ev))
		checkSamePaths(t, []byte(evStart+toolStart+ev+ev+msgStop))
		checkSamePaths(t, []byte(toolStart+ev+"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\"}}\n\n"+ev+msgStop))
	}
}

// TestFastPathTakesHotEvents checks that the events of a normal stream do take the fast path, escapes
// and non-ASCII text included, so the comparison above is not vacuous.
func TestFastPathTakesHotEvents(t *testing.T) {
	hot := []string{`{"type": "ping"}`, `{"type":"content_block_stop","index":1}`}
	for _, d := range []string{
		`{"type":"text_delta","text":"plain"}`,
		`{"type":"text_delta","text":"line\nbreak \"quoted\" \u00e9 \ud83d\ude00 <b>"}`,
		"{\"type\":\"text_delta\",\"text\":\"caf\u00e9 \U0001F600\"}",
		`{"type":"input_json_delta","partial_json":"{\"city\": "}`,
		`{"type":"thinking_delta","thinking":"hmm"}`,
	} {
		hot = append(hot, `{"type":"content_block_delta","index":1,"delta":`+d+`}`)
	}
	for _, data := range hot {
		tr := &translated{clientModel: "claude-test"}
		s := newStreamReader(io.NopCloser(bytes.NewReader(nil)), func(error) {}, tr, time.Unix(0, 0), func() string { return "id" })
		s.toolIndex[1] = 0
		if !s.fastEvent([]byte(data)) {
			t.Errorf("fast path refused %s", data)
		}
	}
}
