// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package jwtservice

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// jwtCorpus names what the tests need in one set of JWT-service fixture files (users.yaml, api_keys/):
// FD2's own corpus, or the platform's in the interop tests.
type jwtCorpus struct {
	dir                      string
	adminName, adminEmail    string // admin's claims in users.yaml (password "password")
	tier1User, tier1Password string // a user in groups users and grp_tier1
	base                     map[string]any
	key3h, key24h            string // key files with exp_hours 3 and 24
	topLevelExp              string // a key file whose exp_hours is top-level, not a claim
	named                    string
	namedWant                map[string]any
	functionKey              string // quota and model_access function claims
	tiered                   string // api and unknown function claims, metadata
	tieredWant               map[string]any
	formula                  string
	formulaWant              map[string]any
	jweKeyFile, jweKey       string // a JWE key file with DEF compression and its base64 key
	jweWant                  map[string]any
}

// ownCorpus is FD2's testdata/platform/jwt-service.
var ownCorpus = jwtCorpus{
	dir: testfixtures.JWTService(), adminName: "Gateway Administrator", adminEmail: "admin@corp.example",
	tier1User: "analyst", tier1Password: "analyst-pass",
	base: map[string]any{
		"models": []any{"corpus-small-8b"}, "rate_limit": 10.0, "tier": "free",
		"usage": map[string]any{"remaining_tokens": 10000.0, "reset_date": "2025-06-01"},
	},
	key3h: "ak_llm_3h", key24h: "ak_all_24h", topLevelExp: "ak_codeconv",
	named: "ak_codeconv", namedWant: map[string]any{
		"key": "codeconv-key", "tier": "standard", "rate_limit": 60.0, "project": "codeconv", "environment": "development",
		"models": []any{"corpus-large-70b", "corpus-small-8b"},
	},
	functionKey: "ak_llm_3h", tiered: "ak_tiered", tieredWant: map[string]any{"key": "ak_tiered", "tier": "enterprise"},
	formula: "ak_formula", formulaWant: map[string]any{"tier": "premium", "rate_limit": 90.0},
	jweKeyFile: "ak_jwe_demo", jweKey: ownJWEKey,
	jweWant: map[string]any{"security_level": "high", "tier": "enterprise", "rate_limit": 20.0},
}

// platformCorpus is the platform's own jwt-service fixtures (interop suite).
func platformCorpus(t *testing.T) jwtCorpus {
	return jwtCorpus{
		dir: testfixtures.PlatformJWTService(t), adminName: "Administrator", adminEmail: "admin@example.com",
		tier1User: "hk", tier1Password: "password",
		base: map[string]any{
			"models": []any{"gpt-3.5-turbo"}, "rate_limit": 20.0, "tier": "standard",
			"usage": map[string]any{"remaining_tokens": 10000.0, "reset_date": "2025-06-01"},
		},
		key3h: "api_key_groq_0987654321", key24h: "api_key_all_1357924680", topLevelExp: "api_key_sas2py",
		named: "api_key_sas2py", namedWant: map[string]any{
			"key": "sas2py-key", "tier": "standard", "rate_limit": 100.0, "project": "sas2py", "environment": "development",
			"models": []any{"llama-3.1-70b-versatile", "llama-3.1-8b-instant"},
		},
		functionKey: "api_key_groq_0987654321", tiered: "ak_tiered_model_exec",
		tieredWant: map[string]any{"key": "ak_tiered_model_exec", "tier": "enterprise"},
		formula:    "formula_test_key", formulaWant: map[string]any{"tier": "premium", "rate_limit": 120.0},
		jweKeyFile: "api_key_jwe_example", jweKey: jweExampleKey,
		jweWant: map[string]any{"security_level": "high", "tier": "enterprise", "rate_limit": 50.0},
	}
}

func (c jwtCorpus) users() string   { return filepath.Join(c.dir, "users.yaml") }
func (c jwtCorpus) apiKeys() string { return filepath.Join(c.dir, "api_keys") }

// testNow is the fixed clock of the tests. The half second checks that iat/exp are truncated like PyJWT.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.UTC)

