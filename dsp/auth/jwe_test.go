// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Keys and kids of the spec's JWE samples (§4.3, §6.2) and the api_key_jwe_example.yaml fixture.
const (
	jeSas2pyKey     = "key-length-should-be-32-chars123"
	jeSas2pyKid     = "sas2py-jwe-consumer-key"
	jeFixtureKeyB64 = "pArpqi3lKdqdBOArPb5l0+hOM2LZSX51Dvta4IoiAYM=" // jwe_config.encryption_key, compression DEF
	jeFixtureKid    = "api-key-jwe-001"
)

// Produced independently with Python (cryptography's AESGCM, json with sort_keys, and
// zlib.compress(data)[2:-4] as jwcrypto does for DEF) from jtSas2pyPythonJWS, so DecryptDir is
// checked against bytes Go did not produce.
const (
	// dir/A256GCM, raw key jeSas2pyKey, kid jeSas2pyKid, IV 00..0b, plaintext {"jwt":"<JWS>"}.
	jePythonJWE = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoic2FzMnB5LWp3ZS1jb25zdW1lci1rZXkifQ..AAECAwQFBgcICQoL.UdbBR0AQdJ9KNP6NeOfAuY8fufC96HKUzNh6EXYFrUoh1xecEChHBzIZK3Ms1bA95_UtU_7Y_Pj_Wu1F4HbYcUYAqMh9lLQg14W2EopgHInRYU-TbSdHWnXzFepVN9Yz2TkvKstWojRrTpD0fDtpiLDw9WFJpPXF6i9d6JFfdaWorHC6FDZ3cKfA17-GCzpU00ezymCS_6oAoqpeQlZcKFy4JCfQDCQ0Hi06lnNuyylXLqJbgDHXj33KkNoyjuX1EdiravNepOPK94p_I55VT-_JJIjC0E5S8ntiDyEcx9tCU1dWIIJ0IvrRR4NmhZFT3FYt6_J0e3vi52Ra1-LIHU2n8_TgMF1BcKli0O558LZngWVHyk5Kts6rVhnSSc9Hh6z6wL9XF04L1N4bwHRpzKCkTKapk_EQ9JdCT2m3uYgN3zWYuMyfqh-PV6sT_Dys1H9xRiD2dNpH2gDouMdXr1kOWU8vBUvAPplEAcS6hAVesedKEfQSgoFy6ZGcDb7uPNfz6YWEGJgo--xX0-O7pJunxZbi8MG8oaY8LKN38chM5GuHRLKj4U1j6NjPOsov4Cfn_m8aI8D01y_Lt1xtaA6rRRoZ46agBhSPgKsYrelKmH0bQHWeYPdqZ0aFipQoPGQprcjqsfyTk1vVqYzUoEm0qpyXL4VN6MmQ_PCuo4O3XIPHUEFaKRNTEV01EDfUUKSl4vItzyRXCrQ.gXAgqVfSeuj7xukTHf3Ksg"
	// dir/A256GCM, zip DEF, key base64-decoded from jeFixtureKeyB64, kid jeFixtureKid, IV 64..6f.
	jePythonJWEDEF = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiYXBpLWtleS1qd2UtMDAxIiwiemlwIjoiREVGIn0..ZGVmZ2hpamtsbW5v.y66NSzr8CyyBZ_-jEHmRcRw0XDICFq-sy_DPzha4YyZfcsgnzoKNmm8EfQdwQGmGbNuysKY_Fqn78ql8pW0E3ziMW-lmuPU70zMVzzvxCh1JT1G9Ej_u3Dmy88R2J6MkAOH7B-Okoz7bsgJwydD46J7zWbg-jbARjM0iehc5lUZ_CRkJYzF7o-JK5j0PLCzkSSgvwoYi1drCx5xDPdZvyOgJj6SSOawb7hpt2XNJU6bd7KDn_C2uTx7E7p2To8156OnPc4m520Qra8WoDKPSv42CXxDgMneG4diEX1N4Fh_TIDxJ1P6PrmHG1vwoRqRX52EKLjuSF6Rgirs2yqyP6EGnS3ZyGIp27Q6oAYtqhXWTu_1Ti-Mn7CJAlPYqaehS3TAxPH0aSPcTuJgBroO3LGjD74iRkUBxLSQ2kiSWJGW1Ely4QMH9lRCcsPHLYMYmW0v3FXM5mDLHTiPaI6Xok0AoSlzxcMfN41bVQupMJXTgpOB3TntIY0LAlfYjvESgZtBTHyv1linn9ho.BDffLB0nXe9qyXD9ylqiAw"
)

