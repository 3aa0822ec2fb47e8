// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/examples/jwtservice"
)

const fixtures = "../../../shared/fixtures/dsp-platform/jwt-service/"

// TestTokenEndToEnd runs the broker against the fake JWT service with the sas2py manifest's jwt_config
// modules, as the Control Tower serves them with resolve_env=true (literal values in place of
// ${environment} and the environments lookups).
func TestTokenEndToEnd(t *testing.T) {
	svc, err := jwtservice.New(jwtservice.Options{UsersFile: fixtures + "users.yaml", APIKeysDir: fixtures + "api_keys"})
	if err != nil {
		t.Fatalf("jwtservice.New: %v", err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)

	jweAuth := json.RawMessage(`{"secret_key":null,"algorithm":"HS256","expiration_minutes":30,"issuer":null,"audience":null,
		"refresh_token_enabled":true,"id":"jwe-jwt-config","owner":"SAS2PY Team","service_url":"` + srv.URL + `",
		"claims":{"static":{"key":"sas2py-jwe-consumer-key","rate_limit":100,"project":"sas2py","environment":"development","exp_hours":1,"groq_api_key":"gsk_test"}},
		"jwe_config":{"enabled":true,"encryption_key":"key-length-should-be-32-chars123","algorithm":"dir","encryption":"A256GCM","compression":null}}`)

	var b Broker
	t.Run("auth module", func(t *testing.T) {
		res, err := b.Token(context.Background(), moduleConfig(srv.URL), []byte(`{"username":"admin","password":"password","api_key":"api_key_groq_0987654321"}`))
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if res.Status != http.StatusOK || res.ContentType != "application/json" {
			t.Fatalf("Result = %d %q %s", res.Status, res.ContentType, res.Body)
		}
		var out struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
		}
		if err := json.Unmarshal(res.Body, &out); err != nil {
			t.Fatalf("decoding %s: %v", res.Body, err)
		}
		for _, tok := range []string{out.Access, out.Refresh} {
			claims := jwt.MapClaims{}
			_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(jwtservice.DefaultSecret), nil },
				jwt.WithValidMethods([]string{"HS256"}))
			if err != nil {
				t.Fatalf("verifying token: %v", err)
			}
			// The module's claims, not the client's api_key (the broker drops it): no groq "quota" claim.
			if claims["sub"] != "admin" || claims["key"] != "sas2py-consumer-key" || claims["rate_limit"] != 100.0 ||
				claims["project"] != "sas2py" || claims["environment"] != "development" || claims["quota"] != nil {
				t.Errorf("claims = %v", claims)
			}
			if claims["type"] == "access" {
				exp, _ := claims.GetExpirationTime()
				iat, _ := claims.GetIssuedAt()
				if exp == nil || iat == nil || exp.Sub(iat.Time) != time.Hour {
					t.Errorf("access lifetime = %v - %v, want 1h", exp, iat)
				}
			}
		}
	})
	t.Run("jwe-auth module", func(t *testing.T) {
		res, err := b.Token(context.Background(), jweAuth, []byte(`{"username":"admin","password":"password"}`))
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		var out map[string]any
		if err := json.Unmarshal(res.Body, &out); err != nil {
			t.Fatalf("decoding %s: %v", res.Body, err)
		}
		if res.Status != http.StatusOK || out["token_type"] != "JWE" || out["encryption"] != "A256GCM" {
			t.Errorf("Result = %d %v", res.Status, out)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		res, err := b.Token(context.Background(), moduleConfig(srv.URL), []byte(`{"username":"admin","password":"nope"}`))
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if want := `{"detail":{"error":"Invalid username or password"}}`; res.Status != 401 || string(res.Body) != want {
			t.Errorf("Result = %d %s, want 401 %s", res.Status, res.Body, want)
		}
	})
	if n := svc.Requests(); n != 3 {
		t.Errorf("service got %d token requests, want 3", n)
	}
}
