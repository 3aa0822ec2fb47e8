// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to an HS256 verifier and to the unverified readers. Whatever the
// input, nothing panics, every error wraps exactly one sentinel, and no error quotes the input.
func FuzzVerify(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	good := jtHS256(f, jtSas2pyClaims(jtNow))
	parts := strings.Split(good, ".")
	payload := parts[1]
	expired := jtSas2pyClaims(jtNow)
	expired["exp"] = jtNow.Add(-time.Hour).Unix()
	for _, seed := range []string{
		good,
		jtSas2pyPythonJWS,
		"",
		" ",
		".",
		"..",
		"...",
		"a.b.c",
		parts[0] + "." + parts[1],
		parts[0] + "." + parts[1] + ".",
		b64([]byte(`{"alg":"none"}`)) + "." + payload + ".",
		b64([]byte(`{"alg":"none"}`)) + "." + payload,
		b64([]byte(`{"alg":"RS256"}`)) + "." + payload + "." + parts[2],
		b64([]byte(`{"alg":"HS256","crit":["b64"],"b64":false}`)) + "." + payload + "." + parts[2],
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`{"exp":"x","nbf":[],"iat":{}}`)) + "." + parts[2],
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`{"exp":1e308,"nbf":-1e308}`)) + "." + parts[2],
		jtSign(f, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), jtKeys().rsaPEM, nil),
		jtHS256(f, expired),
		good + ".extra",
		strings.Repeat("A", 17<<10),
		jePythonJWE,
	} {
		f.Add(seed)
	}
	v := jtHSVerifier()
	v.Leeway = time.Minute
	v.Audience = nil
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(context.Background(), token)
		if err == nil {
			if claims == nil {
				t.Fatal("nil claims without error")
			}
		} else {
			jtCheckFuzzErr(t, err, token)
		}
		if _, err := UnverifiedClaim(token, "key"); err != nil {
			jtCheckFuzzErr(t, err, token)
		}
		if _, err := UnverifiedHeader(token); err != nil {
			jtCheckFuzzErr(t, err, token)
		}
	})
}

// FuzzDecryptDir feeds arbitrary strings to DecryptDir with keys of every enc size, selected by kid.
func FuzzDecryptDir(f *testing.F) {
	keys := map[string][]byte{}
	for _, enc := range jeEncNames {
		keys[enc] = make([]byte, jweEncs[enc].keyLen)
		for i := range keys[enc] {
			keys[enc][i] = byte(i * 7)
		}
		for _, deflate := range []bool{false, true} {
			tok, err := EncryptDir([]byte(`{"jwt":"a.b.c"}`), keys[enc], enc, enc, deflate)
			if err != nil {
				f.Fatalf("EncryptDir: %v", err)
			}
			f.Add(tok)
		}
	}
	sas2pyKey := []byte(jeSas2pyKey)
	keys[jeSas2pyKid] = sas2pyKey
	bomb, err := EncryptDir(make([]byte, 2<<20), keys["A256GCM"], "A256GCM", "A256GCM", true)
	if err != nil {
		f.Fatalf("EncryptDir: %v", err)
	}
	for _, seed := range []string{
		jePythonJWE,
		jePythonJWEDEF,
		bomb,
		"",
		"....",
		".....",
		"e30....",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","zip":"DEF","kid":"A256GCM"}`)) + "..AAAAAAAAAAAAAAAA..AAAAAAAAAAAAAAAAAAAAAA",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A128CBC-HS256","kid":"A128CBC-HS256"}`)) + "..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
		jtSas2pyPythonJWS,
	} {
		f.Add(seed)
	}
	keyFor := jeKeyFor(keys)
	f.Fuzz(func(t *testing.T, token string) {
		pt, hdr, err := DecryptDir(token, keyFor)
		if err != nil {
			if pt != nil || hdr != nil {
				t.Fatal("data returned with an error")
			}
			jtCheckFuzzErr(t, err, token)
			return
		}
		if hdr == nil || len(pt) > jweMaxPlaintext {
			t.Fatalf("success with header %v and %d bytes", hdr, len(pt))
		}
	})
}

func jtCheckFuzzErr(t *testing.T, err error, input string) {
	t.Helper()
	if n := jtSentinelCount(err); n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
	// Error texts are fixed strings, so a long input can only appear in one by leaking.
	if in := strings.TrimSpace(input); len(in) >= 24 && strings.Contains(err.Error(), in) {
		t.Fatalf("error %q quotes the input", err)
	}
}
