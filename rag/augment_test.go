// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"strings"
	"testing"
	"text/template"
)

func TestLastUserMessage(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":"second"}]}`, "second", true},
		{`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}`, "q", true},
		{`{"messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"part two"}]}]}`, "part one\npart two", true},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, "", false},
		{`{"messages":[{"role":"user","content":"  "}]}`, "  ", false},
		{`{"messages":[{"role":"system","content":"s"}]}`, "", false},
		{`{"messages":[{"role":"user","content":"old"}],"messages":[{"role":"user","content":"new"}]}`, "new", true},
		{`{"messages":"x"}`, "", false},
		// Messages API: a tool-result turn is not the question; the user turn before it is.
		{`{"messages":[{"role":"user","content":"vpn?"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"42"}]}]}`, "vpn?", true},
		{`{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"42"},{"type":"text","text":"and now?"}]}]}`, "and now?", true},
		{`{"messages":[{"role":"user","content":[]}]}`, "", false},
		{`nope`, "", false},
	}
	for _, tt := range tests {
		got, ok := LastUserMessage([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %q %v, want %q %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAugment(t *testing.T) {
	srcs := []Source{{Content: "Acme VPN guide", Metadata: raw(`{"source":"vpn.md"}`), Score: 0.9}, {Content: "Holidays", Metadata: raw(`{}`), Score: 0.4}}
	body := `{"model":"gpt","stream":true,"temperature":0.2,"messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"vpn?"}]}`
	tmpl := template.Must(template.New("t").Parse(`Q={{.Query}}{{range .Documents}}|{{.Index}}:{{.Content}}:{{index .Metadata "source"}}:{{printf "%.1f" .Score}}{{end}}`))
	out, err := Augment([]byte(body), "vpn?", srcs, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"gpt","stream":true,"temperature":0.2,"messages":[
		{"role":"system","content":"Q=vpn?|1:Acme VPN guide:vpn.md:0.9|2:Holidays:<no value>:0.4"},
		{"role":"system","content":"Be terse."},{"role":"user","content":"vpn?"}]}`
	if !jsonEqual(t, out, want) {
		t.Fatalf("got %s", out)
	}
}

func TestAugmentMessages(t *testing.T) {
	srcs := []Source{{Content: "Acme VPN guide", Score: 0.9}}
	tmpl := template.Must(template.New("t").Parse(`Q={{.Query}}{{range .Documents}}|{{.Content}}{{end}}`))
	const ctx = `{"type":"text","text":"Q=vpn?|Acme VPN guide"}`
	tests := []struct{ name, body, want string }{
		{"no system", `{"model":"c","max_tokens":9,"messages":[{"role":"user","content":"vpn?"}]}`,
			`{"model":"c","max_tokens":9,"system":[` + ctx + `],"messages":[{"role":"user","content":"vpn?"}]}`},
		{"null system", `{"system":null,"messages":[]}`, `{"system":[` + ctx + `],"messages":[]}`},
		{"string system", `{"system":"Be terse.","messages":[]}`,
			`{"system":[` + ctx + `,{"type":"text","text":"Be terse."}],"messages":[]}`},
		{"empty string system", `{"system":"","messages":[]}`, `{"system":[` + ctx + `],"messages":[]}`},
		{"block system keeps its members", `{"system":[{"type":"text","text":"Be terse.","cache_control":{"type":"ephemeral"}}],"messages":[]}`,
			`{"system":[` + ctx + `,{"type":"text","text":"Be terse.","cache_control":{"type":"ephemeral"}}],"messages":[]}`},
	}
	for _, tt := range tests {
		out, err := AugmentMessages([]byte(tt.body), "vpn?", srcs, tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !jsonEqual(t, out, tt.want) {
			t.Errorf("%s: got %s", tt.name, out)
		}
	}
	for _, bad := range []string{`{"system":7,"messages":[]}`, `{"system":{"text":"x"}}`, `[]`, `nope`} {
		if out, err := AugmentMessages([]byte(bad), "q", srcs, tmpl); err == nil {
			t.Errorf("%s: no error, got %s", bad, out)
		}
	}
}

// TestAugmentMissingMetadataKey checks the README's advice for a key some documents lack.
func TestAugmentMissingMetadataKey(t *testing.T) {
	srcs := []Source{{Content: "a", Metadata: raw(`{"source":"a.md"}`)}, {Content: "b", Metadata: raw(`{}`)}, {Content: "c"}}
	tmpl := template.Must(template.New("t").Parse(`{{range .Documents}}[{{.Content}}{{with .Metadata.source}} ({{.}}){{end}}]{{end}}`))
	out, err := Augment([]byte(`{"messages":[{"role":"user","content":"q"}]}`), "q", srcs, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"messages":[{"role":"system","content":"[a (a.md)][b][c]"},{"role":"user","content":"q"}]}`; !jsonEqual(t, out, want) {
		t.Fatalf("got %s", out)
	}
}

func TestAugmentDefaultTemplate(t *testing.T) {
	r, err := NewRetriever(RetrieverConfig{URL: "http://rag/api/v1/retrieve", Configuration: "kb"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Augment([]byte(`{"messages":[{"role":"user","content":"q"}]}`), "q",
		[]Source{{Content: "Doc <one> & \"two\""}}, r.Template())
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 2 || b.Messages[0].Role != "system" || !strings.Contains(b.Messages[0].Content, "[1] Doc <one> & \"two\"") || b.Messages[1].Content != "q" {
		t.Fatalf("messages %+v", b.Messages)
	}
}

func TestAugmentErrors(t *testing.T) {
	tmpl := template.Must(template.New("t").Parse(`{{.Nope}}`))
	if _, err := Augment([]byte(`{"messages":[]}`), "q", nil, tmpl); err == nil {
		t.Error("a failing template must be an error")
	}
	ok := template.Must(template.New("t").Parse(`x`))
	for _, b := range []string{`nope`, `{"messages":"x"}`, `[]`} {
		if _, err := Augment([]byte(b), "q", nil, ok); err == nil {
			t.Errorf("%s: no error", b)
		}
	}
}
