// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The DSP JWT service's development secret (.env.example) and the consumer key of the sas2py manifest.
const (
	jtSecret      = "your-secret-key-here"
	jtConsumerKey = "sas2py-consumer-key"
)

// jtNow is the fixed clock of these tests: 2026-01-01T00:00:00Z.
var jtNow = time.Unix(1767225600, 0).UTC()

func jtClock() time.Time { return jtNow }

// jtSentinels are the verification sentinels; every error must wrap exactly one.
var jtSentinels = []error{
	ErrTokenMissing, ErrTokenMalformed, ErrTokenInvalid, ErrTokenExpired,
	ErrTokenNotYetValid, ErrUnknownKey, ErrIssuerAudience,
}

func jtSentinelCount(err error) int {
	n := 0
	for _, s := range jtSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// jtRequireSentinel fails unless err wraps want and no other sentinel.
func jtRequireSentinel(t testing.TB, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want it to wrap %v", err, want)
	}
	if n := jtSentinelCount(err); n != 1 {
		t.Fatalf("error %v wraps %d sentinels, want exactly 1", err, n)
	}
}

// jtKeys are generated once: RSA key generation is slow under -race.
type jtKeySet struct {
	rsa     *rsa.PrivateKey
	rsaPEM  []byte // PKIX "PUBLIC KEY" PEM of rsa.PublicKey
	p256    *ecdsa.PrivateKey
	p384    *ecdsa.PrivateKey
	p521    *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	edPub   ed25519.PublicKey
	rsaNext *rsa.PrivateKey // a second RSA key for rotation tests
}