// jeEncNames lists every supported enc in a fixed order.
var jeEncNames = []string{"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}

// jeKeyFor serves keys from a map, ErrUnknownKey otherwise.
func jeKeyFor(keys map[string][]byte) func(string) ([]byte, error) {
	return func(kid string) ([]byte, error) {
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("looking up consumer: %w", ErrUnknownKey)
	}
}

func jeRandKey(t testing.TB, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatalf("reading random: %v", err)
	}
	return k
}

// jeSeal builds a compact JWE with an arbitrary protected header, encrypting data as given (no
// compression) under enc, so that tokens DecryptDir must reject for their header still carry a valid tag.
func jeSeal(t testing.TB, header, encKey string, key []byte, enc string, data []byte) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	protected := b64.EncodeToString([]byte(header))
	spec := jweEncs[enc]
	iv := jeRandKey(t, spec.ivLen)
	var ct, tag []byte
	if spec.hash == nil {
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatalf("cipher: %v", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatalf("gcm: %v", err)
		}
		sealed := aead.Seal(nil, iv, data, []byte(protected))
		ct, tag = sealed[:len(sealed)-16], sealed[len(sealed)-16:]
	} else {
		var err error
		if ct, tag, err = jweCBCSeal(key, spec.hash, iv, data, []byte(protected)); err != nil {
			t.Fatalf("cbc seal: %v", err)
		}
	}
	return strings.Join([]string{protected, encKey, b64.EncodeToString(iv), b64.EncodeToString(ct), b64.EncodeToString(tag)}, ".")
}

// jeReplace returns token with segment i replaced by f(decoded segment), re-encoded.
func jeReplace(t testing.TB, token string, i int, f func([]byte) []byte) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decoding segment %d: %v", i, err)
	}
	parts[i] = base64.RawURLEncoding.EncodeToString(f(bytes.Clone(b)))
	return strings.Join(parts, ".")
}

func jeFlipLast(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }

func TestJWERoundTrip(t *testing.T) {
	plaintexts := map[string][]byte{
		"empty":        {},
		"one block":    []byte("0123456789abcdef"),
		"sas2py shape": []byte(`{"jwt":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sig"}`),
		"100 KiB":      bytes.Repeat([]byte("compressible "), 100<<10/13),
	}
	for _, enc := range jeEncNames {
		for _, deflate := range []bool{false, true} {
			for pname, pt := range plaintexts {
				t.Run(fmt.Sprintf("%s/deflate=%v/%s", enc, deflate, pname), func(t *testing.T) {
					key := jeRandKey(t, jweEncs[enc].keyLen)
					tok, err := EncryptDir(pt, key, enc, "kid-"+enc, deflate)
					if err != nil {
						t.Fatalf("EncryptDir: %v", err)
					}
					if parts := strings.Split(tok, "."); len(parts) != 5 || parts[1] != "" {
						t.Fatalf("token %q is not a 5-part dir JWE", tok)
					}
					got, hdr, err := DecryptDir(tok, jeKeyFor(map[string][]byte{"kid-" + enc: key}))
					if err != nil {
						t.Fatalf("DecryptDir: %v", err)
					}
					if !bytes.Equal(got, pt) {
						t.Fatalf("plaintext mismatch: got %d bytes, want %d", len(got), len(pt))
					}
					if hdr["alg"] != "dir" || hdr["enc"] != enc || hdr["kid"] != "kid-"+enc {
						t.Errorf("header = %v", hdr)
					}
					if _, hasZip := hdr["zip"]; hasZip != deflate {
						t.Errorf("header zip present = %v, want %v", hasZip, deflate)
					}
				})
			}
		}
	}

	t.Run("header layout matches jwcrypto", func(t *testing.T) {
		tok, err := EncryptDir([]byte("x"), jeRandKey(t, 32), "A256GCM", jeSas2pyKid, true)
		if err != nil {
			t.Fatalf("EncryptDir: %v", err)
		}
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
		if want := `{"alg":"dir","enc":"A256GCM","kid":"sas2py-jwe-consumer-key","zip":"DEF"}`; string(hdr) != want {
			t.Fatalf("header = %s, want %s", hdr, want)
		}
	})
	t.Run("inflates up to the cap", func(t *testing.T) {
		key := jeRandKey(t, 32)
		pt := make([]byte, jweMaxPlaintext)
		tok, err := EncryptDir(pt, key, "A256GCM", "k", true)
		if err != nil {
			t.Fatalf("EncryptDir: %v", err)
		}
		got, _, err := DecryptDir(tok, jeKeyFor(map[string][]byte{"k": key}))
		if err != nil || len(got) != jweMaxPlaintext {
			t.Fatalf("DecryptDir = %d bytes, %v", len(got), err)
		}
	})
	t.Run("no kid", func(t *testing.T) {
		key := jeRandKey(t, 16)
		tok, err := EncryptDir([]byte("hi"), key, "A128GCM", "", false)
		if err != nil {
			t.Fatalf("EncryptDir: %v", err)
		}
		got, hdr, err := DecryptDir(tok, jeKeyFor(map[string][]byte{"": key}))
		if err != nil || string(got) != "hi" {
			t.Fatalf("DecryptDir = %q, %v", got, err)
		}
		if _, ok := hdr["kid"]; ok {
			t.Errorf("header has a kid: %v", hdr)
		}
	})
	t.Run("EncryptDir rejects bad input", func(t *testing.T) {
		if _, err := EncryptDir(nil, make([]byte, 16), "A256GCM", "", false); !errors.Is(err, ErrInvalidKeyMaterial) {
			t.Errorf("short key: %v", err)
		}
		if _, err := EncryptDir(nil, make([]byte, 32), "A256CTR", "", false); !errors.Is(err, ErrInvalidKeyMaterial) {
			t.Errorf("unknown enc: %v", err)
		}
	})
}

