// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksTestServer serves a key set that tests can swap or break, and counts its hits.
type jwksTestServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	body   string
	status int
	hits   atomic.Int64
}

func newJWKSTestServer(t *testing.T, body string) *jwksTestServer {
	t.Helper()
	s := &jwksTestServer{body: body, status: http.StatusOK}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksTestServer) set(body string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// jwks returns a started JWKS on the server; its background loop ends with the test.
func (s *jwksTestServer) jwks(t *testing.T) *JWKS {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	j := &JWKS{URL: s.srv.URL, Client: s.srv.Client()}
	if err := j.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return j
}

// jtFakeClock is a settable clock for the refetch rate limit.
type jtFakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *jtFakeClock {
	c := &jtFakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *jtFakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *jtFakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwkFor renders a public key as a JWK with kid, alg ("" to omit) and use "sig".
func jwkFor(t testing.TB, kid, alg string, pub crypto.PublicKey) map[string]any {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		pt, err := k.Bytes()
		if err != nil {
			t.Fatalf("encoding EC key: %v", err)
		}
		size := (len(pt) - 1) / 2
		m["kty"], m["crv"], m["x"], m["y"] = "EC", k.Curve.Params().Name, b64(pt[1:1+size]), b64(pt[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(k)
	default:
		t.Fatalf("unsupported key %T", pub)
	}
	return m
}

func jwkSetJSON(t testing.TB, keys ...map[string]any) string {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatalf("marshalling jwks: %v", err)
	}
	return string(b)
}

func TestJWKSParseKeyTypes(t *testing.T) {
	k := jtKeys()
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for key, v := range m {
			out[key] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	rsaJWK := jwkFor(t, "r", "RS256", &k.rsa.PublicKey)
	p256JWK := jwkFor(t, "p256", "", &k.p256.PublicKey)
	edJWK := jwkFor(t, "ed", "EdDSA", k.edPub)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generating key: %v", err)
	}
	// Flip the y coordinate: the point leaves the curve.
	offCurve := with(p256JWK, "kid", "off")
	y, _ := base64.RawURLEncoding.DecodeString(offCurve["y"].(string))
	y[len(y)-1] ^= 1
	offCurve["y"] = base64.RawURLEncoding.EncodeToString(y)

	tests := []struct {
		name     string
		keys     []map[string]any
		wantKids []string // kids present after parsing; nil means parse error
		wantAlg  map[string]string
	}{
		{"RSA", []map[string]any{rsaJWK}, []string{"r"}, map[string]string{"r": "RS256"}},
		{"EC P-256, P-384, P-521", []map[string]any{p256JWK, jwkFor(t, "p384", "ES384", &k.p384.PublicKey), jwkFor(t, "p521", "ES512", &k.p521.PublicKey)}, []string{"p256", "p384", "p521"}, map[string]string{"p256": ""}},
		{"OKP Ed25519", []map[string]any{edJWK}, []string{"ed"}, nil},
		{"use enc skipped", []map[string]any{rsaJWK, with(edJWK, "use", "enc")}, []string{"r"}, nil},
		{"use absent accepted", []map[string]any{with(edJWK, "use", nil)}, []string{"ed"}, nil},
		{"key_ops without verify skipped", []map[string]any{rsaJWK, with(edJWK, "key_ops", []string{"encrypt"})}, []string{"r"}, nil},
		{"key_ops with verify accepted", []map[string]any{with(edJWK, "key_ops", []string{"verify"})}, []string{"ed"}, nil},
		{"unknown kty ignored", []map[string]any{rsaJWK, {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}, {"kty": "PQC", "kid": "future"}}, []string{"r"}, nil},
		{"OKP X25519 ignored", []map[string]any{rsaJWK, with(edJWK, "crv", "X25519", "kid", "x")}, []string{"r"}, nil},
		{"EC point off the curve skipped", []map[string]any{rsaJWK, offCurve}, []string{"r"}, nil},
		{"EC short coordinate skipped", []map[string]any{rsaJWK, with(p256JWK, "kid", "short", "x", "AQ")}, []string{"r"}, nil},
		{"EC unknown curve skipped", []map[string]any{rsaJWK, with(p256JWK, "kid", "k1", "crv", "secp256k1")}, []string{"r"}, nil},
		{"RSA under 2048 bits skipped", []map[string]any{edJWK, jwkFor(t, "small", "", &small.PublicKey)}, []string{"ed"}, nil},
		{"RSA bad base64 skipped", []map[string]any{edJWK, with(rsaJWK, "n", "***")}, []string{"ed"}, nil},
		{"RSA even exponent skipped", []map[string]any{edJWK, with(rsaJWK, "e", "Ag")}, []string{"ed"}, nil},
		{"padded base64 tolerated", []map[string]any{with(edJWK, "x", base64.URLEncoding.EncodeToString(k.edPub))}, []string{"ed"}, nil},
		{"duplicate kid keeps the first", []map[string]any{rsaJWK, with(edJWK, "kid", "r")}, []string{"r"}, map[string]string{"r": "RS256"}},
		{"no usable key is an error", []map[string]any{with(edJWK, "use", "enc")}, nil, nil},
		{"empty set is an error", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := parseJWKS([]byte(jwkSetJSON(t, tc.keys...)))
			if tc.wantKids == nil {
				if err == nil {
					t.Fatalf("parseJWKS succeeded with %d keys, want an error", len(set.keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if len(set.keys) != len(tc.wantKids) {
				t.Errorf("got %d keys, want %v", len(set.keys), tc.wantKids)
			}
			for _, kid := range tc.wantKids {
				got, ok := set.lookup(kid)
				if !ok {
					t.Errorf("kid %q missing", kid)
					continue
				}
				if want, ok := tc.wantAlg[kid]; ok && got.alg != want {
					t.Errorf("kid %q alg = %q, want %q", kid, got.alg, want)
				}
			}
		})
	}

	t.Run("not JSON", func(t *testing.T) {
		if _, err := parseJWKS([]byte("<html>")); err == nil {
			t.Fatal("parseJWKS accepted HTML")
		}
	})
}

func TestJWKSEmptyKidLookup(t *testing.T) {
	k := jtKeys()
	one, err := parseJWKS([]byte(jwkSetJSON(t, jwkFor(t, "only", "", k.edPub))))
	if err != nil {
		t.Fatalf("parseJWKS: %v", err)
	}
	two, err := parseJWKS([]byte(jwkSetJSON(t, jwkFor(t, "a", "", k.edPub), jwkFor(t, "b", "", &k.p256.PublicKey))))
	if err != nil {
		t.Fatalf("parseJWKS: %v", err)
	}
	tests := []struct {
		name string
		set  *jwksSet
		kid  string
		want bool
	}{
		{"single key serves empty kid", one, "", true},
		{"two keys do not serve empty kid", two, "", false},
		{"nil set", nil, "a", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.set.lookup(tc.kid); ok != tc.want {
				t.Fatalf("lookup(%q) = %v, want %v", tc.kid, ok, tc.want)
			}
		})
	}
}

func TestJWKSRotation(t *testing.T) {
	k := jtKeys()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newFakeClock(jtNow)
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", "RS256", &k.rsa.PublicKey)))
	const minRefetch = 30 * time.Second
	j := &JWKS{URL: srv.srv.URL, Client: srv.srv.Client(), Refresh: time.Hour, MinRefetch: minRefetch, Now: clock.Now}
	if err := j.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	v := &JWSVerifier{Algorithms: []string{"RS256"}, JWKS: j, Now: jtClock}
	tok1 := jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": "k1"})
	tok2 := jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsaNext, map[string]any{"kid": "k2"})
	wantHits := func(step string, n int64) {
		t.Helper()
		if got := srv.hits.Load(); got != n {
			t.Fatalf("%s: server hits = %d, want %d", step, got, n)
		}
	}
	wantHits("after Start", 1)

	// Cached: verifying many times does not touch the server.
	for range 20 {
		if _, err := v.Verify(ctx, tok1); err != nil {
			t.Fatalf("Verify k1: %v", err)
		}
	}
	wantHits("cached k1", 1)

	// The issuer rotates to k2.
	srv.set(jwkSetJSON(t, jwkFor(t, "k2", "RS256", &k.rsaNext.PublicKey)), http.StatusOK)

	// Within MinRefetch of the Start fetch, the unknown kid may not refetch.
	_, err := v.Verify(ctx, tok2)
	jtRequireSentinel(t, err, ErrUnknownKey)
	wantHits("k2 within MinRefetch", 1)

	// Past MinRefetch: many concurrent requests with the new kid cause exactly one refetch, and all
	// pass, including those that waited while another request fetched.
	clock.Advance(minRefetch + time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(ctx, tok2)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Verify k2 after refetch: %v", err)
		}
	}
	wantHits("k2 refetch", 2)

	// The old kid is gone from the set now, and its refetch is rate-limited.
	_, err = v.Verify(ctx, tok1)
	jtRequireSentinel(t, err, ErrUnknownKey)
	wantHits("k1 after rotation", 2)

	// A flood of random kids within MinRefetch costs no fetch at all...
	jtFlood(t, j, 200)
	wantHits("flood within MinRefetch", 2)

	// ...and past MinRefetch, a concurrent flood costs exactly one.
	clock.Advance(minRefetch + time.Second)
	jtFlood(t, j, 200)
	wantHits("flood after MinRefetch", 3)

	// k2 still verifies, served from the cache.
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatalf("Verify k2: %v", err)
	}
	wantHits("k2 cached", 3)
}

// jtFlood asks for n distinct unknown kids concurrently; every lookup must fail with ErrUnknownKey.
func jtFlood(t *testing.T, j *JWKS, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, _, err := j.Key(context.Background(), fmt.Sprintf("attacker-%d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || !errors.Is(err, ErrUnknownKey) || jtSentinelCount(err) != 1 {
			t.Fatalf("unknown kid lookup: %v, want only ErrUnknownKey", err)
		}
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	k := jtKeys()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", "", &k.rsa.PublicKey)))
	var refreshErrs atomic.Int64
	j := &JWKS{
		URL: srv.srv.URL, Client: srv.srv.Client(), Refresh: 10 * time.Millisecond, MinRefetch: time.Hour,
		OnRefreshError: func(error) { refreshErrs.Add(1) },
	}
	if err := j.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := j.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	hasKid := func(kid string) bool { _, ok := j.set.Load().lookup(kid); return ok }

	// A failing refresh keeps the previous set and reports the error.
	srv.set("internal error", http.StatusInternalServerError)
	waitFor("a failed refresh", func() bool { return refreshErrs.Load() >= 2 })
	if key, _, err := j.Key(ctx, "k1"); err != nil || key == nil {
		t.Fatalf("k1 lost after failed refresh: %v", err)
	}

	// A refresh that yields no usable key also keeps the previous set.
	srv.set(jwkSetJSON(t), http.StatusOK)
	before := refreshErrs.Load()
	waitFor("an empty-set refresh", func() bool { return refreshErrs.Load() >= before+2 })
	if !hasKid("k1") {
		t.Fatal("k1 lost after empty refresh")
	}

	// Rotation: the next refresh drops k1 and brings k2, without any unknown-kid refetch.
	srv.set(jwkSetJSON(t, jwkFor(t, "k2", "", &k.rsaNext.PublicKey)), http.StatusOK)
	waitFor("k2 to appear", func() bool { return hasKid("k2") })
	if hasKid("k1") {
		t.Fatal("k1 still present after the refresh that removed it")
	}
	_, _, err := j.Key(ctx, "k1")
	jtRequireSentinel(t, err, ErrUnknownKey)

	// After ctx is done the loop stops: hits stay put.
	cancel()
	time.Sleep(30 * time.Millisecond)
	n := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if got := srv.hits.Load(); got != n {
		t.Fatalf("refresh loop still running after cancel: %d → %d hits", n, got)
	}
}

func TestJWKSFailures(t *testing.T) {
	k := jtKeys()
	good := jwkSetJSON(t, jwkFor(t, "k1", "", &k.rsa.PublicKey))
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"server error", "oops", http.StatusInternalServerError},
		{"not found", "", http.StatusNotFound},
		{"not JSON", "<html></html>", http.StatusOK},
		{"body over 1 MiB", `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusOK},
		{"no usable keys", jwkSetJSON(t, map[string]any{"kty": "oct", "k": "AA"}), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/Start fails", func(t *testing.T) {
			srv := newJWKSTestServer(t, tc.body)
			srv.set(tc.body, tc.status)
			j := &JWKS{URL: srv.srv.URL, Client: srv.srv.Client()}
			if err := j.Start(context.Background()); err == nil {
				t.Fatal("Start succeeded")
			}
		})
		t.Run(tc.name+"/refresh keeps the old set", func(t *testing.T) {
			srv := newJWKSTestServer(t, good)
			clock := newFakeClock(jtNow)
			j := &JWKS{URL: srv.srv.URL, Client: srv.srv.Client(), Now: clock.Now}
			if err := j.refresh(context.Background()); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			srv.set(tc.body, tc.status)
			if err := j.refresh(context.Background()); err == nil {
				t.Fatal("refresh succeeded on a bad response")
			}
			if _, _, err := j.Key(context.Background(), "k1"); err != nil {
				t.Fatalf("k1 lost: %v", err)
			}
			// An unknown kid refetches (past MinRefetch), fails, and reports ErrUnknownKey.
			clock.Advance(time.Minute)
			_, _, err := j.Key(context.Background(), "k9")
			jtRequireSentinel(t, err, ErrUnknownKey)
		})
	}

	t.Run("bad URL", func(t *testing.T) {
		for _, u := range []string{"", "ftp://x/jwks", "/relative", "http://"} {
			if err := (&JWKS{URL: u}).Start(context.Background()); err == nil {
				t.Errorf("Start(%q) succeeded", u)
			}
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := newJWKSTestServer(t, good)
		srv.srv.Close()
		j := &JWKS{URL: srv.srv.URL}
		if err := j.Start(context.Background()); err == nil {
			t.Fatal("Start succeeded against a closed server")
		}
		_, _, err := j.Key(context.Background(), "k1")
		jtRequireSentinel(t, err, ErrUnknownKey)
	})
}

func TestJWKSLazyAndCancelled(t *testing.T) {
	k := jtKeys()
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", "", &k.rsa.PublicKey)))
	j := &JWKS{URL: srv.srv.URL, Client: srv.srv.Client()}

	// A cancelled context fails with ErrUnknownKey and does not use up the refetch budget.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := j.Key(ctx, "k1")
	jtRequireSentinel(t, err, ErrUnknownKey)

	// Without Start, the first lookup fetches lazily.
	key, _, err := j.Key(context.Background(), "k1")
	if err != nil || key == nil {
		t.Fatalf("lazy Key: %v", err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("server hits = %d, want 1", got)
	}
}

func TestJWKSAlgBinding(t *testing.T) {
	k := jtKeys()
	// The JWK says RS384; an RS256 token signed by the same key must not pass (RFC 7517 §4.4).
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", "RS384", &k.rsa.PublicKey)))
	v := &JWSVerifier{Algorithms: []string{"RS256", "RS384"}, JWKS: srv.jwks(t), Now: jtClock}
	tests := []struct {
		name   string
		method jwt.SigningMethod
		want   error
	}{
		{"matching alg", jwt.SigningMethodRS384, nil},
		{"other alg", jwt.SigningMethodRS256, ErrTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := jtSign(t, tc.method, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": "k1"})
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

func TestJWKSWrongKidViaVerify(t *testing.T) {
	k := jtKeys()
	srv := newJWKSTestServer(t, jwkSetJSON(t, jwkFor(t, "k1", "", &k.rsa.PublicKey), jwkFor(t, "k2", "", &k.p256.PublicKey)))
	v := &JWSVerifier{Algorithms: []string{"RS256"}, JWKS: srv.jwks(t), Now: jtClock}
	tok := jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, map[string]any{"kid": "nope"})
	_, err := v.Verify(context.Background(), tok)
	jtRequireSentinel(t, err, ErrUnknownKey)
	// Without kid the two-key set cannot choose either.
	tok = jtSign(t, jwt.SigningMethodRS256, jtSas2pyClaims(jtNow), k.rsa, nil)
	_, err = v.Verify(context.Background(), tok)
	jtRequireSentinel(t, err, ErrUnknownKey)
}
