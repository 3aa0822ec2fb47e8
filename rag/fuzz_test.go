// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
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
