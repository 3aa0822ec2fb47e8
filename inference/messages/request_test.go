// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// normJSON re-encodes a JSON document with sorted keys, so documents compare by content.
func normJSON(t *testing.T, s []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(s, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func translateBody(body string, stream bool) ([]byte, error) {
	r, err := decodeRequest([]byte(body), true)
	if err != nil {
		return nil, err
	}
	return translateRequest(r, "gpt-provider", stream || r.Stream)
}

func TestTranslateRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"minimal", `{"model":"claude-x","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"gpt-provider","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`},
		{"params", `{"model":"m","max_tokens":5,"temperature":0.5,"top_p":0.9,"stop_sequences":["END","STOP"],
			"metadata":{"user_id":"u-1"},"top_k":null,"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"gpt-provider","max_tokens":5,"temperature":0.5,"top_p":0.9,"stop":["END","STOP"],"user":"u-1",
			"messages":[{"role":"user","content":"Hi"}]}`},
		{"stream", `{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"gpt-provider","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}`},
		{"system_string", `{"model":"m","system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"gpt-provider","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`},
		{"system_blocks", `{"model":"m","system":[{"type":"text","text":"One."},{"type":"text","text":"Two.","cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"gpt-provider","messages":[{"role":"system","content":"One.\n\nTwo."},{"role":"user","content":"Hi"}]}`},
		{"user_blocks", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"<a> & b","cache_control":{"type":"ephemeral"}},{"type":"text","text":"second"}]}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":[{"type":"text","text":"<a> & b"},{"type":"text","text":"second"}]}]}`},
		{"one_text_block", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"only"}]}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":"only"}]}`},
		{"images", `{"model":"m","messages":[{"role":"user","content":[
			{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
			{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
			{"type":"text","text":"What are these?"}]}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":[
			{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},
			{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
			{"type":"text","text":"What are these?"}]}]}`},
		{"pdf", `{"model":"m","messages":[{"role":"user","content":[
			{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"report.pdf"},
			{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},
			{"type":"text","text":"Summarize"}]}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":[
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"report.pdf"}},
			{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"document.pdf"}},
			{"type":"text","text":"Summarize"}]}]}`},
		{"tool_round_trip", `{"model":"m","max_tokens":100,
			"tools":[{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}},"cache_control":{"type":"ephemeral"}},
			         {"type":"custom","name":"get_time","input_schema":{"type":"object"}}],
			"tool_choice":{"type":"auto","disable_parallel_tool_use":true},
			"messages":[
			{"role":"user","content":"Weather and time in Paris?"},
			{"role":"assistant","content":[
				{"type":"thinking","thinking":"I should call both.","signature":"c2ln"},
				{"type":"redacted_thinking","data":"xyz"},
				{"type":"text","text":"Checking."},
				{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Paris" }},
				{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]},
			{"role":"user","content":[
				{"type":"text","text":"Also, be quick."},
				{"type":"tool_result","tool_use_id":"toolu_1","content":"18°C, sunny"},
				{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"14:00"},{"type":"text","text":"CET"}]}]}]}`,
			`{"model":"gpt-provider","max_tokens":100,
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
			         {"type":"function","function":{"name":"get_time","description":"","parameters":{"type":"object"}}}],
			"tool_choice":"auto","parallel_tool_calls":false,
			"messages":[
			{"role":"user","content":"Weather and time in Paris?"},
			{"role":"assistant","content":"Checking.","tool_calls":[
				{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"toolu_1","content":"18°C, sunny"},
			{"role":"tool","tool_call_id":"toolu_2","content":"14:00\nCET"},
			{"role":"user","content":"Also, be quick."}]}`},
		{"tool_result_error_and_image", `{"model":"m","messages":[
			{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"shot","input":null}]},
			{"role":"user","content":[
				{"type":"tool_result","tool_use_id":"t1","is_error":true,"content":"no display"},
				{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"see image"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]},
				{"type":"tool_result","tool_use_id":"t3"}]}]}`,
			`{"model":"gpt-provider","messages":[
			{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"shot","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"t1","content":"Error: no display"},
			{"role":"tool","tool_call_id":"t2","content":"see image"},
			{"role":"tool","tool_call_id":"t3","content":""},
			{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}}]}]}`},
		{"thinking_only_turn", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"}]},{"role":"user","content":"b"}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`},
		{"tool_choice_any", `{"model":"m","tool_choice":{"type":"any"},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","tool_choice":"required","messages":[{"role":"user","content":"a"}]}`},
		{"tool_choice_tool", `{"model":"m","tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"messages":[{"role":"user","content":"a"}]}`},
		{"tool_choice_none", `{"model":"m","tool_choice":{"type":"none","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","tool_choice":"none","messages":[{"role":"user","content":"a"}]}`},
		{"thinking_low", `{"model":"m","thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","reasoning_effort":"low","messages":[{"role":"user","content":"a"}]}`},
		{"thinking_medium", `{"model":"m","thinking":{"type":"enabled","budget_tokens":16384},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","reasoning_effort":"medium","messages":[{"role":"user","content":"a"}]}`},
		{"thinking_high", `{"model":"m","thinking":{"type":"enabled","budget_tokens":16385},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","reasoning_effort":"high","messages":[{"role":"user","content":"a"}]}`},
		{"thinking_disabled", `{"model":"m","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"a"}]}`,
			`{"model":"gpt-provider","messages":[{"role":"user","content":"a"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := translateBody(tc.in, false)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := normJSON(t, got), normJSON(t, []byte(tc.want)); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

// TestTranslateRequestGolden translates a Claude Code-shaped request (system blocks with cache_control,
// tools, a tool round trip with thinking) to testdata/request/claude_code.chat.json.
func TestTranslateRequestGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "request", "claude_code.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := translateBody(string(in), false)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "request", "claude_code.chat.json"), append(got, '\n'))
}

func TestTranslateRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, code, field string
	}{
		{"not_json", `{"model":`, codeInvalid, "JSON object"},
		{"array", `[]`, codeInvalid, "JSON object"},
		{"top_k", `{"model":"m","top_k":5,"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "top_k"},
		{"several_unknown", `{"model":"m","service_tier":"auto","container":"c","messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "service_tier"},
		{"mcp_servers", `{"model":"m","mcp_servers":[{"type":"url","url":"https://x"}],"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "mcp_servers"},
		{"context_management", `{"model":"m","context_management":{"edits":[]},"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "context_management"},
		{"metadata_extra", `{"model":"m","metadata":{"user_id":"u","tenant":"t"},"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "metadata.tenant"},
		{"no_messages", `{"model":"m","messages":[]}`, codeInvalid, "messages"},
		{"bad_role", `{"model":"m","messages":[{"role":"system","content":"a"}]}`, codeInvalid, "messages[0].role"},
		{"no_content", `{"model":"m","messages":[{"role":"user"}]}`, codeInvalid, "messages[0].content"},
		{"content_type", `{"model":"m","messages":[{"role":"user","content":5}]}`, codeInvalid, "messages[0].content"},
		{"wrong_type", `{"model":"m","max_tokens":"ten","messages":[{"role":"user","content":"a"}]}`, codeInvalid, "max_tokens"},
		{"server_tool", `{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}],"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "tools[0]: server tool \"web_search\""},
		{"bash_tool", `{"model":"m","tools":[{"name":"f","input_schema":{}},{"type":"bash_20250124","name":"bash"}],"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "tools[1]"},
		{"tool_unknown_field", `{"model":"m","tools":[{"name":"f","input_schema":{},"strict":true}],"messages":[{"role":"user","content":"a"}]}`, codeUnsupported, "tools[0].strict"},
		{"tool_no_schema", `{"model":"m","tools":[{"name":"f"}],"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "tools[0].input_schema"},
		{"tool_no_name", `{"model":"m","tools":[{"input_schema":{}}],"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "tools[0].name"},
		{"tool_choice_type", `{"model":"m","tool_choice":{"type":"whatever"},"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "tool_choice.type"},
		{"tool_choice_no_name", `{"model":"m","tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "tool_choice.name"},
		{"thinking_type", `{"model":"m","thinking":{"type":"maybe"},"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "thinking.type"},
		{"file_image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, codeUnsupported, "messages[0].content[0].source.type"},
		{"text_document", `{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}`, codeUnsupported, "messages[0].content[0].source"},
		{"document_citations", `{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"citations":{"enabled":true}}]}]}`, codeUnsupported, "messages[0].content[0].citations"},
		{"image_no_data", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]}`, codeInvalid, "messages[0].content[0].source"},
		{"search_result", `{"model":"m","messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[]}]}]}`, codeUnsupported, "messages[0].content[0].type"},
		{"server_tool_use", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]}`, codeUnsupported, "messages[1].content[0].type"},
		{"tool_use_in_user", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`, codeInvalid, "messages[0].content[0].type"},
		{"image_in_assistant", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}`, codeInvalid, "messages[0].content[0].type"},
		{"tool_use_no_id", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]}`, codeInvalid, "messages[0].content[0]"},
		{"tool_result_no_id", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, codeInvalid, "messages[0].content[0].tool_use_id"},
		{"tool_result_bad_block", `{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"search_result"}]}]}]}`, codeUnsupported, "messages[0].content[0].content[0].type"},
		{"system_bad_block", `{"model":"m","system":[{"type":"image"}],"messages":[{"role":"user","content":"a"}]}`, codeInvalid, "system[0].type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := translateBody(tc.in, false)
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a request error", err)
			}
			if re.code != tc.code || !strings.Contains(re.msg, tc.field) {
				t.Errorf("error %q (%s), want code %s naming %q", re.msg, re.code, tc.code, tc.field)
			}
		})
	}
}
