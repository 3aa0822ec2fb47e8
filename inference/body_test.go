// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"errors"
	"testing"
)

func TestSetModel(t *testing.T) {
	tests := []struct {
		name, body, model, want string
		wantErr                 error
	}{
		{"replaces, keeps everything else byte for byte",
			`{ "temperature": 0.70000000000000001, "model" : "a", "x_vendor": {"model": "keep"}, "n":1 }`, "b",
			`{ "temperature": 0.70000000000000001, "model" : "b", "x_vendor": {"model": "keep"}, "n":1 }`, nil},
		{"adds when missing", `{"messages":[]}`, "m", `{"messages":[],"model":"m"}`, nil},
		{"escapes", `{"model":"a"}`, `we"ird`, `{"model":"we\"ird"}`, nil},
		{"invalid JSON", `{"model":`, "m", "", ErrInvalidJSON},
		{"not an object", `["model"]`, "m", "", ErrInvalidJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetModel([]byte(tc.body), tc.model)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestGetString(t *testing.T) {
	tests := []struct {
		name, body, key, want string
	}{
		{"top-level string", `{"model":"gpt-4o","user":"u"}`, "model", "gpt-4o"},
		{"escaped", `{"model":"a\"b\u00e9"}`, "model", `a"bé`},
		{"not nested", `{"x":{"model":"inner"}}`, "model", ""},
		{"not a string", `{"model":3}`, "model", ""},
		{"dotted key is literal", `{"a.b":"v","a":{"b":"w"}}`, "a.b", "v"},
		{"invalid body", `nope`, "model", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GetString([]byte(tc.body), tc.key); got != tc.want {
				t.Errorf("GetString = %q, want %q", got, tc.want)
			}
		})
	}
}
