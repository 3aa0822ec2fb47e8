// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	cfg, err := LoadConfigFile(filepath.Join("testdata", "secrets_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseFernetKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Encrypt([]byte("decrypted-secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{
		Config:        cfg,
		EncryptionKey: specSecret,
		Getenv: func(name string) (string, bool) {
			v, ok := map[string]string{"GROQ_API_KEY": "gsk_env", "EMPTY": ""}[name]
			return v, ok
		},
		Vaults: map[string]*Vault{},
	}
	tests := []struct {
		name    string
		ref     string
		want    string
		wantErr error
	}{
		{name: "config string", ref: "config:api_keys.groq", want: "gsk_test"},
		{name: "config number kept as written", ref: "config:numbers.port", want: "6379"},
		{name: "config float", ref: "config:numbers.ratio", want: "0.5"},
		{name: "config object as json", ref: "config:nested.obj", want: `{"a":1}`},
		{name: "config bool as json", ref: "config:flag", want: "true"},
		{name: "config null", ref: "config:empty", wantErr: ErrNotFound},
		{name: "config missing", ref: "config:api_keys.mistral", wantErr: ErrNotFound},
		{name: "config through scalar", ref: "config:api_keys.groq.x", wantErr: ErrNotFound},
		{name: "env", ref: "env:GROQ_API_KEY", want: "gsk_env"},
		{name: "env set but empty", ref: "env:EMPTY", want: ""},
		{name: "env unset", ref: "env:NOPE", wantErr: ErrNotFound},
		{name: "literal", ref: "literal:x:y", want: "x:y"},
		{name: "encrypted", ref: "encrypted:" + tok, want: "decrypted-secret"},
		{name: "encrypted tampered", ref: "encrypted:" + tok[:len(tok)-6] + "AAAA==", wantErr: ErrInvalidRef},
		{name: "plain unchanged", ref: "Bearer config:api_keys.groq", want: "Bearer config:api_keys.groq"},
		{name: "no prefix unchanged", ref: "http://localhost:8000", want: "http://localhost:8000"},
		{name: "unknown vault instance", ref: "vault:nope:secret/x#k", wantErr: ErrInvalidRef},
		{name: "vault url without instances", ref: "vault://secret/x#k", wantErr: ErrInvalidRef},
		{name: "bad ref", ref: "vault:x", wantErr: ErrInvalidRef},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "gsk_") || strings.Contains(err.Error(), "decrypted-secret") {
					t.Fatalf("error leaks a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tc.want {
				t.Fatalf("got %q, want %q", got.Reveal(), tc.want)
			}
		})
	}
}

func TestResolveWithoutBackends(t *testing.T) {
	r := &Resolver{}
	tests := []struct {
		name string
		ref  string
	}{
		{"config without config file", "config:api_keys.groq"},
		{"encrypted without key", "encrypted:gAAAA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Resolve(context.Background(), tc.ref); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
	}
	t.Run("env defaults to the process environment", func(t *testing.T) {
		t.Setenv("FD2_SECRETS_TEST", "from-os")
		v, err := r.Resolve(context.Background(), "env:FD2_SECRETS_TEST")
		if err != nil || v.Reveal() != "from-os" {
			t.Fatalf("got %q, %v", v.Reveal(), err)
		}
	})
}

func TestResolverEncryptRoundTrip(t *testing.T) {
	r := &Resolver{EncryptionKey: "a passphrase, not a key"}
	stored, err := r.Encrypt("sk-live-123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "encrypted:") || strings.Contains(stored, "sk-live") {
		t.Fatalf("stored form %q", stored)
	}
	v, err := r.Resolve(context.Background(), stored)
	if err != nil || v.Reveal() != "sk-live-123" {
		t.Fatalf("Resolve = %q, %v", v.Reveal(), err)
	}
	fn := r.SecretFunc(context.Background())
	if s, err := fn(stored); err != nil || s != "sk-live-123" {
		t.Fatalf("SecretFunc = %q, %v", s, err)
	}
}

func TestVaultDefaultInstance(t *testing.T) {
	a, err := NewVault(VaultConfig{Name: "a", Address: "http://127.0.0.1:1", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewVault(VaultConfig{Name: "b", Address: "http://127.0.0.1:1", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Vaults: map[string]*Vault{"a": a, "b": b}}
	if _, err := r.Resolve(context.Background(), "vault://secret/x#k"); !errors.Is(err, ErrInvalidRef) {
		t.Fatalf("ambiguous default: err = %v", err)
	}
	// With a default named, the reference reaches Vault (nothing listens on port 1) and fails as unavailable.
	r.DefaultVault = "b"
	if _, err := r.Resolve(context.Background(), "vault://secret/x#k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("default b: err = %v", err)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"api_keys": {"groq": "gsk_leak"`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"missing", filepath.Join(dir, "nope.json")},
		{"invalid json", bad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfigFile(tc.path)
			if err == nil {
				t.Fatal("want error")
			}
			if strings.Contains(err.Error(), "gsk_leak") {
				t.Fatalf("error leaks file content: %v", err)
			}
		})
	}
}

func TestNewVaultValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     VaultConfig
		wantErr bool
	}{
		{name: "token", cfg: VaultConfig{Name: "v", Address: "http://127.0.0.1:8200", Token: "t"}},
		{name: "approle", cfg: VaultConfig{Name: "v", Address: "http://127.0.0.1:8200", RoleID: "r", SecretID: "s"}},
		{name: "kv1", cfg: VaultConfig{Name: "v", Address: "http://127.0.0.1:8200", Token: "t", KVVersion: 1}},
		{name: "no name", cfg: VaultConfig{Address: "http://x", Token: "t"}, wantErr: true},
		{name: "no address", cfg: VaultConfig{Name: "v", Token: "t"}, wantErr: true},
		{name: "no credentials", cfg: VaultConfig{Name: "v", Address: "http://x"}, wantErr: true},
		{name: "approle without secret id", cfg: VaultConfig{Name: "v", Address: "http://x", RoleID: "r"}, wantErr: true},
		{name: "kv3", cfg: VaultConfig{Name: "v", Address: "http://x", Token: "t", KVVersion: 3}, wantErr: true},
		{name: "missing CA file", cfg: VaultConfig{Name: "v", Address: "https://x", Token: "t", CACert: "/nonexistent/ca.pem"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVault(tc.cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st := v.Status(); st.Name != "v" || st.Healthy || st.Cached != 0 {
				t.Fatalf("fresh status %+v", st)
			}
		})
	}
}

func TestVaultReadRejectsVersionOnKV1(t *testing.T) {
	v, err := NewVault(VaultConfig{Name: "v", Address: "http://127.0.0.1:1", Token: "t", KVVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Read(context.Background(), "x", "k", 2); !errors.Is(err, ErrInvalidRef) {
		t.Fatalf("err = %v", err)
	}
}
