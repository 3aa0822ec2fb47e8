// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/dsp/source"
)

// TestEncryptionKeySource is issue 12 item 16: a manifest's vault module names where the Control Tower's
// ENCRYPTION_KEY comes from (encryption_key_source, default env:ENCRYPTION_KEY), and FD2 finds the key the
// same way; the dsp app's encryption_key still overrides it.
func TestEncryptionKeySource(t *testing.T) {
	const ctKey, otherKey = "control-tower passphrase", "some other passphrase"
	token, err := (&secrets.Resolver{EncryptionKey: ctKey}).Encrypt("gsk_decrypted_value_42")
	if err != nil {
		t.Fatal(err)
	}
	doc := func(keySource string) []byte {
		vault := `{"vault_instances":[]}`
		if keySource != "" {
			vault = fmt.Sprintf(`{"vault_instances":[],"encryption_key_source":%q}`, keySource)
		}
		return fmt.Appendf(nil, `{"project_id":"p","project_name":"P","modules":[
{"module_type":"vault","name":"vault-manager","config":%s},
{"module_type":"monitoring","name":"mon","config":{"api_key":%q}}]}`, vault, token)
	}
	tests := []struct {
		name      string
		appKey    string
		keySource string
		env       map[string]string
		wantErr   string // substring; "" means the value decrypts
	}{
		{name: "the manifest's source", keySource: "env:FD2_TEST_CT_KEY", env: map[string]string{"FD2_TEST_CT_KEY": ctKey}},
		{name: "the Control Tower's default source", env: map[string]string{"ENCRYPTION_KEY": ctKey}},
		{name: "a literal source", keySource: "literal:" + ctKey},
		{name: "the app's key overrides a wrong source", appKey: ctKey, keySource: "env:FD2_TEST_CT_KEY",
			env: map[string]string{"FD2_TEST_CT_KEY": otherKey}},
		{name: "a wrong app key overrides the right source", appKey: otherKey, keySource: "env:FD2_TEST_CT_KEY",
			env: map[string]string{"FD2_TEST_CT_KEY": ctKey}, wantErr: "encrypted"},
		{name: "an unset source is named", keySource: "env:FD2_TEST_UNSET_KEY", wantErr: "encryption_key_source env:FD2_TEST_UNSET_KEY"},
		{name: "an unset default is named", wantErr: "encryption_key_source env:ENCRYPTION_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"ENCRYPTION_KEY", "FD2_TEST_CT_KEY"} {
				t.Setenv(k, "") // restored when the test ends
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			a := &App{EncryptionKey: tc.appKey, logger: zap.NewNop()}
			store, err := a.newSecretStore(context.Background(), caddy.NewReplacer())
			if err != nil {
				t.Fatal(err)
			}
			f := &source.FileSource{Dir: t.TempDir(), Secrets: func(ctx context.Context, _ string, raw []byte) (func(string) (string, error), func() error) {
				return store.forManifest(ctx, t.TempDir(), raw)
			}}
			out, err := f.Resolve(context.Background(), "p", doc(tc.keySource))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), ctKey) || strings.Contains(err.Error(), otherKey) {
					t.Fatalf("the error holds a key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			m, err := manifest.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				APIKey string `json:"api_key"`
			}
			if err := m.Module("mon").DecodeConfig(&cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.APIKey != "gsk_decrypted_value_42" {
				t.Fatalf("api_key resolved to %q", cfg.APIKey)
			}
		})
	}
}

func TestParseCacheKey(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{name: "base64", in: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", ok: true},
		{name: "base64 url unpadded", in: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", ok: true},
		{name: "hex", in: strings.Repeat("ab", 32), ok: true},
		{name: "passphrase", in: "correct horse battery staple"},
		{name: "16 bytes", in: "MDEyMzQ1Njc4OWFiY2RlZg=="},
		{name: "empty after replacement", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parseCacheKey(tc.in)
			if tc.ok != (err == nil) || (tc.ok && len(k) != 32) {
				t.Fatalf("parseCacheKey(%q) = %d bytes, %v", tc.in, len(k), err)
			}
			if err != nil && tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("the error echoes the key: %v", err)
			}
		})
	}
}
