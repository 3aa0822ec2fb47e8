// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fileSourceCase is one corpus manifest fetched through a FileSource.
type fileSourceCase struct {
	name        string
	id          string
	environment string
	want        []string // substrings of the resolved document
	wantEnv     string
}

func TestFileSourceResolvesFixtures(t *testing.T) {
	checkFileSource(t, testfixtures.Manifests(), map[string]string{
		"JWE_LAB_TRACING_PUBLIC_KEY": "pk-lab",
		"DIGEST_PROD_SIGNING_SECRET": "prod-digest",
	}, []fileSourceCase{
		{
			name:    "jwe_lab in its own environment",
			id:      "jwe_lab",
			want:    []string{`"service_url":"http://localhost:5000"`, `"http://localhost:8000/jwe_lab/v1/chat/completions"`, `"pk-lab"`},
			wantEnv: "development",
		},
		{
			name:        "doc-digest with an environment override",
			id:          "doc-digest",
			environment: "production",
			want:        []string{`https://tokens.corp.example`, `"prod-digest"`},
			wantEnv:     "production",
		},
		{
			name:    "codeconv keeps secret references literal without a secret manager",
			id:      "codeconv",
			want:    []string{`config:providers.corp_llm.api_key`, `"env:CODECONV_VAULT_ROLE_ID"`},
			wantEnv: "development",
		},
		{
			name:    "rag integration: flat environment keys, served under its stem",
			id:      "rag-kb-integration",
			want:    []string{`"service_url":"https://rag.corp.example"`, `"project_id":"ai-rag-platform"`},
			wantEnv: "production",
		},
	})
}

func TestInteropFileSourceResolvesFixtures(t *testing.T) {
	checkFileSource(t, testfixtures.PlatformManifests(t), map[string]string{
		"LANGFUSE_PUBLIC_KEY": "pk-test",
		"LANGFUSE_SECRET_KEY": "sk-test",
		"PROD_JWT_SECRET":     "prod-jwt",
	}, []fileSourceCase{
		{
			name:    "jwe_test in its own environment",
			id:      "jwe_test",
			want:    []string{`"service_url":"http://localhost:5000"`, `"http://localhost:8000/jwe_test/v1/chat/completions"`, `"pk-test"`},
			wantEnv: "development",
		},
		{
			name:        "langgraph-summarizer with an environment override",
			id:          "langgraph-summarizer",
			environment: "production",
			want:        []string{`https://jwt.example.com`, `"prod-jwt"`},
			wantEnv:     "production",
		},
		{
			name:    "sas2py keeps secret references literal without a secret manager",
			id:      "sas2py",
			want:    []string{`config:api_keys.groq`},
			wantEnv: "development",
		},
	})
}

func checkFileSource(t *testing.T, dir string, env map[string]string, tests []fileSourceCase) {
	t.Helper()
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &FileSource{Dir: dir, Env: manifest.EnvOptions{Environment: tc.environment, Getenv: getenv}}
			raw, err := fetchResolved(f, tc.id)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			s := string(raw)
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("resolved manifest lacks %s", w)
				}
			}
			for _, left := range []string{"${environment}", "${environments."} {
				if strings.Contains(s, left) {
					t.Errorf("resolved manifest still contains %s", left)
				}
			}
			m, err := manifest.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Environment != tc.wantEnv {
				t.Errorf("environment = %q, want %q", m.Environment, tc.wantEnv)
			}
			again, err := fetchResolved(f, tc.id)
			if err != nil {
				t.Fatalf("second Fetch: %v", err)
			}
			if manifest.Hash(again) != manifest.Hash(raw) {
				t.Error("resolution is not deterministic: the hash changed between two fetches")
			}
		})
	}
}

// fetchResolved is what the Resolver does with a file source: Fetch, then Resolve.
func fetchResolved(f *FileSource, id string) ([]byte, error) {
	raw, err := f.Fetch(context.Background(), id)
	if err != nil {
		return nil, err
	}
	return f.Resolve(context.Background(), id, raw)
}

func TestFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good.json", string(doc("good", "1")))
	write("notjson.json", "this is not json")
	// A file outside Dir that a traversal would reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.json"), doc("outside", "1"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		id      string
		wantErr error
	}{
		{name: "good", dir: dir, id: "good"},
		{name: "missing file", dir: dir, id: "nope", wantErr: ErrNotFound},
		{name: "path traversal", dir: dir, id: "../outside", wantErr: ErrNotFound},
		{name: "slash", dir: dir, id: "a/b", wantErr: ErrNotFound},
		{name: "empty id", dir: dir, id: "", wantErr: ErrNotFound},
		{name: "not json", dir: dir, id: "notjson", wantErr: manifest.ErrInvalid},
		{name: "missing directory", dir: filepath.Join(dir, "unmounted"), id: "good", wantErr: ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &FileSource{Dir: tc.dir}
			raw, err := fetchResolved(f, tc.id)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if _, err := manifest.Decode(raw); err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Fetch error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestFileSourceList(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.json", "a-b.json", "a.json", "readme.md", "bad id.json", ".hidden.json.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := (&FileSource{Dir: dir}).List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"a", "a-b", "b"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if _, err := (&FileSource{Dir: filepath.Join(dir, "missing")}).List(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("List of a missing directory: error = %v, want ErrUnavailable", err)
	}
}
