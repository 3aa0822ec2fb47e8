// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"testing"
)

func TestTranslateResponse(t *testing.T) {
	const head = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,`
	const usage = `,"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39,"prompt_tokens_details":{"cached_tokens":10}}}`
	const msgHead = `{"id":"msg_1","type":"message","role":"assistant","model":"gpt-4o",`
	const msgUsage = `,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":9}}`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"text", head + `"message":{"role":"assistant","content":"Hello <b>","refusal":null},"logprobs":null,"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"text","text":"Hello <b>"}],"stop_reason":"end_turn"` + msgUsage},
		{"length", head + `"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}]` + usage,
			msgHead + `"content":[{"type":"text","text":"Hel"}],"stop_reason":"max_tokens"` + msgUsage},
		{"tool_calls", head + `"message":{"role":"assistant","content":null,"tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
			{"id":"call_2","type":"function","function":{"name":"broken","arguments":"{\"city\": "}},
			{"id":"call_3","type":"function","function":{"name":"noargs","arguments":""}},
			{"type":"function","function":{"name":"array","arguments":"[1]"}}]},"finish_reason":"tool_calls"}]` + usage,
			msgHead + `"content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
			{"type":"tool_use","id":"call_2","name":"broken","input":{}},
			{"type":"tool_use","id":"call_3","name":"noargs","input":{}},
			{"type":"tool_use","id":"toolu_1_3","name":"array","input":{}}],"stop_reason":"tool_use"` + msgUsage},
		{"text_and_tools_stop", head + `"message":{"role":"assistant","content":"Checking.","tool_calls":[
			{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"c","name":"f","input":{}}],"stop_reason":"tool_use"` + msgUsage},
		{"reasoning", head + `"message":{"role":"assistant","content":"42","reasoning_content":"Let me think."},"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"thinking","thinking":"Let me think.","signature":""},{"type":"text","text":"42"}],"stop_reason":"end_turn"` + msgUsage},
		{"reasoning_field", head + `"message":{"role":"assistant","content":"42","reasoning":"Hmm."},"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"thinking","thinking":"Hmm.","signature":""},{"type":"text","text":"42"}],"stop_reason":"end_turn"` + msgUsage},
		{"refusal", head + `"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"text","text":"I can't help with that."}],"stop_reason":"refusal"` + msgUsage},
		{"content_filter", head + `"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]` + usage,
			msgHead + `"content":[],"stop_reason":"refusal"` + msgUsage},
		{"content_parts", head + `"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}]` + usage,
			msgHead + `"content":[{"type":"text","text":"ab"}],"stop_reason":"end_turn"` + msgUsage},
		{"no_usage", head + `"message":{"role":"assistant","content":"Hello world"},"finish_reason":"stop"}]}`,
			msgHead + `"content":[{"type":"text","text":"Hello world"}],"stop_reason":"end_turn","stop_sequence":null,` +
				`"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := translateResponse([]byte(tc.in), "msg_1", "gpt-4o", func() int64 { return 7 })
			if err != nil {
				t.Fatal(err)
			}
			if g, w := normJSON(t, got), normJSON(t, []byte(tc.want)); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
	for _, bad := range []string{`{"choices":[]}`, `not json`, `{"choices":[{"message":{"content":5}}]}`} {
		if _, err := translateResponse([]byte(bad), "msg_1", "m", func() int64 { return 0 }); err == nil {
			t.Errorf("%s: translated, want an error", bad)
		}
	}
}
