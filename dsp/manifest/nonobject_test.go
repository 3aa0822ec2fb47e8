// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// TestNonObjectDocuments: a manifest file holding null (or any JSON that is not an object) once left the
// resolver's document map nil and env.go wrote into it: a panic that took the whole process down (issue 12
// item 1). Every such document must be ErrInvalid, from both entry points, with no panic.
func TestNonObjectDocuments(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{name: "null", doc: "null"},
		{name: "null with space", doc: " \n null \n"},
		{name: "array", doc: "[]"},
		{name: "string", doc: `"x"`},
		{name: "number", doc: "1"},
		{name: "boolean", doc: "true"},
		{name: "empty", doc: ""},
		{name: "object then garbage", doc: `{"project_id":"p","modules":[]} {"project_id":"q"}`},
	}
	opts := []struct {
		name string
		env  manifest.EnvOptions
	}{
		{name: "own environment", env: manifest.EnvOptions{Getenv: noEnv}},
		// The crash needed an environment override: that branch wrote doc["environment"].
		{name: "environment override", env: manifest.EnvOptions{Environment: "staging", Getenv: noEnv}},
		{name: "secret manager", env: manifest.EnvOptions{Environment: "staging", Getenv: noEnv,
			Secret: func(ref string) (string, error) { return "s", nil }}},
	}
	for _, tc := range tests {
		for _, o := range opts {
			t.Run(tc.name+"/ResolveEnv/"+o.name, func(t *testing.T) {
				out, err := manifest.ResolveEnv([]byte(tc.doc), o.env)
				if !errors.Is(err, manifest.ErrInvalid) {
					t.Fatalf("ResolveEnv(%q) = %q, %v; want an error wrapping ErrInvalid", tc.doc, out, err)
				}
			})
		}
		t.Run(tc.name+"/Decode", func(t *testing.T) {
			m, err := manifest.Decode([]byte(tc.doc))
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Fatalf("Decode(%q) = %+v, %v; want an error wrapping ErrInvalid", tc.doc, m, err)
			}
		})
	}
	// The message says what is wrong rather than listing every missing field of an empty manifest.
	_, err := manifest.Decode([]byte("null"))
	if err == nil || !strings.Contains(err.Error(), "JSON object") {
		t.Errorf("Decode(null) error = %v, want it to say a manifest is a JSON object", err)
	}
}

// TestValidationProblems: every problem is listed on its own, with its place, for the admin API.
func TestValidationProblems(t *testing.T) {
	_, err := manifest.Decode([]byte(`{"project_id":"p","modules":[
{"module_type":"monitoring","name":"mon","config":{}},
{"module_type":"apisix_gateway","name":"api-gateway","config":{}},
{"module_type":"monitoring","name":"mon","config":{}}]}`))
	var ve *manifest.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, manifest.ErrInvalid) {
		t.Fatalf("Decode error = %v, want a *ValidationError wrapping ErrInvalid", err)
	}
	want := []string{`modules[1] (api-gateway): unknown module_type "apisix_gateway"`, `modules[2]: duplicate module name "mon"`}
	if len(ve.Problems) != len(want) || ve.Problems[0] != want[0] || ve.Problems[1] != want[1] {
		t.Fatalf("problems = %q, want %q", ve.Problems, want)
	}
}