func TestJWESas2py(t *testing.T) {
	sas2pyKey, err := DeriveJWEKey(jeSas2pyKey, "A256GCM")
	if err != nil {
		t.Fatalf("DeriveJWEKey(sas2py): %v", err)
	}
	fixtureKey, err := DeriveJWEKey(jeFixtureKeyB64, "A256GCM")
	if err != nil {
		t.Fatalf("DeriveJWEKey(fixture): %v", err)
	}
	keyFor := jeKeyFor(map[string][]byte{jeSas2pyKid: sas2pyKey, jeFixtureKid: fixtureKey})

	goJWS := jtHS256(t, jtSas2pyClaims(jtNow))
	goPlain, err := json.Marshal(map[string]string{"jwt": goJWS})
	if err != nil {
		t.Fatalf("marshalling: %v", err)
	}
	goJWE, err := EncryptDir(goPlain, sas2pyKey, "A256GCM", jeSas2pyKid, false)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}
	goJWEDEF, err := EncryptDir(goPlain, fixtureKey, "A256GCM", jeFixtureKid, true)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}

	tests := []struct {
		name    string
		token   string
		kid     string
		wantJWS string
	}{
		{"python A256GCM raw key", jePythonJWE, jeSas2pyKid, jtSas2pyPythonJWS},
		{"python A256GCM DEF fixture key", jePythonJWEDEF, jeFixtureKid, jtSas2pyPythonJWS},
		{"go A256GCM raw key", goJWE, jeSas2pyKid, goJWS},
		{"go A256GCM DEF fixture key", goJWEDEF, jeFixtureKid, goJWS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, hdr, err := DecryptDir(tc.token, keyFor)
			if err != nil {
				t.Fatalf("DecryptDir: %v", err)
			}
			if hdr["kid"] != tc.kid || hdr["alg"] != "dir" || hdr["enc"] != "A256GCM" {
				t.Errorf("header = %v", hdr)
			}
			var body struct {
				JWT string `json:"jwt"`
			}
			if err := json.Unmarshal(pt, &body); err != nil {
				t.Fatalf("plaintext is not {\"jwt\":...}: %v", err)
			}
			if body.JWT != tc.wantJWS {
				t.Fatalf("inner JWS differs")
			}
			claims, err := jtHSVerifier().Verify(context.Background(), body.JWT)
			if err != nil {
				t.Fatalf("Verify inner JWS: %v", err)
			}
			if claims["key"] != jtConsumerKey {
				t.Errorf("key claim = %v", claims["key"])
			}
		})
	}
}

