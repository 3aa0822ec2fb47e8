// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"errors"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr error
	}{
		{name: "vault key", in: "vault:dev-vault:secret/groq#api_key", want: Ref{Kind: KindVault, Instance: "dev-vault", Path: "secret/groq", Key: "api_key"}},
		{name: "vault key version", in: "vault:v:app/db#password@3", want: Ref{Kind: KindVault, Instance: "v", Path: "app/db", Key: "password", Version: 3}},
		{name: "vault version no key", in: "vault:v:app/db@2", want: Ref{Kind: KindVault, Instance: "v", Path: "app/db", Version: 2}},
		{name: "vault no key", in: "vault:v:/app/db/", want: Ref{Kind: KindVault, Instance: "v", Path: "app/db"}},
		{name: "vault key with at sign", in: "vault:v:app#user@example", want: Ref{Kind: KindVault, Instance: "v", Path: "app", Key: "user@example"}},
		{name: "vault url form", in: "vault://secret/groq#api_key", want: Ref{Kind: KindVault, Mount: "secret", Path: "groq", Key: "api_key"}},
		{name: "vault url deep", in: "vault://kv/a/b#k@4", want: Ref{Kind: KindVault, Mount: "kv", Path: "a/b", Key: "k", Version: 4}},
		{name: "vault missing path", in: "vault:v:", wantErr: ErrInvalidRef},
		{name: "vault missing instance", in: "vault::p#k", wantErr: ErrInvalidRef},
		{name: "vault no colon", in: "vault:only", wantErr: ErrInvalidRef},
		{name: "vault empty key", in: "vault:v:p#", wantErr: ErrInvalidRef},
		{name: "vault version zero", in: "vault:v:p#k@0", wantErr: ErrInvalidRef},
		{name: "vault url no path", in: "vault://secret", wantErr: ErrInvalidRef},
		{name: "config", in: "config:api_keys.groq", want: Ref{Kind: KindConfig, Path: "api_keys.groq"}},
		{name: "config empty", in: "config:", wantErr: ErrInvalidRef},
		{name: "config empty segment", in: "config:a..b", wantErr: ErrInvalidRef},
		{name: "env", in: "env:GROQ_API_KEY", want: Ref{Kind: KindEnv, Path: "GROQ_API_KEY"}},
		{name: "env empty", in: "env:", wantErr: ErrInvalidRef},
		{name: "encrypted", in: "encrypted:gAAAA", want: Ref{Kind: KindEncrypted, payload: "gAAAA"}},
		{name: "encrypted empty", in: "encrypted:", wantErr: ErrInvalidRef},
		{name: "literal", in: "literal:x:y", want: Ref{Kind: KindLiteral, payload: "x:y"}},
		{name: "literal empty", in: "literal:", want: Ref{Kind: KindLiteral}},
		{name: "plain", in: "Bearer config:api_keys.groq", want: Ref{Kind: KindPlain, payload: "Bearer config:api_keys.groq"}},
		{name: "url", in: "https://example.com", want: Ref{Kind: KindPlain, payload: "https://example.com"}},
		{name: "no colon", in: "hello", want: Ref{Kind: KindPlain, payload: "hello"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHasRef(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"vault:v:p#k", true},
		{"Bearer config:api_keys.groq", true},
		{"x env:HOME", true},
		{"encrypted:abc", true},
		{"literal:x", false},
		{"${environments.common.secrets.groq_api_key}", false},
		{"https://vault.example", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := HasRef(tc.in); got != tc.want {
				t.Fatalf("HasRef(%q) = %v", tc.in, got)
			}
		})
	}
}
