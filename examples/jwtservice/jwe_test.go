// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package jwtservice

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// decryptJWE is an independent compact-JWE decrypter for "dir" + AES-GCM (RFC 7516 §5.2), with DEF
// decompression. It returns the protected header and the plaintext.
func decryptJWE(tok string, key []byte) (map[string]any, []byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 5 {
		return nil, nil, fmt.Errorf("JWE has %d parts, want 5", len(parts))
	}
	if parts[1] != "" {
		return nil, nil, fmt.Errorf("encrypted key %q, want empty for dir", parts[1])
	}
	var dec [5][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return nil, nil, fmt.Errorf("part %d: %w", i, err)
		}
		dec[i] = b
	}
	var hdr map[string]any
	if err := json.Unmarshal(dec[0], &hdr); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCMWithNonceSize(block, len(dec[2]))
	if err != nil {
		return nil, nil, err
	}
	plain, err := aead.Open(nil, dec[2], append(dec[3], dec[4]...), []byte(parts[0]))
	if err != nil {
		return nil, nil, fmt.Errorf("opening: %w", err)
	}
	if hdr["zip"] == "DEF" {
		if plain, err = io.ReadAll(flate.NewReader(bytes.NewReader(plain))); err != nil {
			return nil, nil, fmt.Errorf("inflating: %w", err)
		}
	}
	return hdr, plain, nil
}

// jweCase is one /token request whose answer is JWE.
type jweCase struct {
	name       string
	body       string
	key        []byte
	wantHeader map[string]any
	wantClaims map[string]any
}

// keyFileCase is the corpus's JWE key file: a base64 key, DEF compression, no key claim (so no kid).
func keyFileCase(t *testing.T, c jwtCorpus) jweCase {
	key, err := base64.StdEncoding.DecodeString(c.jweKey)
	if err != nil {
		t.Fatal(err)
	}
	return jweCase{
		name:       c.jweKeyFile + " with DEF",
		body:       loginBody("api_key", `"`+c.jweKeyFile+`"`),
		key:        key,
		wantHeader: map[string]any{"alg": "dir", "enc": "A256GCM", "zip": "DEF"},
		wantClaims: c.jweWant,
	}
}

func TestInteropTokenJWEKeyFile(t *testing.T) {
	c := platformCorpus(t)
	checkJWE(t, newCorpusServer(t, c), []jweCase{keyFileCase(t, c)})
}

func TestTokenJWE(t *testing.T) {
	tests := []jweCase{
		{
			name:       "sas2py jwe-auth module",
			body:       loginBody("api_key_config", jweAuthConfig),
			key:        []byte("key-length-should-be-32-chars123"), // not base64, not hex: the raw bytes
			wantHeader: map[string]any{"alg": "dir", "enc": "A256GCM", "kid": "sas2py-jwe-consumer-key"},
			wantClaims: map[string]any{"key": "sas2py-jwe-consumer-key", "groq_api_key": "gsk_test_groq_key", "project": "sas2py"},
		},
		keyFileCase(t, ownCorpus),
		{
			name: "A128GCM with an env key",
			body: loginBody("api_key_config", `{"claims":{"static":{"key":"k128"}},
				"jwe_config":{"enabled":true,"encryption_key":"${FD2_TEST_JWE_KEY}","encryption":"A128GCM"}}`),
			key:        []byte("0123456789abcdef"),
			wantHeader: map[string]any{"alg": "dir", "enc": "A128GCM", "kid": "k128"},
			wantClaims: map[string]any{"key": "k128"},
		},
	}
	t.Setenv("FD2_TEST_JWE_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")))
	checkJWE(t, newTestServer(t), tests)
}

func checkJWE(t *testing.T, s *Server, tests []jweCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postToken(t, s, tc.body)
			if code != http.StatusOK {
				t.Fatalf("status = %d %v", code, out)
			}
			if out["token_type"] != "JWE" || out["encryption"] != tc.wantHeader["enc"] || out["note"] != jweNote {
				t.Errorf("answer metadata = %v", out)
			}
			for _, field := range []string{"access_token", "refresh_token"} {
				hdr, plain, err := decryptJWE(out[field].(string), tc.key)
				if err != nil {
					t.Fatalf("%s: %v", field, err)
				}
				if !reflect.DeepEqual(hdr, tc.wantHeader) {
					t.Errorf("%s header = %v, want %v", field, hdr, tc.wantHeader)
				}
				var inner map[string]string
				if err := json.Unmarshal(plain, &inner); err != nil || len(inner) != 1 {
					t.Fatalf("%s plaintext %q, want {\"jwt\":…}", field, plain)
				}
				claims := verifyJWS(t, inner["jwt"], DefaultSecret)
				if claims["sub"] != "admin" || claims["type"] != strings.TrimSuffix(field, "_token") {
					t.Errorf("%s inner sub/type = %v/%v", field, claims["sub"], claims["type"])
				}
				for k, v := range tc.wantClaims {
					if !reflect.DeepEqual(claims[k], v) {
						t.Errorf("%s claim %s = %#v, want %#v", field, k, claims[k], v)
					}
				}
			}
		})
	}
}