// TestJWECBCVectors pins the AES-CBC-HMAC construction to published vectors: RFC 7516 Appendix A.2
// (A128CBC-HS256 content encryption) and RFC 7518 Appendix B.3 (AEAD_AES_256_CBC_HMAC_SHA_512).
func TestJWECBCVectors(t *testing.T) {
	kerckhoffs := "A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience"
	tests := []struct {
		name, key, iv, aad, plaintext, ct, tag string // hex except aad and plaintext
		enc                                    string
	}{
		{
			name: "RFC 7516 A.2 A128CBC-HS256", enc: "A128CBC-HS256",
			key:       "04d31fc5549dfcfe0b649dfa3faa6ace6b7cd42d6f6b09dbc8b100f08f9c2ccf",
			iv:        "03163c0c2b4368696c6c69636f746865",
			aad:       "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0",
			plaintext: "Live long and prosper.",
			ct:        "283953b577218594c6b9f31898e6064b81df7f13d252b7e6a821d7688f703866",
			tag:       "f611f4be045f6203e700739df2cb64bf",
		},
		{
			name: "RFC 7518 B.3 A256CBC-HS512", enc: "A256CBC-HS512",
			key:       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
			iv:        "1af38c2dc2b96ffdd86694092341bc04",
			aad:       "The second principle of Auguste Kerckhoffs",
			plaintext: kerckhoffs,
			ct:        "4affaaadb78c31c5da4b1b590d10ffbd3dd8d5d302423526912da037ecbcc7bd822c301dd67c373bccb584ad3e9279c2e6d12a1374b77f077553df829410446b36ebd97066296ae6427ea75c2e0846a11a09ccf5370dc80bfecbad28c73f09b3a3b75e662a2594410ae496b2e2e6609e31e6e02cc837f053d21f37ff4f51950bbe2638d09dd7a4930930806d0703b1f6",
			tag:       "4dd3b4c088a7f45c216839645b2012bf2e6269a8c56a816dbc1b267761955bc5",
		},
	}
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("bad hex in vector: %v", err)
		}
		return b
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, iv, wantCT, wantTag := mustHex(tc.key), mustHex(tc.iv), mustHex(tc.ct), mustHex(tc.tag)
			h := jweEncs[tc.enc].hash
			ct, tag, err := jweCBCSeal(key, h, iv, []byte(tc.plaintext), []byte(tc.aad))
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
				t.Fatalf("seal mismatch:\n ct  %x\n tag %x", ct, tag)
			}
			pt, err := jweCBCOpen(key, h, iv, wantCT, wantTag, []byte(tc.aad))
			if err != nil || string(pt) != tc.plaintext {
				t.Fatalf("open = %q, %v", pt, err)
			}
		})
	}
	// The hash functions are the ones RFC 7518 §5.2.3-5.2.5 name.
	if jweEncs["A128CBC-HS256"].hash().Size() != sha256.Size || jweEncs["A192CBC-HS384"].hash().Size() != sha512.Size384 ||
		jweEncs["A256CBC-HS512"].hash().Size() != sha512.Size {
		t.Fatal("CBC-HS hash table is wrong")
	}
}