// authConfig is the sas2py "auth" jwt_config module as the Control Tower serves it with resolve_env=true
// (pydantic defaults filled in, ${environment} resolved), minus service_url: what FD2's broker sends.
const authConfig = `{"secret_key":null,"algorithm":"HS256","expiration_minutes":30,"issuer":null,"audience":null,
"refresh_token_enabled":true,"id":"jwt-config","owner":"SAS2PY Team",
"claims":{"static":{"key":"sas2py-consumer-key","rate_limit":100,"project":"sas2py","environment":"development","exp_hours":1}},
"jwe_config":null}`

// jweAuthConfig is the sas2py "jwe-auth" module, resolved the same way (the development jwe_encryption_key,
// a literal Groq key standing in for config:api_keys.groq).
const jweAuthConfig = `{"secret_key":null,"algorithm":"HS256","expiration_minutes":30,"issuer":null,"audience":null,
"refresh_token_enabled":true,"id":"jwe-jwt-config","owner":"SAS2PY Team",
"claims":{"static":{"key":"sas2py-jwe-consumer-key","rate_limit":100,"project":"sas2py","environment":"development","exp_hours":1,"groq_api_key":"gsk_test_groq_key"}},
"jwe_config":{"enabled":true,"encryption_key":"key-length-should-be-32-chars123","algorithm":"dir","encryption":"A256GCM","compression":null}}`

// jweExampleKey is the encryption_key of the platform's api_keys/api_key_jwe_example.yaml.
const jweExampleKey = "pArpqi3lKdqdBOArPb5l0+hOM2LZSX51Dvta4IoiAYM="

// ownJWEKey is the encryption_key of FD2's corpus api_keys/ak_jwe_demo.yaml.
const ownJWEKey = "ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGCg4Q="

func newTestServer(t *testing.T) *Server {
	t.Helper()
	return newCorpusServer(t, ownCorpus)
}

func newCorpusServer(t *testing.T, c jwtCorpus) *Server {
	t.Helper()
	s, err := New(Options{UsersFile: c.users(), APIKeysDir: c.apiKeys(), Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// do sends one request to the handler and decodes the JSON answer.
func do(t *testing.T, h http.Handler, method, path, contentType, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, path, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: decoding answer %q: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, out
}

func postToken(t *testing.T, h http.Handler, body string) (int, map[string]any) {
	t.Helper()
	return do(t, h, http.MethodPost, "/token", "application/json", body)
}

// loginBody builds a /token body for admin/password with optional extra members (raw JSON values).
func loginBody(extra ...string) string {
	var b strings.Builder
	b.WriteString(`{"username":"admin","password":"password"`)
	for i := 0; i+1 < len(extra); i += 2 {
		b.WriteString(`,"` + extra[i] + `":` + extra[i+1])
	}
	b.WriteString("}")
	return b.String()
}

// verifyJWS checks the header and HS256 signature of a token with golang-jwt and returns its claims.
func verifyJWS(t *testing.T, tok, secret string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
	parsed, err := p.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil {
		t.Fatalf("verifying token: %v", err)
	}
	if want := map[string]any{"alg": "HS256", "typ": "JWT"}; !reflect.DeepEqual(parsed.Header, want) {
		t.Errorf("header = %v, want %v", parsed.Header, want)
	}
	return claims
}

var uuid4RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestTokenAuthModule issues tokens for a jwt_config module's inline config (the sas2py "auth" module as
// the Control Tower serves it) to the corpus's admin.
func TestTokenAuthModule(t *testing.T) { checkAuthModule(t, ownCorpus) }

func TestInteropTokenSas2pyAuthModule(t *testing.T) { checkAuthModule(t, platformCorpus(t)) }

func checkAuthModule(t *testing.T, c jwtCorpus) {
	t.Helper()
	s := newCorpusServer(t, c)
	code, out := postToken(t, s, loginBody("api_key_config", authConfig))
	if code != http.StatusOK {
		t.Fatalf("status = %d %v, want 200", code, out)
	}
	if got := slices.Sorted(maps.Keys(out)); !slices.Equal(got, []string{"access_token", "refresh_token"}) {
		t.Errorf("answer keys = %v, want access_token and refresh_token only", got)
	}
	iat := float64(testNow.Unix())
	common := map[string]any{
		"sub": "admin", "name": c.adminName, "email": c.adminEmail,
		"groups": []any{"administrators"}, "roles": []any{"admin", "user"},
		"key": "sas2py-consumer-key", "rate_limit": 100.0, "project": "sas2py", "environment": "development",
		"iat": iat, "nbf": iat,
	}
	tests := []struct {
		name  string
		field string
		want  map[string]any
	}{
		{"access", "access_token", map[string]any{"fresh": true, "type": "access", "exp": iat + 3600}},
		{"refresh", "refresh_token", map[string]any{"fresh": false, "type": "refresh", "exp": iat + 30*24*3600}},
	}
	jtis := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := verifyJWS(t, out[tc.field].(string), DefaultSecret)
			jti, _ := claims["jti"].(string)
			if !uuid4RE.MatchString(jti) {
				t.Errorf("jti = %q, want a UUIDv4", jti)
			}
			jtis[jti] = true
			delete(claims, "jti")
			want := maps.Clone(common)
			maps.Copy(want, tc.want)
			if !reflect.DeepEqual(map[string]any(claims), want) {
				t.Errorf("claims =\n%v\nwant\n%v", claims, want)
			}
		})
	}
	if len(jtis) != 2 {
		t.Errorf("access and refresh tokens share a jti")
	}
	if s.Requests() != 1 {
		t.Errorf("Requests() = %d, want 1", s.Requests())
	}
}