func TestTokenJWEErrors(t *testing.T) {
	s := newTestServer(t)
	cfg := func(jwe string) string {
		return loginBody("api_key_config", `{"claims":{"static":{"key":"k"}},"jwe_config":`+jwe+`}`)
	}
	tests := []struct {
		name string
		body string
		err  string
	}{
		{"no key", cfg(`{"enabled":true}`), "JWE encryption key not configured"},
		{"unset env var", cfg(`{"enabled":true,"encryption_key":"${FD2_TEST_UNSET_JWE_KEY}"}`), "JWE encryption key not configured"},
		{"valid base64 of the wrong length", cfg(`{"enabled":true,"encryption_key":"AAAA"}`),
			"JWE encryption failed: Invalid key size: expected 32 bytes for A256GCM, got 3 bytes"},
		// 64 hex digits are also valid base64 (48 bytes), so the hex step is never reached.
		{"hex is read as base64", cfg(`{"enabled":true,"encryption_key":"` + strings.Repeat("ab", 32) + `"}`),
			"JWE encryption failed: Invalid key size: expected 32 bytes for A256GCM, got 48 bytes"},
		{"unsupported enc", cfg(`{"enabled":true,"encryption_key":"x","encryption":"A512GCM"}`),
			"JWE encryption failed: Unsupported content encryption: A512GCM"},
		{"unsupported alg", cfg(`{"enabled":true,"encryption_key":"x","algorithm":"A256KW"}`),
			"JWE encryption failed: Unsupported key algorithm: A256KW"},
		{"unsupported compression", cfg(`{"enabled":true,"encryption_key":"x","compression":"GZIP"}`),
			"JWE encryption failed: Unsupported compression: GZIP"},
		{"CBC not implemented", cfg(`{"enabled":true,"encryption_key":"key-length-should-be-32-chars123","encryption":"A128CBC-HS256"}`),
			"JWE encryption failed: content encryption A128CBC-HS256 is not implemented by this fake"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postToken(t, s, tc.body)
			if code != http.StatusInternalServerError || out["error"] != tc.err {
				t.Errorf("got %d %v, want 500 {error: %q}", code, out, tc.err)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		code, out := postToken(t, s, cfg(`{"enabled":false,"encryption_key":"AAAA"}`))
		if code != http.StatusOK || out["token_type"] != nil {
			t.Errorf("got %d %v, want plain tokens", code, out)
		}
	})
}

func TestDeriveKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // hex
	}{
		// The two raw-fallback examples verified against Python in the spec (§4.3).
		{"raw: base64 padding error", "key-length-should-be-32-chars123", hex.EncodeToString([]byte("key-length-should-be-32-chars123"))},
		{"raw: one char over a quantum", "-secret-length-must-be-32-chars-", hex.EncodeToString([]byte("-secret-length-must-be-32-chars-"))},
		{"base64", jweExampleKey, "a40ae9aa2de529da9d04e02b3dbe65d3e84e3362d9497e750efb5ae08a220183"},
		{"base64 ignores non-alphabet chars", "pArp!qi3l-Kdq dBOArPb5l0+hOM2LZSX51Dvta4IoiAYM=", "a40ae9aa2de529da9d04e02b3dbe65d3e84e3362d9497e750efb5ae08a220183"},
		{"base64 padding ends the input", "QUI=x", "4142"},
		{"base64 ignores padding of a complete quantum", "QUJD==ignored", hex.EncodeToString([]byte("QUJD==ignored"))},
		{"base64 ignores early padding", "Q=UJD", "414243"},
		{"hex-looking but valid base64", "0a0b0c0d0e0f", "d1ad1bd1cd1dd1ed1f"},
		{"hex when base64 fails", "0a0b0c", "0a0b0c"},
		{"hex with whitespace", "0a 0b 0c", "0a0b0c"},
		{"non-ASCII is raw", "ключ", hex.EncodeToString([]byte("ключ"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(deriveKey(tc.in)); got != tc.want {
				t.Errorf("deriveKey(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