func TestJWEAttacks(t *testing.T) {
	k256 := jeRandKey(t, 32)
	k512 := jeRandKey(t, 64)
	keys := map[string][]byte{"gcm": k256, "cbc": k512, "other": k256}
	keyFor := jeKeyFor(keys)

	gcm, err := EncryptDir([]byte(`{"jwt":"a.b.c"}`), k256, "A256GCM", "gcm", false)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}
	cbc, err := EncryptDir([]byte(`{"jwt":"a.b.c"}`), k512, "A256CBC-HS512", "cbc", false)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}
	bomb, err := EncryptDir(make([]byte, 4<<20), k256, "A256GCM", "gcm", true)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}
	gcmParts := strings.Split(gcm, ".")
	hdrOf := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }

	// A CBC token whose MAC is valid but whose last block is not PKCS #7 padded.
	badPad := func() string {
		protected := hdrOf(`{"alg":"dir","enc":"A256CBC-HS512","kid":"cbc"}`)
		iv := jeRandKey(t, 16)
		block, _ := aes.NewCipher(k512[32:])
		ct := make([]byte, 16) // all zero: last byte 0 is never valid padding
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
		tag := jweCBCMAC(k512, sha512.New, iv, ct, []byte(protected))
		b64 := base64.RawURLEncoding.EncodeToString
		return protected + ".." + b64(iv) + "." + b64(ct) + "." + b64(tag)
	}()
	cbcShortCT := func() string {
		protected := hdrOf(`{"alg":"dir","enc":"A256CBC-HS512","kid":"cbc"}`)
		b64 := base64.RawURLEncoding.EncodeToString
		return protected + ".." + b64(make([]byte, 16)) + "." + b64(make([]byte, 15)) + "." + b64(make([]byte, 32))
	}()

	tests := []struct {
		name   string
		token  string
		keyFor func(string) ([]byte, error)
		want   error
	}{
		{"empty", "", keyFor, ErrTokenMissing},
		{"oversized", strings.Repeat("A", 300<<10) + "....", keyFor, ErrTokenMalformed},
		{"wrong tag GCM", jeReplace(t, gcm, 4, jeFlipLast), keyFor, ErrTokenInvalid},
		{"wrong tag CBC", jeReplace(t, cbc, 4, jeFlipLast), keyFor, ErrTokenInvalid},
		{"flipped ciphertext GCM", jeReplace(t, gcm, 3, jeFlipLast), keyFor, ErrTokenInvalid},
		{"flipped ciphertext CBC", jeReplace(t, cbc, 3, jeFlipLast), keyFor, ErrTokenInvalid},
		{"flipped IV GCM", jeReplace(t, gcm, 2, jeFlipLast), keyFor, ErrTokenInvalid},
		{"flipped IV CBC", jeReplace(t, cbc, 2, jeFlipLast), keyFor, ErrTokenInvalid},
		{"header rewritten (kid other, same key)", jeReplace(t, gcm, 0, func([]byte) []byte { return []byte(`{"alg":"dir","enc":"A256GCM","kid":"other"}`) }), keyFor, ErrTokenInvalid},
		{"wrong key", gcm, jeKeyFor(map[string][]byte{"gcm": jeRandKey(t, 32)}), ErrTokenInvalid},
		{"CBC valid MAC bad padding", badPad, keyFor, ErrTokenInvalid},
		{"CBC ciphertext not whole blocks", cbcShortCT, keyFor, ErrTokenMalformed},
		{"alg A256KW", jeSeal(t, `{"alg":"A256KW","enc":"A256GCM","kid":"gcm"}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"alg RSA-OAEP with encrypted key", jeSeal(t, `{"alg":"RSA-OAEP","enc":"A256GCM","kid":"gcm"}`, "AAAA", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"alg missing", jeSeal(t, `{"enc":"A256GCM","kid":"gcm"}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"alg none", jeSeal(t, `{"alg":"none","enc":"A256GCM","kid":"gcm"}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"enc unknown", jeSeal(t, `{"alg":"dir","enc":"A256CTR","kid":"gcm"}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"zip GZIP", jeSeal(t, `{"alg":"dir","enc":"A256GCM","kid":"gcm","zip":"GZIP"}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"crit", jeSeal(t, `{"alg":"dir","enc":"A256GCM","kid":"gcm","crit":["exp"],"exp":1}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenInvalid},
		{"non-empty encrypted key", jeSeal(t, `{"alg":"dir","enc":"A256GCM","kid":"gcm"}`, "AAAA", k256, "A256GCM", []byte("x")), keyFor, ErrTokenMalformed},
		{"wrong key length", gcm, jeKeyFor(map[string][]byte{"gcm": k256[:16]}), ErrTokenInvalid},
		{"key too long", gcm, jeKeyFor(map[string][]byte{"gcm": k512}), ErrTokenInvalid},
		{"unknown kid", gcm, jeKeyFor(map[string][]byte{"someone-else": k256}), ErrUnknownKey},
		{"keyFor fails with a plain error", gcm, func(string) ([]byte, error) { return nil, errors.New("secret store down") }, ErrUnknownKey},
		{"keyFor returns no key", gcm, func(string) ([]byte, error) { return nil, nil }, ErrUnknownKey},
		{"nil keyFor", gcm, nil, ErrUnknownKey},
		{"zip bomb", bomb, keyFor, ErrTokenMalformed},
		{"zip DEF over non-DEFLATE data", jeSeal(t, `{"alg":"dir","enc":"A256GCM","kid":"gcm","zip":"DEF"}`, "", k256, "A256GCM", []byte{0xff, 0xff, 0xff, 0xff}), keyFor, ErrTokenMalformed},
		{"JWS instead of JWE", jtHS256(t, jtSas2pyClaims(jtNow)), keyFor, ErrTokenMalformed},
		{"four segments", strings.Join(gcmParts[:4], "."), keyFor, ErrTokenMalformed},
		{"six segments", gcm + ".x", keyFor, ErrTokenMalformed},
		{"header not base64", "***." + strings.Join(gcmParts[1:], "."), keyFor, ErrTokenMalformed},
		{"header not an object", hdrOf(`["dir"]`) + "." + strings.Join(gcmParts[1:], "."), keyFor, ErrTokenMalformed},
		{"kid not a string", jeSeal(t, `{"alg":"dir","enc":"A256GCM","kid":1}`, "", k256, "A256GCM", []byte("x")), keyFor, ErrTokenMalformed},
		{"IV not base64", strings.Join([]string{gcmParts[0], "", "!!", gcmParts[3], gcmParts[4]}, "."), keyFor, ErrTokenMalformed},
		{"IV too short", jeReplace(t, gcm, 2, func(b []byte) []byte { return b[:8] }), keyFor, ErrTokenMalformed},
		{"IV of CBC size on GCM", jeReplace(t, gcm, 2, func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), keyFor, ErrTokenMalformed},
		{"ciphertext not base64", strings.Join([]string{gcmParts[0], "", gcmParts[2], "$$$", gcmParts[4]}, "."), keyFor, ErrTokenMalformed},
		{"tag truncated", jeReplace(t, gcm, 4, func(b []byte) []byte { return b[:8] }), keyFor, ErrTokenMalformed},
		{"tag missing", strings.Join(append(gcmParts[:4:4], ""), "."), keyFor, ErrTokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, hdr, err := DecryptDir(tc.token, tc.keyFor)
			if pt != nil || hdr != nil {
				t.Errorf("DecryptDir returned data with an error: %q %v", pt, hdr)
			}
			jtRequireSentinel(t, err, tc.want)
			for _, k := range [][]byte{k256, k512} {
				if strings.Contains(err.Error(), string(k)) || strings.Contains(err.Error(), hex.EncodeToString(k)) {
					t.Errorf("error text contains key material")
				}
			}
		})
	}
}

func TestDeriveJWEKey(t *testing.T) {
	random32 := jeRandKey(t, 32)
	std32 := base64.StdEncoding.EncodeToString(random32)
	fixed := make([]byte, 32) // e0..ff: its std base64 has + and /, its base64url has - and _
	for i := range fixed {
		fixed[i] = byte(0xe0 + i)
	}
	hex64 := hex.EncodeToString(fixed)
	mustHex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("bad hex: %v", err)
		}
		return b
	}
	tests := []struct {
		name    string
		in      string
		enc     string
		want    []byte // nil = error
		errFrom string // which step decided, checked in the error text
	}{
		{"spec raw key", "key-length-should-be-32-chars123", "A256GCM", []byte("key-length-should-be-32-chars123"), ""},
		{"spec raw key with leading dash", "-secret-length-must-be-32-chars-", "A256GCM", []byte("-secret-length-must-be-32-chars-"), ""},
		{"raw key is 32 bytes so also A128CBC-HS256", "key-length-should-be-32-chars123", "A128CBC-HS256", []byte("key-length-should-be-32-chars123"), ""},
		{"raw key too short for A256CBC-HS512", "key-length-should-be-32-chars123", "A256CBC-HS512", nil, "raw"},
		{"fixture base64 key", jeFixtureKeyB64, "A256GCM", mustHex("a40ae9aa2de529da9d04e02b3dbe65d3e84e3362d9497e750efb5ae08a220183"), ""},
		{"44-char std base64 of 32 random bytes", std32, "A256GCM", random32, ""},
		{"std base64 with + and /", base64.StdEncoding.EncodeToString(fixed), "A256GCM", fixed, ""},
		{"base64 with whitespace (python drops it)", "4OHi 4+Tl 5ufo 6err 7O3u 7/Dx 8vP0 9fb3 +Pn6 +/z9 /v8=", "A256GCM", fixed, ""},
		// Python drops - and _, the padding then fails, hex fails, and 44 raw bytes are the wrong length.
		{"base64url is mangled into raw bytes", base64.URLEncoding.EncodeToString(fixed), "A256GCM", nil, "raw"},
		// A 64-char hex string is valid base64 (48 bytes): Python never tries hex, so A256GCM fails...
		{"64-char hex is base64 first", hex64, "A256GCM", nil, "base64 decoding gave 48"},
		// ...and a 48-byte enc accepts the base64 reading, not the hex one.
		{"64-char hex as A192CBC-HS384 key", hex64, "A192CBC-HS384", mustHex("7b47b57b67b77b87b97ba7bb7bc7bd79a79b79c79d79e79f7f47f57f67f77f87f97fa7fb7fc7fd7da7db7dc7dd7de7df"), ""},
		{"hex reached only when base64 fails", "000102030405060708090a0b0c0d0e", "A128GCM", nil, "hex decoding gave 15"},
		{"data after padding ignored", "AAECAwQFBgcICQoLDA0ODw==trailing-garbage!", "A128GCM", mustHex("000102030405060708090a0b0c0d0e0f"), ""},
		{"non-ASCII is raw UTF-8", strings.Repeat("é", 16), "A256GCM", []byte(strings.Repeat("é", 16)), ""},
		{"empty string is empty base64", "", "A128GCM", nil, "base64 decoding gave 0"},
		{"unknown enc", std32, "A256KW", nil, "unsupported enc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DeriveJWEKey(tc.in, tc.enc)
			if tc.want == nil {
				if !errors.Is(err, ErrInvalidKeyMaterial) {
					t.Fatalf("DeriveJWEKey = %x, %v; want ErrInvalidKeyMaterial", got, err)
				}
				if !strings.Contains(err.Error(), tc.errFrom) {
					t.Errorf("error %q does not mention %q", err, tc.errFrom)
				}
				if tc.in != "" && strings.Contains(err.Error(), tc.in) {
					t.Errorf("error text contains the key")
				}
				return
			}
			if err != nil {
				t.Fatalf("DeriveJWEKey: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("DeriveJWEKey = %x, want %x", got, tc.want)
			}
		})
	}
}

