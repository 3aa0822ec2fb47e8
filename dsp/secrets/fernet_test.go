// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Vectors from the Fernet spec (github.com/fernet/spec: generate.json, verify.json, invalid.json).
const specSecret = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestFernetGenerateVector(t *testing.T) {
	k, err := ParseFernetKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	iv := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	got, err := k.encryptWithIV([]byte("hello"), mustTime(t, "1985-10-26T01:20:00-07:00"), iv)
	if err != nil {
		t.Fatal(err)
	}
	const want = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
	if got != want {
		t.Fatalf("token = %s, want %s", got, want)
	}
	if k.Encode() != specSecret {
		t.Fatalf("Encode = %s", k.Encode())
	}
}

func TestFernetVerifyVector(t *testing.T) {
	k, err := ParseFernetKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.Decrypt("gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
		60*time.Second, mustTime(t, "1985-10-26T01:20:01-07:00"))
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello" {
		t.Fatalf("plaintext = %q", pt)
	}
}

func TestFernetInvalidVectors(t *testing.T) {
	k, err := ParseFernetKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, now string
	}{
		{"incorrect mac", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFBQUFBQQ==", "1985-10-26T01:20:01-07:00"},
		{"too short", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==", "1985-10-26T01:20:01-07:00"},
		{"invalid base64", "%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==", "1985-10-26T01:20:01-07:00"},
		{"payload size not multiple of block size", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_v7mrfyudzUm", "1985-10-26T01:20:01-07:00"},
		{"payload padding error", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbkuKNqOhw==", "1985-10-26T01:20:01-07:00"},
		{"far-future TS", "gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJmw2Xc2a6kBd-iX9b_qXQcw==", "1985-10-26T01:20:01-07:00"},
		{"expired TTL", "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==", "1985-10-26T01:21:31-07:00"},
		{"incorrect IV", "gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvcZjK1zQ==", "1985-10-26T01:20:01-07:00"},
		{"trailing characters after b64 padding", "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==trailingdata", "1985-10-26T01:20:01-07:00"},
		{"invalid characters in b64", "*gAAAAAAdwJ6wAAECAwQFBgcI!CQoLDA0ODy021?cpGVWKZ_eEwC@GM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==", "1985-10-26T01:20:01-07:00"},
		{"invalid non-urlsafe characters in b64", "gAAAAAAdwJ6wAAEC/AwQFBgcICQoLDA0ODy+021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==", "1985-10-26T01:20:01-07:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Decrypt(tc.token, 60*time.Second, mustTime(t, tc.now))
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// The expired-TTL vector is otherwise valid: without a TTL (what the Control Tower does) it decrypts.
func TestFernetNoTTLSkipsTimeChecks(t *testing.T) {
	k, err := ParseFernetKey(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.Decrypt("gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==", 0, time.Now())
	if err != nil || string(pt) != "hello" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
}

func TestFernetPassphrase(t *testing.T) {
	// Expected key computed with Python: urlsafe_b64encode(hashlib.pbkdf2_hmac("sha256",
	// b"correct horse battery staple", b"dsp-ai-control-tower-salt-v1", 100000, 32)).
	const pass = "correct horse battery staple"
	k, err := FernetKeyFrom(pass)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Encode(), "t7ubVQCbvO0TmJn0hnCP0EJrstp7qdeIlR2SrfdX1QI="; got != want {
		t.Fatalf("derived key = %s, want %s", got, want)
	}
	// A token written by Python cryptography 48.0.0's Fernet under that key (the Control Tower's encrypt).
	const ctToken = "gAAAAABrCA967suFJIHngGT0_QskF13gefmHeEkQ39XTHgQoBagNlM582bookpqsiv2BT-217A0BgKsj9eyhF_ZkNUR4B9ijn89c70_rTan4ksrBT_wT8ok="
	pt, err := k.Decrypt(ctToken, 0, time.Now())
	if err != nil || string(pt) != "gsk_from_control_tower" {
		t.Fatalf("Decrypt(CT token) = %q, %v", pt, err)
	}
	for _, msg := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("s"), 16), bytes.Repeat([]byte("é"), 33)} {
		tok, err := k.Encrypt(msg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Decrypt(tok, time.Minute, time.Now())
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %d bytes = %q, %v", len(msg), got, err)
		}
	}
	other, err := FernetKeyFrom("another passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ctToken, 0, time.Now()); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("wrong key: err = %v", err)
	}
}

func TestFernetKeyFrom(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantKey string // "" means derived
		wantErr bool
	}{
		{name: "fernet key", in: specSecret, wantKey: specSecret},
		{name: "unpadded fernet key", in: "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4", wantKey: specSecret},
		{name: "short base64 is a passphrase", in: "aGVsbG8="},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FernetKeyFrom(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantKey != "" && k.Encode() != tc.wantKey {
				t.Fatalf("key = %s", k.Encode())
			}
			if tc.wantKey == "" {
				d, _ := DeriveFernetKey(tc.in)
				if d.Encode() != k.Encode() {
					t.Fatal("passphrase was not derived")
				}
			}
		})
	}
}
