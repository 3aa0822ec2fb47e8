// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package vault_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/secrets"
)

func (e *testEnv) testResolver(t *testing.T) {
	ctx := context.Background()
	v, _ := e.newVault(t, secrets.VaultConfig{Name: "dev-vault", Token: e.root})
	r := &secrets.Resolver{Vaults: map[string]*secrets.Vault{"dev-vault": v}}
	tests := []struct {
		name, ref, want string
		wantErr         error
	}{
		{name: "instance form", ref: "vault:dev-vault:secret/groq#api_key", want: groqV2},
		{name: "instance form, version", ref: "vault:dev-vault:secret/groq#api_key@1", want: groqV1},
		{name: "path relative to the mount", ref: "vault:dev-vault:groq#org", want: "dsp"},
		{name: "only key", ref: "vault:dev-vault:secret/single", want: singleVal},
		{name: "seed url form", ref: "vault://secret/groq#api_key", want: groqV2},
		{name: "unknown instance", ref: "vault:prod-vault:secret/groq#api_key", wantErr: secrets.ErrInvalidRef},
		{name: "missing", ref: "vault:dev-vault:secret/absent#k", wantErr: secrets.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(ctx, tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
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

// testSas2py reproduces the Control Tower's resolve_env=true on a sas2py-like manifest (spec §1.3).
func (e *testEnv) testSas2py(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "sas2py.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := e.newVault(t, secrets.VaultConfig{Name: "dev-vault", Token: e.root})
	vaults := map[string]*secrets.Vault{"dev-vault": v}
	getenv := func(string) (string, bool) { return "", false }

	t.Run("with secrets config", func(t *testing.T) {
		cfg, err := secrets.LoadConfigFile(filepath.Join("testdata", "secrets_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		r := &secrets.Resolver{Vaults: vaults, Config: cfg, Getenv: getenv}
		out, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: getenv, Secret: r.SecretFunc(ctx)})
		if err != nil {
			t.Fatal(err)
		}
		gw := gatewayConfig(t, out)
		checks := map[string]string{
			"upstream_url":  "http://localhost:8000/sas2py/convert",
			"Authorization": "Bearer gsk_test",
			"X-Vault-Groq":  groqV2,
		}
		headers := gw["headers"].(map[string]any)
		for k, want := range checks {
			got, _ := headers[k].(string)
			if k == "upstream_url" {
				got, _ = gw[k].(string)
			}
			if got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	})

	t.Run("secrets config missing fails the resolution", func(t *testing.T) {
		_, err := secrets.LoadConfigFile(filepath.Join(t.TempDir(), "secrets_config.json"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("LoadConfigFile on a missing file: %v", err)
		}
		r := &secrets.Resolver{Vaults: vaults, Getenv: getenv} // Config nil: the file was missing
		_, err = manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: getenv, Secret: r.SecretFunc(ctx)})
		if !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("err = %v, want the Control Tower's 500 case (ErrUnavailable)", err)
		}
	})

	t.Run("without a secret manager references stay literal", func(t *testing.T) {
		out, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: getenv})
		if err != nil {
			t.Fatal(err)
		}
		headers := gatewayConfig(t, out)["headers"].(map[string]any)
		if got := headers["Authorization"]; got != "Bearer config:api_keys.groq" {
			t.Fatalf("Authorization = %q", got)
		}
	})
}

func gatewayConfig(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m struct {
		Modules []struct {
			Name   string         `json:"name"`
			Config map[string]any `json:"config"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	for _, mod := range m.Modules {
		if mod.Name == "sas2py-api" {
			return mod.Config
		}
	}
	t.Fatal("sas2py-api module missing from the resolved manifest")
	return nil
}