var jtKeys = sync.OnceValue(func() *jtKeySet {
	k := &jtKeySet{}
	var err error
	must := func(e error) {
		if e != nil {
			panic(e)
		}
	}
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaNext, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	must(err)
	k.rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	must(err)
	k.edPub, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

// jtSas2pyClaims is the §4.2 access-token payload of the sas2py auth module for user admin.
func jtSas2pyClaims(iat time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"fresh":       true,
		"iat":         iat.Unix(),
		"jti":         "6f1c2a9e-4b7d-4e21-9a55-0d3c8e7f1b42",
		"type":        "access",
		"sub":         "admin",
		"nbf":         iat.Unix(),
		"exp":         iat.Add(time.Hour).Unix(),
		"name":        "Administrator",
		"email":       "admin@example.com",
		"groups":      []string{"administrators"},
		"roles":       []string{"admin", "user"},
		"key":         jtConsumerKey,
		"rate_limit":  100,
		"project":     "sas2py",
		"environment": "development",
	}
}

// jtSign mints a token like the JWT service does (golang-jwt writes {"alg":...,"typ":"JWT"}), with
// optional extra header fields.
func jtSign(t testing.TB, method jwt.SigningMethod, claims jwt.MapClaims, key any, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func jtHS256(t testing.TB, claims jwt.MapClaims) string {
	return jtSign(t, jwt.SigningMethodHS256, claims, []byte(jtSecret), nil)
}

// jtRaw assembles a token from raw JSON header and payload and an HMAC-SHA256 signature under key
// (unsigned when key is nil), bypassing golang-jwt's guards so attacks can be built.
func jtRaw(t testing.TB, header, payload string, key []byte) string {
	t.Helper()
	b64 := base64.RawURLEncoding
	si := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if key == nil {
		return si + "."
	}
	sig, err := jwt.SigningMethodHS256.Sign(si, key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return si + "." + b64.EncodeToString(sig)
}

func jtHSVerifier() *JWSVerifier {
	return &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte(jtSecret), Now: jtClock}
}

// jtSas2pyPythonJWS was minted independently with Python (hmac/json, PyJWT's header layout) from the
// §4.2 payload at jtNow, so Verify is checked against bytes Go did not produce.
const jtSas2pyPythonJWS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJmcmVzaCI6dHJ1ZSwiaWF0IjoxNzY3MjI1NjAwLCJqdGkiOiI2ZjFjMmE5ZS00YjdkLTRlMjEtOWE1NS0wZDNjOGU3ZjFiNDIiLCJ0eXBlIjoiYWNjZXNzIiwic3ViIjoiYWRtaW4iLCJuYmYiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzIyOTIwMCwibmFtZSI6IkFkbWluaXN0cmF0b3IiLCJlbWFpbCI6ImFkbWluQGV4YW1wbGUuY29tIiwiZ3JvdXBzIjpbImFkbWluaXN0cmF0b3JzIl0sInJvbGVzIjpbImFkbWluIiwidXNlciJdLCJrZXkiOiJzYXMycHktY29uc3VtZXIta2V5IiwicmF0ZV9saW1pdCI6MTAwLCJwcm9qZWN0Ijoic2FzMnB5IiwiZW52aXJvbm1lbnQiOiJkZXZlbG9wbWVudCJ9.ag7sZXma-DG3OMi_ublSbN4SCo9UkE3PqTOCKFC7qrI"

func TestJWSVerifySas2pyToken(t *testing.T) {
	tests := []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"minted with golang-jwt", func(t *testing.T) string { return jtHS256(t, jtSas2pyClaims(jtNow)) }},
		{"minted with python", func(*testing.T) string { return jtSas2pyPythonJWS }},
		{"surrounding whitespace", func(t *testing.T) string { return " " + jtHS256(t, jtSas2pyClaims(jtNow)) + "\n" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token(t)
			hdr, err := UnverifiedHeader(tok)
			if err != nil {
				t.Fatalf("UnverifiedHeader: %v", err)
			}
			if hdr["alg"] != "HS256" || hdr["typ"] != "JWT" {
				t.Errorf("header = %v, want alg HS256 typ JWT", hdr)
			}
			key, err := UnverifiedClaim(tok, "key")
			if err != nil || key != jtConsumerKey {
				t.Fatalf("UnverifiedClaim(key) = %v, %v; want %q", key, err, jtConsumerKey)
			}
			claims, err := jtHSVerifier().Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if claims["key"] != jtConsumerKey || claims["sub"] != "admin" || claims["type"] != "access" {
				t.Errorf("claims = %v", claims)
			}
			// Numbers come back as float64, like encoding/json.
			if rl, ok := claims["rate_limit"].(float64); !ok || rl != 100 {
				t.Errorf("rate_limit = %#v, want float64(100)", claims["rate_limit"])
			}
			if g, ok := claims["groups"].([]any); !ok || len(g) != 1 || g[0] != "administrators" {
				t.Errorf("groups = %#v", claims["groups"])
			}
		})
	}
}

func TestJWSVerifyTimeClaims(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(jwt.MapClaims)
		leeway time.Duration
		want   error // nil = accepted
	}{
		{"valid now", func(jwt.MapClaims) {}, 0, nil},
		{"expired", func(c jwt.MapClaims) { c["exp"] = jtNow.Add(-time.Second).Unix() }, 0, ErrTokenExpired},
		{"exp equals now is expired", func(c jwt.MapClaims) { c["exp"] = jtNow.Unix() }, 0, ErrTokenExpired},
		{"expired within leeway", func(c jwt.MapClaims) { c["exp"] = jtNow.Add(-30 * time.Second).Unix() }, time.Minute, nil},
		{"expired beyond leeway", func(c jwt.MapClaims) { c["exp"] = jtNow.Add(-2 * time.Minute).Unix() }, time.Minute, ErrTokenExpired},
		{"nbf in the future", func(c jwt.MapClaims) { c["nbf"] = jtNow.Add(time.Minute).Unix() }, 0, ErrTokenNotYetValid},
		{"nbf within leeway", func(c jwt.MapClaims) { c["nbf"] = jtNow.Add(30 * time.Second).Unix() }, time.Minute, nil},
		{"iat in the future", func(c jwt.MapClaims) { c["iat"] = jtNow.Add(time.Minute).Unix() }, 0, ErrTokenNotYetValid},
		{"iat within leeway", func(c jwt.MapClaims) { c["iat"] = jtNow.Add(30 * time.Second).Unix() }, time.Minute, nil},
		{"iat beyond leeway", func(c jwt.MapClaims) { c["iat"] = jtNow.Add(2 * time.Minute).Unix() }, time.Minute, ErrTokenNotYetValid},
		{"no exp accepted by default", func(c jwt.MapClaims) { delete(c, "exp") }, 0, nil},
		{"exp of wrong type", func(c jwt.MapClaims) { c["exp"] = "tomorrow" }, 0, ErrTokenMalformed},
		{"negative leeway means zero", func(c jwt.MapClaims) { c["exp"] = jtNow.Add(time.Second).Unix() }, -time.Hour, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := jtSas2pyClaims(jtNow)
			tc.mutate(c)
			v := jtHSVerifier()
			v.Leeway = tc.leeway
			_, err := v.Verify(context.Background(), jtHS256(t, c))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			jtRequireSentinel(t, err, tc.want)
		})
	}
}

