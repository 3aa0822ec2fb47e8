// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
)

const optsSecret = "unit-opts-secret"

// hs256 signs claims with secret; a nil value deletes the default claim.
func hs256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"key": "opts-key", "sub": "u", "iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statusOf(err error) int {
	if err == nil {
		return 200
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return -1
}

// TestConsumerIndexPerOptions (issue 12 #10, #14): handlers with different leeway or require_exp that meet
// the same compiled consumers each verify with their own options. A token admitted (and cached) under lax
// options is still refused under strict ones.
func TestConsumerIndexPerOptions(t *testing.T) {
	cons, err := DecodeConsumers([]manifest.Consumer{{Username: "opts-consumer",
		Plugins: manifest.Plugins{"jwt-auth": []byte(`{"key":"opts-key","secret":"` + optsSecret + `"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := DecodeRoutePolicy([]string{"jwt-auth"}, manifest.Plugins{"jwt-auth": []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	expired := hs256(t, optsSecret, map[string]any{"exp": time.Now().Add(-30 * time.Second).Unix()})
	noExp := hs256(t, optsSecret, map[string]any{"exp": nil})
	strict := VerifyOptions{Leeway: 5 * time.Second, CacheSize: 100}
	lax := VerifyOptions{Leeway: 2 * time.Minute, CacheSize: 100}
	needsExp := VerifyOptions{Leeway: 2 * time.Minute, RequireExp: true, CacheSize: 100}
	cases := []struct {
		name  string
		o     VerifyOptions
		token string
		want  int
	}{
		{"leeway 5s refuses a token expired 30s ago", strict, expired, 401},
		{"leeway 2m then accepts it", lax, expired, 200},
		{"leeway 5s still refuses it", strict, expired, 401},
		{"exp optional: accepted", lax, noExp, 200},
		{"exp optional: accepted again (cached)", lax, noExp, 200},
		{"exp required: refused despite the cached verification", needsExp, noExp, 401},
		{"exp required: a token with exp passes", needsExp, expired, 200},
		{"exp optional, leeway 5s: no exp passes", strict, noExp, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/opts/r", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			_, err := cons.Authenticate(r, "opts", pol, tc.o)
			if got := statusOf(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}

// TestJWTAuthConsumerKeys: a route restricted to some consumers' keys (a rag_service module's
// jwt_module_reference) refuses another consumer of the project with 403, also once that consumer's token
// is in the verification cache; hide_credentials applies to cached tokens too.
func TestJWTAuthConsumerKeys(t *testing.T) {
	cons, err := DecodeConsumers([]manifest.Consumer{
		{Username: "kb", Plugins: manifest.Plugins{"jwt-auth": []byte(`{"key":"kb-key","secret":"` + optsSecret + `"}`)}},
		{Username: "other", Plugins: manifest.Plugins{"jwt-auth": []byte(`{"key":"opts-key","secret":"` + optsSecret + `"}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	open, err := DecodeRoutePolicy([]string{"jwt-auth"}, manifest.Plugins{"jwt-auth": []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	only, err := DecodeRoutePolicy([]string{"jwt-auth"}, manifest.Plugins{"jwt-auth": []byte(`{"fd2_consumer_keys":["kb-key"],"hide_credentials":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	kb := hs256(t, optsSecret, map[string]any{"key": "kb-key"})
	other := hs256(t, optsSecret, nil)
	o := VerifyOptions{CacheSize: 100}
	for _, tc := range []struct {
		name  string
		pol   *RoutePolicy
		token string
		want  int
	}{
		{"other consumer on an open route (now cached)", open, other, 200},
		{"other consumer on the restricted route", only, other, 403},
		{"restricted route's consumer", only, kb, 200},
		{"restricted route's consumer, cached", only, kb, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/p/kb/query", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			p, err := cons.Authenticate(r, "p", tc.pol, o)
			if got := statusOf(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if err == nil && tc.pol == only && (p.Consumer != "kb" || r.Header.Get("Authorization") != "") {
				t.Errorf("consumer %q, Authorization left %q", p.Consumer, r.Header.Get("Authorization"))
			}
		})
	}
}

// TestInnerJWSRequireExp: the JWT inside a jwe-decrypt token, verified with the JWT service's secret,
// follows require_exp as jwt-auth routes do.
func TestInnerJWSRequireExp(t *testing.T) {
	noExp := hs256(t, "svc-secret", map[string]any{"exp": nil, "key": nil})
	cons, err := DecodeConsumers(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		requireExp bool
		wantErr    bool
	}{{false, false}, {true, true}} {
		o := VerifyOptions{RequireExp: tc.requireExp, ServiceSecret: "svc-secret"}
		_, err := cons.verifyInner(context.Background(), cons.with(o), o, noExp)
		if (err != nil) != tc.wantErr {
			t.Fatalf("require_exp %v: err %v", tc.requireExp, err)
		}
	}
}

// TestDecodeErrorsNameTheFault: consumer and route configs that cannot be used are load-time errors naming
// the consumer or plugin.
func TestDecodeErrorsNameTheFault(t *testing.T) {
	_, err := DecodeConsumers([]manifest.Consumer{{Username: "alice", Plugins: manifest.Plugins{"jwt-auth": []byte(`{"key":"k"}`)}}})
	if err == nil || !containsAll(err.Error(), `"alice"`, "jwt-auth", "secret") {
		t.Fatalf("consumer without secret: %v", err)
	}
	if _, err := DecodeRoutePolicy([]string{"basic-auth"}, nil); err == nil || !containsAll(err.Error(), "basic-auth") {
		t.Fatalf("basic-auth: %v", err)
	}
	if _, err := DecodeRoutePolicy([]string{"key-auth"}, manifest.Plugins{"key-auth": []byte(`{"header":7}`)}); err == nil || !containsAll(err.Error(), "key-auth") {
		t.Fatalf("bad key-auth: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestTokenFromAndBearer(t *testing.T) {
	cfg := &JWTAuth{Header: "Authorization", Query: "jwt", Cookie: "jwt"}
	r := httptest.NewRequest("GET", "/?jwt=q", nil)
	r.AddCookie(&http.Cookie{Name: "jwt", Value: "c"})
	if tokenFrom(r, cfg) != "q" {
		t.Fatal("query before cookie")
	}
	r.Header.Set("Authorization", "bearer  h ")
	if tokenFrom(r, cfg) != "h" {
		t.Fatal("header first, Bearer case-insensitive")
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: "jwt", Value: "c"})
	if tokenFrom(r, cfg) != "c" {
		t.Fatal("cookie last")
	}
}

func TestKeyAuth(t *testing.T) {
	cons := &Consumers{keyAuth: map[[32]byte]string{sha256.Sum256([]byte("k-1")): "alice"}}
	cfg := &KeyAuth{Header: "apikey", Query: "apikey", Hide: true}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("apikey", "k-1")
	p, err := cons.keyAuthenticate(r, cfg)
	if err != nil || p.Consumer != "alice" || r.Header.Get("apikey") != "" {
		t.Fatalf("p=%v err=%v hidden=%q", p, err, r.Header.Get("apikey"))
	}
	for _, bad := range []string{"", "k-2"} {
		r := httptest.NewRequest("GET", "/?apikey="+bad, nil)
		_, err := cons.keyAuthenticate(r, cfg)
		if statusOf(err) != 401 {
			t.Fatalf("key %q: %v", bad, err)
		}
	}
}

// TestStaticPolicyExp: a static policy refuses a token without exp when its verifier requires exp; a
// present exp is checked either way.
func TestStaticPolicyExp(t *testing.T) {
	const secret = "unit-static-secret"
	noExp := hs256(t, secret, map[string]any{"exp": nil})
	expired := hs256(t, secret, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	fresh := hs256(t, secret, nil)
	for _, tc := range []struct {
		name       string
		requireExp bool
		token      string
		want       int
	}{
		{"required: no exp refused", true, noExp, 401},
		{"required: exp accepted", true, fresh, 200},
		{"optional: no exp accepted", false, noExp, 200},
		{"optional: expired refused", false, expired, 401},
		{"optional: exp accepted", false, fresh, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &StaticPolicy{JWT: &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte(secret), RequireExp: tc.requireExp},
				Cache: NewTokenCache(10, time.Minute, nil)}
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			_, err := s.Authenticate(r)
			if got := statusOf(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}
