// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/examples/jwtservice"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// e2eCase names a corpus: the JWT service's users and API keys, and the manifest whose jwt_config
// modules the broker serves, with what the tokens must carry.
type e2eCase struct {
	jwtDir, manifestDir, manifest string
	authModule, jweModule         string
	apiKey                        string // a key file with a dynamic "quota" claim, which the broker must not pass on
	key, project                  string
	rateLimit                     float64
	lifetime                      time.Duration
}

// TestTokenEndToEnd runs the broker against the fake JWT service, with FD2's corpus: codeconv's jwt_config
// modules, resolved as the Control Tower serves them with resolve_env=true.
func TestTokenEndToEnd(t *testing.T) {
	checkTokenEndToEnd(t, e2eCase{jwtDir: testfixtures.JWTService(), manifestDir: testfixtures.Manifests(), manifest: "codeconv",
		authModule: "auth", jweModule: "jwe-auth", apiKey: "ak_llm_3h",
		key: "codeconv-consumer-key", project: "codeconv", rateLimit: 60, lifetime: 2 * time.Hour})
}

// TestInteropTokenEndToEnd is the same with the platform's users, API keys and sas2py manifest.
func TestInteropTokenEndToEnd(t *testing.T) {
	dir := testfixtures.Platform(t)
	checkTokenEndToEnd(t, e2eCase{jwtDir: filepath.Join(dir, "jwt-service"), manifestDir: filepath.Join(dir, "control-tower", "manifests"),
		manifest: "sas2py", authModule: "auth", jweModule: "jwe-auth", apiKey: "api_key_groq_0987654321",
		key: "sas2py-consumer-key", project: "sas2py", rateLimit: 100, lifetime: time.Hour})
}

// corpusModule returns a jwt_config module's config from a resolved corpus manifest, its service_url
// pointed at base.
func corpusModule(t *testing.T, dir, file, module, base string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, file+".json"))
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(resolved)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := m.Module(module).DecodeConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg["service_url"] = base
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkTokenEndToEnd(t *testing.T, c e2eCase) {
	t.Helper()
	svc, err := jwtservice.New(jwtservice.Options{UsersFile: filepath.Join(c.jwtDir, "users.yaml"), APIKeysDir: filepath.Join(c.jwtDir, "api_keys")})
	if err != nil {
		t.Fatalf("jwtservice.New: %v", err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	auth := corpusModule(t, c.manifestDir, c.manifest, c.authModule, srv.URL)
	jweAuth := corpusModule(t, c.manifestDir, c.manifest, c.jweModule, srv.URL)

	var b Broker
	t.Run("auth module", func(t *testing.T) {
		res, err := b.Token(context.Background(), auth, []byte(`{"username":"admin","password":"password","api_key":"`+c.apiKey+`"}`))
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
			// The module's claims, not the client's api_key (the broker drops it): no "quota" claim.
			if claims["sub"] != "admin" || claims["key"] != c.key || claims["rate_limit"] != c.rateLimit ||
				claims["project"] != c.project || claims["environment"] != "development" || claims["quota"] != nil {
				t.Errorf("claims = %v", claims)
			}
			if claims["type"] == "access" {
				exp, _ := claims.GetExpirationTime()
				iat, _ := claims.GetIssuedAt()
				if exp == nil || iat == nil || exp.Sub(iat.Time) != c.lifetime {
					t.Errorf("access lifetime = %v - %v, want %v", exp, iat, c.lifetime)
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
		res, err := b.Token(context.Background(), auth, []byte(`{"username":"admin","password":"nope"}`))
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