func TestTokenLifetime(t *testing.T) { checkTokenLifetime(t, ownCorpus) }

func TestInteropTokenLifetime(t *testing.T) { checkTokenLifetime(t, platformCorpus(t)) }

func checkTokenLifetime(t *testing.T, c jwtCorpus) {
	t.Helper()
	s := newCorpusServer(t, c)
	tests := []struct {
		name string
		body string
		want time.Duration // 0: no exp claim
	}{
		{"inline exp_hours 2", loginBody("api_key_config", `{"claims":{"static":{"key":"k","exp_hours":2}}}`), 2 * time.Hour},
		{"inline fractional exp_hours", loginBody("api_key_config", `{"claims":{"static":{"exp_hours":0.5}}}`), 30 * time.Minute},
		{"inline without exp_hours defaults to 1h", loginBody("api_key_config", `{"claims":{"static":{"key":"k"}}}`), time.Hour},
		{"exp_hours 0 never expires", loginBody("api_key_config", `{"claims":{"static":{"exp_hours":0}}}`), 0},
		{"3h key file", loginBody("api_key", `"`+c.key3h+`"`), 3 * time.Hour},
		{"24h key file", loginBody("api_key", `"`+c.key24h+`"`), 24 * time.Hour},
		// This key file's exp_hours is top-level, not a claim, so it is ignored.
		{"top-level exp_hours ignored", loginBody("api_key", `"`+c.topLevelExp+`"`), time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postToken(t, s, tc.body)
			if code != http.StatusOK {
				t.Fatalf("status = %d %v", code, out)
			}
			claims := verifyJWS(t, out["access_token"].(string), DefaultSecret)
			if _, ok := claims["exp_hours"]; ok {
				t.Errorf("exp_hours leaked into the token")
			}
			exp, ok := claims["exp"].(float64)
			switch {
			case tc.want == 0 && ok:
				t.Errorf("exp = %v, want none", exp)
			case tc.want != 0 && (!ok || exp-float64(testNow.Unix()) != tc.want.Seconds()):
				t.Errorf("exp - iat = %v, want %v", exp-float64(testNow.Unix()), tc.want.Seconds())
			}
			refresh := verifyJWS(t, out["refresh_token"].(string), DefaultSecret)
			if got := refresh["exp"].(float64) - float64(testNow.Unix()); got != 30*24*3600 {
				t.Errorf("refresh lifetime = %vs, want 30 days", got)
			}
		})
	}
}

