// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"text/template"
)

// claimItems returns what must appear among the top-level $and items of any filter composed with claim:
// the claim itself, or its items when it is exactly {"$and":[…]}; ok is false when the claim is absent.
func claimItems(claim []byte) (items []any, ok bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(claim, &m) != nil || len(m) == 0 {
		return nil, false
	}
	if and, isAnd := m["$and"]; isAnd && len(m) == 1 {
		var list []any
		if t := bytes.TrimSpace(and); len(t) > 0 && t[0] == '[' && json.Unmarshal(and, &list) == nil {
			return list, true
		}
	}
	var v any
	_ = json.Unmarshal(claim, &v)
	return []any{v}, true
}

// checkClaimBinds fails unless filter is the claim or a top-level $and holding every claim item.
func checkClaimBinds(t *testing.T, filter, claim []byte) {
	t.Helper()
	want, ok := claimItems(claim)
	if !ok {
		return
	}
	var got map[string]any
	if err := json.Unmarshal(filter, &got); err != nil {
		t.Fatalf("filter %s is not an object: %v", filter, err)
	}
	var whole any
	_ = json.Unmarshal(claim, &whole)
	if reflect.DeepEqual(any(got), whole) {
		return
	}
	and, isList := got["$and"].([]any)
	if len(got) != 1 || !isList {
		t.Fatalf("filter %s is neither the claim %s nor a top-level $and", filter, claim)
	}
	for _, w := range want {
		found := false
		for _, item := range and {
			if reflect.DeepEqual(item, w) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("claim item %v missing from the top-level $and of %s", w, filter)
		}
	}
}

func FuzzComposeFilter(f *testing.F) {
	f.Add([]byte(`{"tenant":"globex"}`), []byte(`{"v":"internal"}`), []byte(`{"tenant":"acme"}`))
	f.Add([]byte(`{"$or":[{"tenant":"globex"}]}`), []byte(``), []byte(`{"tenant":"acme"}`))
	f.Add([]byte(`{"$and":[{"a":1}],"$and":[]}`), []byte(`null`), []byte(`{"$and":[{"tenant":"acme"},{"r":1}]}`))
	f.Add([]byte(`{}`), []byte(`{"$and":null}`), []byte(`{"tenant":"acme","tenant":"x"}`))
	f.Fuzz(func(t *testing.T, req, def, claim []byte) {
		out, err := ComposeFilter(req, def, claim)
		if err != nil {
			return
		}
		if out == nil {
			if items, ok := claimItems(claim); ok && len(items) > 0 {
				t.Fatalf("claim %s dropped", claim)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output %q is not JSON", out)
		}
		checkClaimBinds(t, out, claim)
	})
}

func FuzzRewrite(f *testing.F) {
	f.Add(uint8(0), []byte(`{"query":"q","filter":{"tenant":"globex"},"filter":{"$or":[{"a":1}]}}`), []byte(`{"tenant":"acme"}`))
	f.Add(uint8(1), []byte(`{"query":"q","configuration_names":["a","b"],"config":{"x":1}}`), []byte(`{"$and":[{"tenant":"acme"}]}`))
	f.Add(uint8(2), []byte(`{"messages":[{"role":"user","content":"hi"}],"rag_config":{"k":1},"filter":null}`), []byte(`{"tenant":"acme"}`))
	f.Add(uint8(0), []byte(`{"query":"q","config":{"security":{"enabled":false}}}`), []byte(``))
	f.Add(uint8(1), []byte(`{"filt\u0065r":{"tenant":"x"},"k":"5"}`), []byte(`{"tenant":"acme"}`))
	c := testConfig()
	c.DefaultMetadataFilter = json.RawMessage(`{"visibility":"internal"}`)
	s := mustService(f, c, "")
	ops := []Op{OpQuery, OpRetrieve, OpChat}
	f.Fuzz(func(t *testing.T, opn uint8, body, claim []byte) {
		op := ops[int(opn)%len(ops)]
		out, aerr := s.Rewrite(op, body, claim)
		if aerr != nil {
			if aerr.Status != 400 {
				t.Fatalf("status %d for a bad request", aerr.Status)
			}
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("output %q is not a JSON object: %v", out, err)
		}
		overrides := "config"
		if op == OpChat {
			overrides = "rag_config"
		}
		if hasMember(m[overrides], "security") {
			t.Fatalf("%s.security passed through: %s", overrides, out)
		}
		if _, ok := claimItems(claim); ok {
			if len(m["filter"]) == 0 {
				t.Fatalf("claim %s but no filter in %s", claim, out)
			}
			checkClaimBinds(t, m["filter"], claim)
		}
	})
}

// FuzzAugment feeds client chat bodies, OpenAI's and Anthropic's, to the question finder and both prompt
// injections: an accepted body comes out a JSON object whose prompt starts with the documents and whose
// messages are the client's, unchanged.
func FuzzAugment(f *testing.F) {
	f.Add(false, []byte(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"vpn?"}]}`))
	f.Add(false, []byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}],"messages":[]}`))
	f.Add(true, []byte(`{"system":"Be terse.","messages":[{"role":"user","content":"vpn?"}]}`))
	f.Add(true, []byte(`{"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"tool_result","content":"1"}]}]}`))
	f.Add(true, []byte(`{"system":null,"messages":null}`))
	tmpl := template.Must(template.New("t").Parse(`DOCS{{range .Documents}}|{{.Content}}{{with .Metadata.k}}({{.}}){{end}}{{end}}`))
	srcs := []Source{{Content: "doc", Metadata: json.RawMessage(`{"k":"v"}`)}, {Content: "other", Metadata: json.RawMessage(`7`)}}
	const rendered = "DOCS|doc(v)|other"
	f.Fuzz(func(t *testing.T, messages bool, body []byte) {
		query, _ := LastUserMessage(body)
		augment := Augment
		if messages {
			augment = AugmentMessages
		}
		out, err := augment(body, query, srcs, tmpl)
		if err != nil {
			return
		}
		var in, got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output %q is not a JSON object: %v", out, err)
		}
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		if messages {
			var sys []json.RawMessage
			var first struct{ Type, Text string }
			if json.Unmarshal(got["system"], &sys) != nil || len(sys) == 0 || json.Unmarshal(sys[0], &first) != nil ||
				first.Type != "text" || first.Text != rendered {
				t.Fatalf("system %s does not start with the documents", got["system"])
			}
			if !jsonSame(in["messages"], got["messages"]) {
				t.Fatalf("messages changed: %s → %s", in["messages"], got["messages"])
			}
			return
		}
		var msgs []json.RawMessage
		if err := json.Unmarshal(got["messages"], &msgs); err != nil || len(msgs) == 0 {
			t.Fatalf("messages %s", got["messages"])
		}
		var first struct{ Role, Content string }
		if json.Unmarshal(msgs[0], &first) != nil || first.Role != "system" || first.Content != rendered {
			t.Fatalf("first message %s is not the documents", msgs[0])
		}
		var orig []json.RawMessage
		_ = json.Unmarshal(in["messages"], &orig)
		rest, _ := json.Marshal(msgs[1:])
		was, _ := json.Marshal(append([]json.RawMessage{}, orig...)) // absent or null: no messages
		if !jsonSame(was, rest) {
			t.Fatalf("messages changed: %s → %s", was, rest)
		}
	})
}

// jsonSame reports whether two JSON texts hold the same value (absent and null alike).
func jsonSame(a, b []byte) bool {
	var x, y any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}