func TestJWSVerifyAttacks(t *testing.T) {
	k := jtKeys()
	ctx := context.Background()
	good := jtHS256(t, jtSas2pyClaims(jtNow))
	goodParts := strings.Split(good, ".")
	payloadJSON, _ := json.Marshal(jtSas2pyClaims(jtNow))
	b64 := base64.RawURLEncoding

	// A token the attacker "signs" with HS256 using the RSA public key's PEM as the HMAC secret,
	// hoping the verifier feeds its RSA public key to HMAC.
	confused := jtSign(t, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), k.rsaPEM, nil)

	rsOnly := &JWSVerifier{Algorithms: []string{"RS256"}, PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey}, Now: jtClock}
	rsAndHS := &JWSVerifier{Algorithms: []string{"RS256", "HS256"}, PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey}, Now: jtClock}
	rsAndHSByKid := &JWSVerifier{Algorithms: []string{"RS256", "HS256"}, PublicKeys: map[string]crypto.PublicKey{"rsa1": &k.rsa.PublicKey}, Now: jtClock}
	hsWithNone := &JWSVerifier{Algorithms: []string{"none", "NONE", "HS256"}, HMACSecret: []byte(jtSecret), Now: jtClock}
	withIss := &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte(jtSecret), Now: jtClock, Issuer: "https://issuer.example"}
	withAud := &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte(jtSecret), Now: jtClock, Audience: []string{"fd2", "gateway"}}
	requireExp := &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte(jtSecret), Now: jtClock, RequireExp: true}
	esVerifier := &JWSVerifier{Algorithms: []string{"ES256", "RS256"}, PublicKeys: map[string]crypto.PublicKey{"ec": &k.p384.PublicKey, "rsa": &k.rsa.PublicKey, "ec256": &k.p256.PublicKey}, Now: jtClock}

	claimsWith := func(kv ...any) jwt.MapClaims {
		c := jtSas2pyClaims(jtNow)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	huge := strings.Repeat("A", 1<<20)

	tests := []struct {
		name  string
		v     *JWSVerifier
		token string
		want  error
	}{
		{"empty token", jtHSVerifier(), "", ErrTokenMissing},
		{"blank token", jtHSVerifier(), "  \t", ErrTokenMissing},
		{"alg none unsigned with trailing dot", jtHSVerifier(), jtRaw(t, `{"alg":"none","typ":"JWT"}`, string(payloadJSON), nil), ErrTokenInvalid},
		{"alg none unsigned without trailing dot", jtHSVerifier(), strings.TrimSuffix(jtRaw(t, `{"alg":"none","typ":"JWT"}`, string(payloadJSON), nil), "."), ErrTokenMalformed},
		{"alg none listed in the allowlist", hsWithNone, jtRaw(t, `{"alg":"none","typ":"JWT"}`, string(payloadJSON), nil), ErrTokenInvalid},
		{"alg None capitalised", jtHSVerifier(), jtRaw(t, `{"alg":"None","typ":"JWT"}`, string(payloadJSON), nil), ErrTokenInvalid},
		{"alg none with a signature", jtHSVerifier(), jtRaw(t, `{"alg":"none"}`, string(payloadJSON), []byte(jtSecret)), ErrTokenInvalid},
		{"HS256 with RSA PEM as secret, RS256-only verifier", rsOnly, confused, ErrTokenInvalid},
		{"HS256 with RSA PEM as secret, RS256+HS256 verifier without secret", rsAndHS, confused, ErrTokenInvalid},
		{"HS256 with RSA PEM as secret, RS256+HS256 verifier, key by kid", rsAndHSByKid, jtSign(t, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), k.rsaPEM, map[string]any{"kid": "rsa1"}), ErrTokenInvalid},
		{"HS256 with RSA DER as secret", rsAndHS, jtSign(t, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey), nil), ErrTokenInvalid},
		{"RS256 token against HS256-only verifier", jtHSVerifier(), jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, nil), ErrTokenInvalid},
		{"HS384 not in allowlist", jtHSVerifier(), jtSign(t, jwt.SigningMethodHS384, jtSas2pyClaims(jtNow), []byte(jtSecret), nil), ErrTokenInvalid},
		{"unknown alg", jtHSVerifier(), jtRaw(t, `{"alg":"HS999"}`, string(payloadJSON), []byte(jtSecret)), ErrTokenInvalid},
		{"alg header missing", jtHSVerifier(), jtRaw(t, `{"typ":"JWT"}`, string(payloadJSON), []byte(jtSecret)), ErrTokenInvalid},
		{"alg header not a string", jtHSVerifier(), jtRaw(t, `{"alg":256}`, string(payloadJSON), []byte(jtSecret)), ErrTokenInvalid},
		{"crit header", jtHSVerifier(), jtRaw(t, `{"alg":"HS256","crit":["exp"],"exp":1}`, string(payloadJSON), []byte(jtSecret)), ErrTokenInvalid},
		{"wrong secret", jtHSVerifier(), jtSign(t, jwt.SigningMethodHS256, jtSas2pyClaims(jtNow), []byte("dev-secret-key"), nil), ErrTokenInvalid},
		{"no algorithms configured", &JWSVerifier{HMACSecret: []byte(jtSecret), Now: jtClock}, good, ErrTokenInvalid},
		{"only unsupported algorithms configured", &JWSVerifier{Algorithms: []string{"none", "HS1"}, HMACSecret: []byte(jtSecret), Now: jtClock}, good, ErrTokenInvalid},
		{"expired", jtHSVerifier(), jtHS256(t, claimsWith("exp", jtNow.Add(-time.Minute).Unix())), ErrTokenExpired},
		{"nbf in the future", jtHSVerifier(), jtHS256(t, claimsWith("nbf", jtNow.Add(time.Hour).Unix())), ErrTokenNotYetValid},
		{"iat in the future", jtHSVerifier(), jtHS256(t, claimsWith("iat", jtNow.Add(time.Hour).Unix())), ErrTokenNotYetValid},
		{"tampered payload", jtHSVerifier(), goodParts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payloadJSON), `"sub":"admin"`, `"sub":"root!"`, 1))) + "." + goodParts[2], ErrTokenInvalid},
		{"tampered header", jtHSVerifier(), b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWS"}`)) + "." + goodParts[1] + "." + goodParts[2], ErrTokenInvalid},
		{"tampered signature", jtHSVerifier(), goodParts[0] + "." + goodParts[1] + "." + b64.EncodeToString(make([]byte, 32)), ErrTokenInvalid},
		{"empty signature", jtHSVerifier(), goodParts[0] + "." + goodParts[1] + ".", ErrTokenInvalid},
		{"truncated to 2 parts", jtHSVerifier(), goodParts[0] + "." + goodParts[1], ErrTokenMalformed},
		{"single part", jtHSVerifier(), goodParts[0], ErrTokenMalformed},
		{"four parts", jtHSVerifier(), good + ".x", ErrTokenMalformed},
		{"non-base64 header", jtHSVerifier(), "!!!." + goodParts[1] + "." + goodParts[2], ErrTokenMalformed},
		{"non-base64 payload", jtHSVerifier(), goodParts[0] + ".@@@@." + goodParts[2], ErrTokenMalformed},
		{"non-base64 signature", jtHSVerifier(), goodParts[0] + "." + goodParts[1] + ".***", ErrTokenMalformed},
		{"padded base64 segments", jtHSVerifier(), goodParts[0] + "=." + goodParts[1] + "." + goodParts[2], ErrTokenMalformed},
		{"header not JSON", jtHSVerifier(), b64.EncodeToString([]byte("alg=HS256")) + "." + goodParts[1] + "." + goodParts[2], ErrTokenMalformed},
		{"payload not an object", jtHSVerifier(), jtRaw(t, `{"alg":"HS256"}`, `[1,2,3]`, []byte(jtSecret)), ErrTokenMalformed},
		{"1 MB token", jtHSVerifier(), goodParts[0] + "." + huge + "." + goodParts[2], ErrTokenMalformed},
		{"wrong issuer", withIss, jtHS256(t, claimsWith("iss", "https://evil.example")), ErrIssuerAudience},
		{"missing issuer", withIss, good, ErrIssuerAudience},
		{"wrong audience", withAud, jtHS256(t, claimsWith("aud", []string{"someone-else"})), ErrIssuerAudience},
		{"missing audience", withAud, good, ErrIssuerAudience},
		{"audience of wrong type", withAud, jtHS256(t, claimsWith("aud", 42)), ErrIssuerAudience},
		{"exp required but missing", requireExp, jtHS256(t, claimsWith("exp", nil)), ErrTokenInvalid},
		{"expired beats wrong issuer", withIss, jtHS256(t, claimsWith("iss", "x", "exp", jtNow.Add(-time.Hour).Unix())), ErrTokenExpired},
		{"RS256 with unknown kid", rsAndHSByKid, jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": "rsa2"}), ErrUnknownKey},
		{"RS256 without kid and no wildcard key", rsAndHSByKid, jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, nil), ErrUnknownKey},
		{"kid not a string", rsAndHSByKid, jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": 7}), ErrTokenMalformed},
		{"RS256 signed by another key", rsOnly, jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsaNext, nil), ErrTokenInvalid},
		{"ES256 token but kid names an RSA key", esVerifier, jtSign(t, jwt.SigningMethodES256, jtSas2pyClaims(jtNow), k.p256, map[string]any{"kid": "rsa"}), ErrTokenInvalid},
		{"ES256 token but kid names a P-384 key", esVerifier, jtSign(t, jwt.SigningMethodES256, jtSas2pyClaims(jtNow), k.p256, map[string]any{"kid": "ec"}), ErrTokenInvalid},
		{"RS256 token but kid names an EC key", esVerifier, jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": "ec256"}), ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := tc.v.Verify(ctx, tc.token)
			if claims != nil {
				t.Errorf("claims returned alongside error: %v", claims)
			}
			jtRequireSentinel(t, err, tc.want)
			if len(tc.token) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tc.token)) {
				t.Errorf("error text contains the token")
			}
			if strings.Contains(err.Error(), jtSecret) {
				t.Errorf("error text contains the secret")
			}
		})
	}
}