// TestDeriveJWEKeyPythonDecoders pins pyB64Decode and pyFromHex to outputs of CPython 3.11's base64.b64decode and
// bytes.fromhex (the implementation was also checked against 30,000 random strings).
func TestDeriveJWEKeyPythonDecoders(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		b64    string // hex of the result, "ERR" when Python raises
		fromHx string
	}{
		{"plain", "QUJD", "414243", "ERR"},
		{"padded", "QQ==", "41", "ERR"},
		{"missing pad", "QQ=", "ERR", "ERR"},
		{"pad too early is skipped", "Q===", "ERR", "ERR"},
		{"lone pad inside a quantum is skipped", "QU=JD", "414243", "ERR"},
		{"extra after full quantum", "QUJD=", "414243", "ERR"},
		{"data after pad ignored", "QQ==garbage", "41", "ERR"},
		{"only pads", "========", "", "ERR"},
		{"empty", "", "", ""},
		{"one data char", "Q", "ERR", "ERR"},
		{"dash dropped", "QU-JD", "414243", "ERR"},
		{"hex pairs with spaces", "ab cd", "69b71d", "abcd"},
		{"hex pair split by space", "a b", "ERR", "ERR"},
		{"hex with tab and vertical tab", "00\t01\v02", "ERR", "000102"},
		{"hex odd length", "abc", "ERR", "ERR"},
		{"hex and base64 both valid", "abcd", "69b71d", "abcd"},
		{"non-ASCII", "é", "ERR", "ERR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, got []byte, ok bool, want string) {
				t.Helper()
				switch {
				case want == "ERR" && ok:
					t.Errorf("%s(%q) = %x, want an error", what, tc.in, got)
				case want != "ERR" && (!ok || hex.EncodeToString(got) != want):
					t.Errorf("%s(%q) = %x, %v; want %s", what, tc.in, got, ok, want)
				}
			}
			got, ok := pyB64Decode(tc.in)
			check("b64decode", got, ok, tc.b64)
			got, ok = pyFromHex(tc.in)
			check("fromhex", got, ok, tc.fromHx)
		})
	}
}

// BenchmarkDecryptDirA256GCM decrypts a JWE-wrapped sas2py JWS, as jwe-decrypt does per request.
func BenchmarkDecryptDirA256GCM(b *testing.B) {
	key := []byte(jeSas2pyKey)
	pt, err := json.Marshal(map[string]string{"jwt": jtSign(b, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), []byte(jtSecret), nil)})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := EncryptDir(pt, key, "A256GCM", jeSas2pyKid, false)
	if err != nil {
		b.Fatal(err)
	}
	keyFor := func(string) ([]byte, error) { return key, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecryptDir(tok, keyFor); err != nil {
			b.Fatal(err)
		}
	}
}