func TestTokenClaimsSources(t *testing.T) { checkClaimsSources(t, ownCorpus) }

func TestInteropTokenClaimsSources(t *testing.T) { checkClaimsSources(t, platformCorpus(t)) }

func checkClaimsSources(t *testing.T, c jwtCorpus) {
	t.Helper()
	s := newCorpusServer(t, c)
	base := c.base
	tests := []struct {
		name   string
		body   string
		want   map[string]any
		absent []string
	}{
		{"no api key uses base", loginBody(), base, nil},
		{"unknown api key uses base", loginBody("api_key", `"no_such_key"`), base, nil},
		{"path traversal uses base", loginBody("api_key", `"../users"`), base, []string{"admin"}},
		{"empty inline config uses the file", loginBody("api_key_config", `{}`), base, nil},
		{"inline config wins over api_key", loginBody("api_key", `"`+c.functionKey+`"`, "api_key_config", authConfig),
			map[string]any{"key": "sas2py-consumer-key", "rate_limit": 100.0}, []string{"models", "tier", "quota", "usage"}},
		{"named key file", loginBody("api_key", `"`+c.named+`"`), c.namedWant, []string{"id", "owner", "provider_permissions", "usage"}},
		{"function claims", loginBody("api_key", `"`+c.functionKey+`"`), map[string]any{
			"quota":        map[string]any{"remaining_tokens": 10000.0, "reset_date": "2025-06-01"},
			"model_access": map[string]any{"available_models": []any{"gpt-3.5-turbo"}, "is_restricted": true},
		}, nil},
		{"api and unknown function claims are skipped", loginBody("api_key", `"`+c.tiered+`"`), c.tieredWant,
			[]string{"budget_status", "team_permissions", "user_category", "metadata", "categories"}},
		{"formula claims are skipped", loginBody("api_key", `"`+c.formula+`"`), c.formulaWant, []string{"computed_claims", "metadata"}},
		{"static claims override user claims", loginBody("api_key_config", `{"claims":{"static":{"name":"Robot","sub":"svc"}}}`),
			map[string]any{"name": "Robot", "sub": "svc"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postToken(t, s, tc.body)
			if code != http.StatusOK {
				t.Fatalf("status = %d %v", code, out)
			}
			claims := verifyJWS(t, out["access_token"].(string), DefaultSecret)
			for k, v := range tc.want {
				if !reflect.DeepEqual(claims[k], v) {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := claims[k]; ok {
					t.Errorf("claim %s present, want absent", k)
				}
			}
		})
	}
}

func TestTokenCustomSecret(t *testing.T) {
	s := newTestServer(t)
	// A JWE-enabled config: a custom secret must win and skip encryption.
	code, out := postToken(t, s, loginBody("api_key_config", jweAuthConfig, "secret", `"my-own-secret"`))
	if code != http.StatusOK {
		t.Fatalf("status = %d %v", code, out)
	}
	if out["note"] == nil || out["token_type"] != nil {
		t.Errorf("answer = %v, want a note and no token_type", out)
	}
	claims := verifyJWS(t, out["access_token"].(string), "my-own-secret")
	if claims["key"] != "sas2py-jwe-consumer-key" {
		t.Errorf("key claim = %v", claims["key"])
	}
	if _, err := jwt.Parse(out["access_token"].(string), func(*jwt.Token) (any, error) { return []byte(DefaultSecret), nil }); err == nil {
		t.Errorf("token also verifies with the service secret")
	}
}

func TestTokenErrors(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		code        int
		err         string
	}{
		{"wrong password", "application/json", `{"username":"admin","password":"wrong"}`, 401, "Invalid username or password"},
		{"unknown user", "application/json", `{"username":"nobody","password":"password"}`, 401, "Invalid username or password"},
		{"non-string password", "application/json", `{"username":"admin","password":12345}`, 401, "Invalid username or password"},
		{"missing password", "application/json", `{"username":"admin"}`, 400, "Missing username or password"},
		{"empty username", "application/json", `{"username":"","password":"password"}`, 400, "Missing username or password"},
		{"null password", "application/json", `{"username":"admin","password":null}`, 400, "Missing username or password"},
		{"not JSON content type", "text/plain", loginBody(), 400, "Missing JSON in request"},
		{"no content type", "", loginBody(), 400, "Missing JSON in request"},
		{"invalid JSON", "application/json", `{"username":`, 400, "Missing JSON in request"},
		{"JSON array", "application/json", `["admin","password"]`, 400, "Missing JSON in request"},
		{"trailing data", "application/json", loginBody() + `{}`, 400, "Missing JSON in request"},
		{"JSON suffix content type", "application/vnd.dsp+json; charset=utf-8", `{"username":"admin","password":"wrong"}`, 401, "Invalid username or password"},
		{"non-number exp_hours", "application/json", loginBody("api_key_config", `{"claims":{"static":{"exp_hours":"2"}}}`), 500, `exp_hours must be a number, got "2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := do(t, s, http.MethodPost, "/token", tc.contentType, tc.body)
			if code != tc.code || out["error"] != tc.err {
				t.Errorf("got %d %v, want %d {error: %q}", code, out, tc.code, tc.err)
			}
		})
	}
	if got, want := s.Requests(), int64(len(tests)); got != want {
		t.Errorf("Requests() = %d, want %d", got, want)
	}
}

func TestRouting(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, method, path string
		code               int
		err                string
	}{
		{"unknown path", http.MethodGet, "/nope", 404, "Not found"},
		{"refresh is not implemented", http.MethodPost, "/refresh", 404, "Not found"},
		{"GET token", http.MethodGet, "/token", 405, "Method not allowed"},
		{"POST protected", http.MethodPost, "/protected", 405, "Method not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := do(t, s, tc.method, tc.path, "application/json", "{}")
			if code != tc.code || out["error"] != tc.err {
				t.Errorf("got %d %v, want %d {error: %q}", code, out, tc.code, tc.err)
			}
		})
	}
	if s.Requests() != 0 {
		t.Errorf("Requests() = %d after a GET /token, want 0", s.Requests())
	}
}

// issue returns an access and a refresh token for admin from s.
func issue(t *testing.T, s *Server) (access, refresh string) {
	t.Helper()
	code, out := postToken(t, s, loginBody("api_key_config", authConfig))
	if code != http.StatusOK {
		t.Fatalf("status = %d %v", code, out)
	}
	return out["access_token"].(string), out["refresh_token"].(string)
}

func TestValidate(t *testing.T) {
	s := newTestServer(t)
	access, _ := issue(t, s)
	later, err := New(Options{UsersFile: ownCorpus.users(), Now: func() time.Time { return testNow.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	other, err := New(Options{UsersFile: ownCorpus.users(), Secret: "another-secret", Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name string
		srv  *Server
		tok  string
		want map[string]any
	}{
		{"valid", s, access, map[string]any{
			"valid": true, "signature_verified": true, "expired": false,
			"expiry_time": "2026-03-04 06:06:07 UTC", "issued_at": "2026-03-04 05:06:07 UTC",
			"issuer": "Not specified", "subject": "admin",
		}},
		// PyJWT's message "Signature has expired" also clears signature_verified in the original.
		{"expired", later, access, map[string]any{"valid": false, "signature_verified": false, "expired": true, "error": "Signature has expired"}},
		{"wrong secret", other, access, map[string]any{"valid": false, "signature_verified": false, "expired": false, "error": "Signature verification failed"}},
		{"garbage", s, "not-a-token", map[string]any{"valid": false, "signature_verified": true, "expired": false, "error": "Not enough segments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"token": tc.tok})
			code, out := do(t, tc.srv, http.MethodPost, "/validate", "application/json", string(body))
			if code != http.StatusOK || !reflect.DeepEqual(out, tc.want) {
				t.Errorf("got %d %v, want 200 %v", code, out, tc.want)
			}
		})
	}
	t.Run("missing token", func(t *testing.T) {
		code, out := do(t, s, http.MethodPost, "/validate", "application/json", `{}`)
		if code != http.StatusBadRequest || out["error"] != "Missing token" {
			t.Errorf("got %d %v, want 400 Missing token", code, out)
		}
	})
}

func TestProtected(t *testing.T) {
	s := newTestServer(t)
	access, refresh := issue(t, s)
	later, err := New(Options{UsersFile: ownCorpus.users(), Now: func() time.Time { return testNow.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name string
		srv  *Server
		auth string
		code int
		want map[string]any
	}{
		{"valid", s, "Bearer " + access, 200, map[string]any{"logged_in_as": "admin"}},
		{"no header", s, "", 401, map[string]any{"msg": "Missing Authorization Header"}},
		{"basic auth", s, "Basic YWRtaW46cGFzc3dvcmQ=", 401, map[string]any{"msg": "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"}},
		{"expired", later, "Bearer " + access, 401, map[string]any{"msg": "Token has expired"}},
		{"bad signature", s, "Bearer " + access[:len(access)-4] + "AAAA", 422, map[string]any{"msg": "Signature verification failed"}},
		{"refresh token", s, "Bearer " + refresh, 422, map[string]any{"msg": "Only non-refresh tokens are allowed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			code, out := do(t, tc.srv, http.MethodGet, "/protected", "", "", hdr...)
			if code != tc.code || !reflect.DeepEqual(out, tc.want) {
				t.Errorf("got %d %v, want %d %v", code, out, tc.code, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(badUsers, []byte("admin: [not, a, mapping]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		opts           Options
		user, password string // a grp_tier1 user that must log in
		wantErr        string
	}{
		{"defaults", Options{}, "hk", "password", ""},
		{"fixtures", Options{UsersFile: ownCorpus.users(), APIKeysDir: ownCorpus.apiKeys()}, ownCorpus.tier1User, ownCorpus.tier1Password, ""},
		{"missing users file", Options{UsersFile: filepath.Join(dir, "nope.yaml")}, "", "", "reading users file"},
		{"user not a mapping", Options{UsersFile: badUsers}, "", "", "not a mapping"},
		{"missing API keys dir", Options{APIKeysDir: filepath.Join(dir, "nope")}, "", "", "checking API keys dir"},
		{"API keys dir is a file", Options{APIKeysDir: badUsers}, "", "", "not a directory"},
	}
	if _, err := testfixtures.PlatformDir(); err == nil {
		pc := platformCorpus(t)
		tests = append(tests, struct {
			name           string
			opts           Options
			user, password string
			wantErr        string
		}{"interop fixtures", Options{UsersFile: pc.users(), APIKeysDir: pc.apiKeys()}, pc.tier1User, pc.tier1Password, ""})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = func() time.Time { return testNow }
			s, err := New(tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				// Built-in and fixture users log in with their SHA-256-stored passwords; tokens are signed
				// with the default secret.
				code, out := postToken(t, s, `{"username":"`+tc.user+`","password":"`+tc.password+`"}`)
				if code != http.StatusOK {
					t.Fatalf("status = %d %v", code, out)
				}
				claims := verifyJWS(t, out["access_token"].(string), DefaultSecret)
				if claims["sub"] != tc.user || !reflect.DeepEqual(claims["groups"], []any{"users", "grp_tier1"}) {
					t.Errorf("groups = %v", claims["groups"])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestBrokenAPIKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("claims: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{APIKeysDir: dir, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name string
		body string
		code int
	}{
		{"broken file is a 500", loginBody("api_key", `"broken"`), 500},
		// No base_api_key.yaml in the directory: only the user claims.
		{"no base file", loginBody(), 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postToken(t, s, tc.body)
			if code != tc.code {
				t.Fatalf("status = %d %v, want %d", code, out, tc.code)
			}
			if code == 200 {
				claims := verifyJWS(t, out["access_token"].(string), DefaultSecret)
				if _, ok := claims["rate_limit"]; ok {
					t.Errorf("rate_limit present without any API-key file")
				}
			}
		})
	}
}