func TestJWSVerifyOversizedTokenFailsFast(t *testing.T) {
	// A 1 MB token must be refused on its length, before base64 or JSON work.
	tok := "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("e", 1<<20) + ".sig"
	_, err := jtHSVerifier().Verify(context.Background(), tok)
	jtRequireSentinel(t, err, ErrTokenMalformed)
	if !strings.Contains(err.Error(), "16 KiB") {
		t.Errorf("error %q is not the size check", err)
	}
	// Decoding the megabyte would allocate about as much again; the size check allocates almost nothing.
	v := jtHSVerifier()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_, _ = v.Verify(context.Background(), tok)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("10 oversized tokens allocated %d bytes, want a reject before decoding", n)
	}
}

func TestJWSVerifyAsymmetric(t *testing.T) {
	k := jtKeys()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		priv   any
		pub    crypto.PublicKey
	}{
		{"RS256", jwt.SigningMethodRS256, k.rsa, &k.rsa.PublicKey},
		{"RS512", jwt.SigningMethodRS512, k.rsa, &k.rsa.PublicKey},
		{"PS256", jwt.SigningMethodPS256, k.rsa, &k.rsa.PublicKey},
		{"ES256", jwt.SigningMethodES256, k.p256, &k.p256.PublicKey},
		{"ES384", jwt.SigningMethodES384, k.p384, &k.p384.PublicKey},
		{"ES512", jwt.SigningMethodES512, k.p521, &k.p521.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.edPub},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/static by kid", func(t *testing.T) {
			v := &JWSVerifier{Algorithms: []string{tc.method.Alg()}, PublicKeys: map[string]crypto.PublicKey{"k1": tc.pub}, Now: jtClock}
			tok := jtSign(t, tc.method, jtSas2pyClaims(jtNow), tc.priv, map[string]any{"kid": "k1"})
			claims, err := v.Verify(context.Background(), tok)
			if err != nil || claims["key"] != jtConsumerKey {
				t.Fatalf("Verify = %v, %v", claims, err)
			}
		})
		t.Run(tc.name+"/static wildcard", func(t *testing.T) {
			v := &JWSVerifier{Algorithms: []string{tc.method.Alg()}, PublicKeys: map[string]crypto.PublicKey{"": tc.pub}, Now: jtClock}
			tok := jtSign(t, tc.method, jtSas2pyClaims(jtNow), tc.priv, nil)
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
		t.Run(tc.name+"/jwks", func(t *testing.T) {
			srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", tc.method.Alg(), tc.pub)))
			v := &JWSVerifier{Algorithms: []string{tc.method.Alg()}, JWKS: srv.jwks(t), Now: jtClock}
			tok := jtSign(t, tc.method, jtSas2pyClaims(jtNow), tc.priv, map[string]any{"kid": "k1"})
			claims, err := v.Verify(context.Background(), tok)
			if err != nil || claims["sub"] != "admin" {
				t.Fatalf("Verify = %v, %v", claims, err)
			}
			// Tampering must still be caught with JWKS keys.
			parts := strings.Split(tok, ".")
			bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root"}`)) + "." + parts[2]
			_, err = v.Verify(context.Background(), bad)
			jtRequireSentinel(t, err, ErrTokenInvalid)
		})
	}
}

