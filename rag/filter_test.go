// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// jsonEqual compares JSON texts by value.
func jsonEqual(t testing.TB, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestComposeFilter(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string // "" means nil
	}{
		{"none", nil, ""},
		{"all absent", []string{"", "null", "{}"}, ""},
		{"request only, unchanged", []string{`{"category": "x"}`}, `{"category": "x"}`},
		{"claim only, unchanged", []string{"", "", `{"tenant":"acme"}`}, `{"tenant":"acme"}`},
		{"single $and part unchanged", []string{`{"$and":[{"a":1},{"b":2}]}`}, `{"$and":[{"a":1},{"b":2}]}`},
		{"request and claim", []string{`{"category":"x"}`, "", `{"tenant":"acme"}`}, `{"$and":[{"category":"x"},{"tenant":"acme"}]}`},
		{"order kept", []string{`{"r":1}`, `{"d":2}`, `{"c":3}`}, `{"$and":[{"r":1},{"d":2},{"c":3}]}`},
		{"flattened", []string{`{"$and":[{"a":1},{"b":2}]}`, `{"d":2}`, `{"$and":[{"c":3}]}`}, `{"$and":[{"a":1},{"b":2},{"d":2},{"c":3}]}`},
		{"empty $and contributes nothing", []string{`{"$and":[]}`, `{"c":3}`, `{"d":4}`}, `{"$and":[{"c":3},{"d":4}]}`},
		{"$and beside another key is kept whole", []string{`{"$and":[{"a":1}],"b":2}`, `{"c":3}`}, `{"$and":[{"$and":[{"a":1}],"b":2},{"c":3}]}`},
		{"non-array $and is kept whole", []string{`{"$and":null}`, `{"c":3}`}, `{"$and":[{"$and":null},{"c":3}]}`},
		{"numbers kept verbatim", []string{`{"n":12345678901234567890}`, `{"m":1.50}`}, `{"$and":[{"n":12345678901234567890},{"m":1.50}]}`},
		// Attack cases: the claim is never replaced by a request key, never widened by $or.
		{"request overrides claim key", []string{`{"tenant":"globex"}`, "", `{"tenant":"acme"}`}, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`},
		{"$or widening", []string{`{"$or":[{"tenant":"globex"},{"tenant":"acme"}]}`, "", `{"tenant":"acme"}`}, `{"$and":[{"$or":[{"tenant":"globex"},{"tenant":"acme"}]},{"tenant":"acme"}]}`},
		{"request $and with claim lookalike", []string{`{"$and":[{"tenant":"globex"}]}`, `{"v":"internal"}`, `{"tenant":"acme"}`}, `{"$and":[{"tenant":"globex"},{"v":"internal"},{"tenant":"acme"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []json.RawMessage
			for _, p := range tt.parts {
				parts = append(parts, raw(p))
			}
			got, err := ComposeFilter(parts...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if got != nil {
					t.Fatalf("got %s, want nil", got)
				}
				return
			}
			if len(tt.parts) == 1 && string(got) != tt.want {
				t.Fatalf("a single part must be returned unchanged: got %s", got)
			}
			if !jsonEqual(t, got, tt.want) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// A part with duplicated $and keys is read as its last, as RAG2's Python reads it.
func TestComposeFilterDuplicateAndKeys(t *testing.T) {
	got, err := ComposeFilter(raw(`{"$and":[{"tenant":"acme"}],"$and":[{"tenant":"globex"}]}`), raw(`{"tenant":"acme"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, got, `{"$and":[{"tenant":"globex"},{"tenant":"acme"}]}`) {
		t.Fatalf("got %s", got)
	}
}

func TestComposeFilterInvalid(t *testing.T) {
	for _, parts := range [][]string{{`[1]`}, {`"tenant"`}, {`{"a":1}`, `5`}, {`{"a":`}, {`{"$and":[1]}`, `{"a":1}`}, {`{"a":1}`, "", `{"$and":["x"]}`}} {
		var ps []json.RawMessage
		for _, p := range parts {
			ps = append(ps, raw(p))
		}
		_, err := ComposeFilter(ps...)
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "invalid_filter" {
			t.Errorf("%v: %v, want 400 invalid_filter", parts, err)
		}
	}
}