func TestJWSVerifyKeyLookupOrder(t *testing.T) {
	k := jtKeys()
	// The JWKS holds rsaNext under kid "jw"; the static wildcard holds rsa.
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "jw", "", &k.rsaNext.PublicKey)))
	v := &JWSVerifier{
		Algorithms: []string{"RS256"},
		PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey},
		JWKS:       srv.jwks(t),
		Now:        jtClock,
	}
	tests := []struct {
		name string
		priv *rsa.PrivateKey
		kid  string
		want error
	}{
		{"jwks kid beats the wildcard", k.rsaNext, "jw", nil},
		{"unknown kid falls back to the wildcard", k.rsa, "other", nil},
		{"wildcard does not verify a jwks key's token under another kid", k.rsaNext, "other", ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), tc.priv, map[string]any{"kid": tc.kid})
			_, err := v.Verify(context.Background(), tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			jtRequireSentinel(t, err, tc.want)
		})
	}
}

// TestJWSCheckKey covers the key/algorithm family check directly: golang-jwt would reject most of
// these pairs too, but only by accident of signature lengths.
func TestJWSCheckKey(t *testing.T) {
	k := jtKeys()
	edPub := k.edPub
	tests := []struct {
		name string
		alg  string
		key  crypto.PublicKey
		ok   bool
	}{
		{"ES256 with P-256", "ES256", &k.p256.PublicKey, true},
		{"ES256 with P-384", "ES256", &k.p384.PublicKey, false},
		{"ES512 with P-521", "ES512", &k.p521.PublicKey, true},
		{"RS256 with RSA", "RS256", &k.rsa.PublicKey, true},
		{"PS384 with RSA", "PS384", &k.rsa.PublicKey, true},
		{"RS256 with nil RSA", "RS256", (*rsa.PublicKey)(nil), false},
		{"RS256 with RSA value", "RS256", k.rsa.PublicKey, false},
		{"RS256 with EC", "RS256", &k.p256.PublicKey, false},
		{"EdDSA with ed25519", "EdDSA", edPub, true},
		{"EdDSA with *ed25519", "EdDSA", &edPub, true},
		{"EdDSA with short key", "EdDSA", edPub[:16], false},
		{"EdDSA with RSA", "EdDSA", &k.rsa.PublicKey, false},
		{"HS256 never takes a public key", "HS256", &k.rsa.PublicKey, false},
		{"HS256 never takes PEM bytes", "HS256", k.rsaPEM, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jwsCheckKey(jwsAlgs[tc.alg], tc.key)
			if tc.ok {
				if err != nil || got == nil {
					t.Fatalf("jwsCheckKey = %v, %v; want the key", got, err)
				}
				return
			}
			jtRequireSentinel(t, err, ErrTokenInvalid)
		})
	}
}

func TestJWSVerifierValidate(t *testing.T) {
	k := jtKeys()
	tests := []struct {
		name    string
		v       JWSVerifier
		wantErr bool
	}{
		{"HS256 with secret", JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte("s")}, false},
		{"RS256 with static key", JWSVerifier{Algorithms: []string{"RS256"}, PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey}}, false},
		{"RS256 with JWKS", JWSVerifier{Algorithms: []string{"RS256"}, JWKS: &JWKS{URL: "https://example.com/jwks"}}, false},
		{"empty allowlist", JWSVerifier{HMACSecret: []byte("s")}, true},
		{"only none", JWSVerifier{Algorithms: []string{"none"}, HMACSecret: []byte("s")}, true},
		{"HS256 without secret", JWSVerifier{Algorithms: []string{"RS256", "HS256"}, PublicKeys: map[string]crypto.PublicKey{"": &k.rsa.PublicKey}}, true},
		{"ES256 without keys", JWSVerifier{Algorithms: []string{"ES256"}, HMACSecret: []byte("s")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestJWSUnverifiedClaimAndHeader(t *testing.T) {
	good := jtHS256(t, jtSas2pyClaims(jtNow))
	parts := strings.Split(good, ".")
	jwe, err := EncryptDir([]byte(`{"jwt":"x"}`), make([]byte, 32), "A256GCM", "kid-1", false)
	if err != nil {
		t.Fatalf("EncryptDir: %v", err)
	}
	tests := []struct {
		name       string
		token      string
		claim      string
		wantClaim  any
		claimErr   error
		wantKid    any
		headerErr  error
		wantHeader bool
	}{
		{name: "key claim", token: good, claim: "key", wantClaim: jtConsumerKey, wantHeader: true},
		{name: "number claim is float64", token: good, claim: "rate_limit", wantClaim: float64(100), wantHeader: true},
		{name: "absent claim", token: good, claim: "nope", wantClaim: nil, wantHeader: true},
		{name: "unsigned token still readable", token: parts[0] + "." + parts[1] + ".", claim: "key", wantClaim: jtConsumerKey, wantHeader: true},
		{name: "empty", token: "", claim: "key", claimErr: ErrTokenMissing, headerErr: ErrTokenMissing},
		{name: "garbage", token: "not a token", claim: "key", claimErr: ErrTokenMalformed, headerErr: ErrTokenMalformed},
		{name: "two parts", token: parts[0] + "." + parts[1], claim: "key", claimErr: ErrTokenMalformed, headerErr: ErrTokenMalformed},
		{name: "bad base64 payload", token: parts[0] + ".%%%." + parts[2], claim: "key", claimErr: ErrTokenMalformed, wantHeader: true},
		{name: "payload is an array", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".x", claim: "key", claimErr: ErrTokenMalformed, wantHeader: true},
		{name: "payload is null", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("null")) + ".x", claim: "key", claimErr: ErrTokenMalformed, wantHeader: true},
		{name: "header is a string", token: base64.RawURLEncoding.EncodeToString([]byte(`"x"`)) + "." + parts[1] + ".x", claim: "key", wantClaim: jtConsumerKey, headerErr: ErrTokenMalformed},
		{name: "JWE header readable, claims not", token: jwe, claim: "key", claimErr: ErrTokenMalformed, wantKid: "kid-1", wantHeader: true},
		{name: "oversized", token: parts[0] + "." + strings.Repeat("A", 20<<10) + ".x", claim: "key", claimErr: ErrTokenMalformed, headerErr: ErrTokenMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnverifiedClaim(tc.token, tc.claim)
			if tc.claimErr != nil {
				jtRequireSentinel(t, err, tc.claimErr)
			} else if err != nil || got != tc.wantClaim {
				t.Errorf("UnverifiedClaim = %#v, %v; want %#v", got, err, tc.wantClaim)
			}
			hdr, err := UnverifiedHeader(tc.token)
			switch {
			case tc.headerErr != nil:
				jtRequireSentinel(t, err, tc.headerErr)
			case err != nil:
				t.Errorf("UnverifiedHeader: %v", err)
			case tc.wantKid != nil && hdr["kid"] != tc.wantKid:
				t.Errorf("kid = %v, want %v", hdr["kid"], tc.wantKid)
			case !tc.wantHeader:
				t.Errorf("UnverifiedHeader = %v, want an error", hdr)
			}
		})
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := jtKeys()
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	pkixPEM := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatalf("marshalling: %v", err)
		}
		return pemOf("PUBLIC KEY", der)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jwt signer"},
		NotBefore: jtNow.Add(-time.Hour), NotAfter: jtNow.Add(-time.Minute), // expired: not our concern
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.p256.PublicKey, k.p256)
	if err != nil {
		t.Fatalf("creating certificate: %v", err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatalf("marshalling: %v", err)
	}
	ecParams := pemOf("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	tests := []struct {
		name    string
		data    []byte
		want    crypto.PublicKey
		wantErr bool
	}{
		{"PKIX RSA", k.rsaPEM, &k.rsa.PublicKey, false},
		{"PKCS1 RSA", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)), &k.rsa.PublicKey, false},
		{"PKIX P-256", pkixPEM(&k.p256.PublicKey), &k.p256.PublicKey, false},
		{"PKIX P-521", pkixPEM(&k.p521.PublicKey), &k.p521.PublicKey, false},
		{"PKIX Ed25519", pkixPEM(k.edPub), k.edPub, false},
		{"certificate", pemOf("CERTIFICATE", certDER), &k.p256.PublicKey, false},
		{"EC PARAMETERS block skipped", append(ecParams, pkixPEM(&k.p256.PublicKey)...), &k.p256.PublicKey, false},
		{"private key refused", pemOf("PRIVATE KEY", privDER), nil, true},
		{"RSA under 2048 bits refused", pkixPEM(&small.PublicKey), nil, true},
		{"not PEM", []byte("ssh-rsa AAAA..."), nil, true},
		{"empty", nil, nil, true},
		{"corrupt DER", pemOf("PUBLIC KEY", []byte{0x30, 0x03, 0x01}), nil, true},
		{"PKCS1 body in PUBLIC KEY block", pemOf("PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKeyPEM(tc.data)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidKeyMaterial) {
					t.Fatalf("ParsePublicKeyPEM = %v, %v; want ErrInvalidKeyMaterial", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM: %v", err)
			}
			eq, ok := got.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !eq.Equal(tc.want) {
				t.Fatalf("ParsePublicKeyPEM returned a different key: %T", got)
			}
		})
	}
}

// BenchmarkVerifyHS256 measures a cold verification (no cache) of a §4.2 sas2py token.
func BenchmarkVerifyHS256(b *testing.B) {
	v := jtHSVerifier()
	tok := jtHS256(b, jtSas2pyClaims(jtNow))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
