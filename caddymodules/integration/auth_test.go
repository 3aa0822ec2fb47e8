// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/source/redistest"
	"github.com/dsp-ai/fd2/examples/jwtservice"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// localFixtures writes copies of a corpus's Control Tower manifests whose upstreams point at local fakes:
// the originals reach an LLM provider over https and a JWT service on localhost:5000, neither of which a
// test can use. Only those URLs (and the upstream scheme, http) change; the fixtures themselves are
// untouched.
func localFixtures(t *testing.T, c corpus, llmAddr, jwtServiceURL string) string {
	t.Helper()
	dir := t.TempDir()
	for _, id := range c.ids {
		raw, err := os.ReadFile(filepath.Join(c.dir, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, env := range doc["environments"].(map[string]any) {
			urls, _ := env.(map[string]any)["urls"].(map[string]any)
			if urls == nil {
				continue
			}
			for key, target := range c.urls {
				if _, ok := urls[key]; !ok {
					continue
				}
				urls[key] = llmAddr
				if target == "jwt" {
					urls[key] = jwtServiceURL
				}
			}
		}
		for _, m := range doc["modules"].([]any) {
			mod := m.(map[string]any)
			if mod["module_type"] != "api_gateway" {
				continue
			}
			for _, r := range mod["config"].(map[string]any)["routes"].([]any) {
				if up, ok := r.(map[string]any)["upstream"].(map[string]any); ok {
					up["scheme"] = "http"
					nodes, _ := up["nodes"].(map[string]any)
					for _, host := range c.nodes {
						if nodes[host] != nil {
							up["nodes"] = map[string]any{llmAddr: 1}
						}
					}
				}
			}
		}
		out, _ := json.Marshal(doc)
		writeManifest(t, dir, id, string(out))
	}
	// The richest project has a vault module, so its config: references resolve through the secrets config
	// it names (the Control Tower's secrets_config.json).
	sc, err := os.ReadFile(c.secretsConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets_config.json"), sc, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mintJWS mints a token exactly as the DSP JWT service does (flask-jwt-extended, HS256), with the claims
// its jwt_config module gives admin in corpus c.
func mintJWS(t testing.TB, c corpus, secret string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"fresh": true, "iat": now.Unix(), "jti": "3f1c9b7e-0d6a-4c41-9d0e-2b7a4f5e8c11", "type": "access", "sub": "admin",
		"nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"groups": []string{"administrators"}, "roles": []string{"admin", "user"},
	}
	for k, v := range c.claims {
		claims[k] = v
	}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	registerSecret(s)
	return s
}

func mintJWE(t testing.TB, inner, key, kid string) string {
	t.Helper()
	plain, _ := json.Marshal(map[string]string{"jwt": inner})
	k, err := auth.DeriveJWEKey(key, "A256GCM")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.EncryptDir(plain, k, "A256GCM", kid, false)
	if err != nil {
		t.Fatal(err)
	}
	registerSecret(tok)
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

const authPipeline = `
:{{HTTP}} {
	{{LOG}}
	route {
		dsp_manifest
		dsp_auth
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`

// otherProjectManifest is a project with its own jwt-auth consumers: one HS256 (same JWT service secret,
// its own key) and one RS256 with a public key, for the alg-confusion attack.
func otherProjectManifest(llmAddr, rsaPEM, jwtServiceSecret string) string {
	pemJSON, _ := json.Marshal(rsaPEM)
	return `{"project_id":"other","project_name":"other","modules":[
	  {"module_type":"api_gateway","name":"gw","config":{
	    "consumer":{"username":"other-consumer","plugins":{"jwt-auth":{"key":"other-key","secret":"` + jwtServiceSecret + `"}}},
	    "routes":[{"name":"chat","uri":"/other/chat","methods":["POST"],"upstream":{"scheme":"http","nodes":{"` + llmAddr + `":1}},
	      "plugins":{"jwt-auth":{},"proxy-rewrite":{"uri":"/echo/other"}}}]}},
	  {"module_type":"api_gateway","name":"rsa","config":{
	    "consumer":{"username":"rsa-consumer","plugins":{"jwt-auth":{"key":"rsa-key","algorithm":"RS256","public_key":` + string(pemJSON) + `}}},
	    "routes":[{"name":"rsa","uri":"/other/rsa","methods":["POST"],"upstream":{"scheme":"http","nodes":{"` + llmAddr + `":1}},
	      "plugins":{"jwt-auth":{},"proxy-rewrite":{"uri":"/echo/rsa"}}}]}}]}`
}

// TestAuth drives the DSP JWT service's tokens through the real pipeline on the routes of FD2's corpus.
func TestAuth(t *testing.T) {
	requireIntegration(t)
	authCorpus(t, ownCorpus())
}

// TestInteropAuthSas2py is the same on the platform's sas2py routes.
func TestInteropAuthSas2py(t *testing.T) {
	requireIntegration(t)
	authCorpus(t, platformCorpus(t))
}

func authCorpus(t *testing.T, c corpus) {
	registerSecret(c.jwtSecret)
	registerSecret(c.jweKey)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := localFixtures(t, c, hostOf(llm), "http://127.0.0.1:1")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	writeManifest(t, dir, "other", otherProjectManifest(hostOf(llm), pubPEM, c.jwtSecret))
	f := startFD2(t, "manifests file "+dir, authPipeline)

	good := mintJWS(t, c, c.jwtSecret, nil)
	convert := c.convertBody

	t.Run("jwt-auth token passes on convert", func(t *testing.T) {
		r := do(t, "POST", f.url(c.convert), convert, "Authorization", "Bearer "+good)
		expectStatus(t, r, 200)
		if !strings.Contains(string(r.body), c.echoWant) {
			t.Fatalf("upstream answer: %s", r.body)
		}
	})
	t.Run("token in the jwt query parameter and cookie", func(t *testing.T) {
		expectStatus(t, do(t, "POST", f.url(c.convert+"?jwt="+good), convert), 200)
		expectStatus(t, do(t, "POST", f.url(c.convert), convert, "Cookie", "jwt="+good), 200)
	})
	t.Run("JWE token passes on convert-jwe and forwards its payload", func(t *testing.T) {
		inner := mintJWS(t, c, c.jwtSecret, map[string]any{"key": c.jweKid, "groq_api_key": "gsk_inner"})
		tok := mintJWE(t, inner, c.jweKey, c.jweKid)
		r := do(t, "POST", f.url(c.convertJWE), convert, "Authorization", "Bearer "+tok)
		expectStatus(t, r, 200)
	})

	otherTok := mintJWS(t, c, c.jwtSecret, map[string]any{"key": "other-key", "project": "other"})
	forgedRSA := func() string {
		// alg confusion: HS256 signed with the RSA public key's PEM bytes, aimed at the RS256 consumer.
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": "rsa-key", "exp": time.Now().Add(time.Hour).Unix(), "project": "other"}).
			SignedString([]byte(pubPEM))
		return s
	}()
	rsaGood := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"key": "rsa-key", "exp": time.Now().Add(time.Hour).Unix(), "project": "other"}).
			SignedString(rsaKey)
		return s
	}()
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(strings.Replace(string(mustB64(t, parts[1])), `"sub":"admin"`, `"sub":"root"`, 1)) + "." + parts[2]
	innerNone := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"key":"`+c.jweKid+`","project":"`+c.project+`","exp":9999999999}`) + "."
	jweGood := mintJWE(t, mintJWS(t, c, c.jwtSecret, map[string]any{"key": c.jweKid}), c.jweKey, c.jweKid)
	jp := strings.Split(jweGood, ".")
	tag := []byte(jp[4])
	if tag[0] == 'A' {
		tag[0] = 'B'
	} else {
		tag[0] = 'A'
	}
	jweBadTag := strings.Join(append(jp[:4:4], string(tag)), ".")

	attacks := []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"rsa consumer with a real RS256 token passes", "/other/rsa", rsaGood, 200, ""},
		{"other project's own token passes there", "/other/chat", otherTok, 200, ""},
		{"no token", c.convert, "", 401, "missing_token"},
		{"alg none", c.convert, b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"key":"`+c.consumerKey+`","project":"`+c.project+`","exp":9999999999}`) + ".", 401, "invalid_token"},
		{"alg confusion HS256 with the RSA public key", "/other/rsa", forgedRSA, 401, "invalid_token"},
		{"expired", c.convert, mintJWS(t, c, c.jwtSecret, map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(), "nbf": time.Now().Add(-2 * time.Hour).Unix()}), 401, "invalid_token"},
		{"nbf in the future", c.convert, mintJWS(t, c, c.jwtSecret, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), 401, "invalid_token"},
		{"tampered payload", c.convert, tampered, 401, "invalid_token"},
		{"wrong secret", c.convert, mintJWS(t, c, "not-the-secret", nil), 401, "invalid_token"},
		{"unknown key claim", c.convert, mintJWS(t, c, c.jwtSecret, map[string]any{"key": "nobody", "project": nil}), 401, "invalid_token"},
		{"missing key claim", c.convert, mintJWS(t, c, c.jwtSecret, map[string]any{"key": nil}), 401, "invalid_token"},
		{"project token on another project", "/other/chat", good, 403, "project_forbidden"},
		{"other project's token on the project", c.convert, otherTok, 403, "project_forbidden"},
		{"truncated token", c.convert, parts[0] + "." + parts[1], 401, "invalid_token"},
		{"non-base64 segments", c.convert, "!!!.@@@.###", 401, "invalid_token"},
		{"oversized token (20 KB)", c.convert, strings.Repeat("a", 10_000) + "." + strings.Repeat("b", 10_000) + ".c", 401, "invalid_token"},
		{"JWE with a wrong tag", c.convertJWE, jweBadTag, 401, "invalid_token"},
		{"JWE with a wrong kid", c.convertJWE, mintJWE(t, good, c.jweKey, "someone-else"), 401, "invalid_token"},
		{"JWE whose inner JWS is unsigned", c.convertJWE, mintJWE(t, innerNone, c.jweKey, c.jweKid), 401, "invalid_token"},
		{"JWS on the JWE route", c.convertJWE, good, 401, "invalid_token"},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			var r resp
			if tc.token == "" {
				r = do(t, "POST", f.url(tc.path), convert)
			} else {
				r = do(t, "POST", f.url(tc.path), convert, "Authorization", "Bearer "+tc.token)
			}
			expectStatus(t, r, tc.status)
			if tc.code == "" {
				return
			}
			if got := r.errorCode(t); got != tc.code {
				t.Fatalf("code %q, want %q (%s)", got, tc.code, r.body)
			}
			if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", r.header)
			}
			if strings.Contains(string(r.body), tc.token[:min(20, len(tc.token))]) && len(tc.token) > 20 {
				t.Fatal("the token is echoed in the error")
			}
		})
	}
	t.Run("1 MB token is refused before FD2 parses it", func(t *testing.T) {
		r := do(t, "POST", f.url(c.convert), convert, "Authorization", "Bearer "+strings.Repeat("x", 1<<20))
		if r.status != http.StatusRequestHeaderFieldsTooLarge && r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("routes without auth plugins stay open", func(t *testing.T) {
		expectStatus(t, do(t, "POST", f.url(c.broker), `{"username":"a","password":"b"}`), 502) // JWT service down: broker 502
	})
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTokenBroker logs in through FD2's token endpoint against a DSP-JWT-service-compatible fake and uses
// the tokens it returns on the protected routes, JWE included.
func TestTokenBroker(t *testing.T) {
	requireIntegration(t)
	tokenBroker(t, ownCorpus())
}

func TestInteropTokenBroker(t *testing.T) {
	requireIntegration(t)
	tokenBroker(t, platformCorpus(t))
}

func tokenBroker(t *testing.T, c corpus) {
	llm := startFakeLLM(t, fakellm.Options{})
	svc, err := jwtservice.New(jwtservice.Options{UsersFile: filepath.Join(c.jwtService, "users.yaml"),
		APIKeysDir: filepath.Join(c.jwtService, "api_keys"), Secret: c.jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	js := httptest.NewServer(svc)
	t.Cleanup(js.Close)
	dir := localFixtures(t, c, hostOf(llm), js.URL)
	f := startFD2(t, "manifests file "+dir, authPipeline)

	var tokens struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
		Type    string `json:"token_type"`
	}
	r := do(t, "POST", f.url(c.broker), `{"username":"admin","password":"password"}`)
	expectStatus(t, r, 200)
	if err := json.Unmarshal(r.body, &tokens); err != nil || tokens.Access == "" || tokens.Refresh == "" {
		t.Fatalf("token response %s", r.body)
	}
	registerSecret(tokens.Access)
	registerSecret(tokens.Refresh)
	convert := c.convertBody
	expectStatus(t, do(t, "POST", f.url(c.convert), convert, "Authorization", "Bearer "+tokens.Access), 200)

	r = do(t, "POST", f.url(c.jweBroker), `{"username":"admin","password":"password"}`)
	expectStatus(t, r, 200)
	if err := json.Unmarshal(r.body, &tokens); err != nil || tokens.Type != "JWE" || strings.Count(tokens.Access, ".") != 4 {
		t.Fatalf("JWE token response %s", r.body)
	}
	expectStatus(t, do(t, "POST", f.url(c.convertJWE), convert, "Authorization", "Bearer "+tokens.Access), 200)

	r = do(t, "POST", f.url(c.broker), `{"username":"admin","password":"wrong"}`)
	expectStatus(t, r, 401)
	if !strings.Contains(string(r.body), `"detail"`) || !strings.Contains(string(r.body), "Invalid username or password") {
		t.Fatalf("401 body %s", r.body)
	}
	r = do(t, "POST", f.url(c.broker), `{"username":"admin"}`)
	expectStatus(t, r, 400)
	r = do(t, "POST", f.url("/"+c.project+"/nope/token"), `{"username":"admin","password":"password"}`)
	expectStatus(t, r, 404)
}

// jwksServer serves a JWKS whose keys the test can rotate.
type jwksServer struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
	hits atomic.Int64
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range s.keys {
		set.Keys = append(set.Keys, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
			"x": b64big(k.X), "y": b64big(k.Y)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

func b64big(n *big.Int) string {
	b := make([]byte, 32)
	n.FillBytes(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *jwksServer) rotate(kid string) *ecdsa.PrivateKey {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.mu.Lock()
	s.keys = map[string]*ecdsa.PrivateKey{kid: k}
	s.mu.Unlock()
	return k
}

func es256(t testing.TB, k *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "svc-a", "exp": time.Now().Add(time.Hour).Unix(), "iss": "https://idp.example"})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStaticJWKSRollover protects a plain Caddy route with dsp_auth's static JWT policy backed by a JWKS
// URL. The identity provider rotates its key mid-test: new tokens pass within one refresh, old ones fail.
func TestStaticJWKSRollover(t *testing.T) {
	requireIntegration(t)
	js := &jwksServer{}
	k1 := js.rotate("k1")
	srv := httptest.NewServer(js)
	t.Cleanup(srv.Close)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			jwt {
				jwks %s
				jwks_refresh 1s
				algorithms ES256
				issuer https://idp.example
			}
		}
		respond "hello {dsp.subject}" 200
	}
	handle_errors {
		dsp_error
	}
}
`, srv.URL))
	old := es256(t, k1, "k1")
	r := do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+old)
	expectStatus(t, r, 200)
	expectStatus(t, do(t, "GET", f.url("/v1/x"), ""), 401)

	k2 := js.rotate("k2")
	fresh := es256(t, k2, "k2")
	// The new key is picked up within one refresh (1s here), or at once by an unknown-kid refetch when the
	// refetch limiter allows it.
	deadline0 := time.Now().Add(3 * time.Second)
	for {
		r = do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+fresh)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline0) {
			t.Fatalf("a token signed with the new key is still refused after one refresh: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if string(r.body) != "hello svc-a" {
		t.Fatalf("body %q", r.body)
	}
	// After the next refresh the old key is gone (and its cached verification must not outlive rotation
	// by more than the cache bound).
	deadline := time.Now().Add(8 * time.Second)
	for {
		r = do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+es256(t, k1, "k1"))
		if r.status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token signed with the retired key still passes: %d", r.status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStaticAPIKeys creates keys with the `fd2 keys` command (the test binary in fd2 mode), uses them on a
// route protected by dsp_auth api_keys, rotates and revokes.
func TestStaticAPIKeys(t *testing.T) {
	requireIntegration(t)
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	fd2cmd := func(args ...string) string { return runFD2(t, args...) }
	keyOf := func(out string) (id, key string) { return createdKey(t, out) }
	id1, k1 := keyOf(fd2cmd("keys", "create", "--file", keyFile, "--owner", "team-a", "--projects", "demo"))
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			api_keys file %s
		}
		respond "hi {dsp.consumer}" 200
	}
	handle_errors {
		dsp_error
	}
}
`, keyFile))
	for _, hdr := range []string{"Authorization", "X-API-Key", "api-key"} {
		v := k1
		if hdr == "Authorization" {
			v = "Bearer " + k1
		}
		r := do(t, "GET", f.url("/v1/x"), "", hdr, v)
		expectStatus(t, r, 200)
		if string(r.body) != "hi "+id1 {
			t.Fatalf("body %q", r.body)
		}
	}
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", k1[:len(k1)-2]+"xx"), 401)
	_, k2 := keyOf(fd2cmd("keys", "create", "--file", keyFile, "--owner", "team-a"))
	// rotation: both keys valid at once
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", k1), 200)
	deadline := time.Now().Add(3 * time.Second)
	for do(t, "GET", f.url("/v1/x"), "", "X-API-Key", k2).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("a key created in the file is not accepted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := fd2cmd("keys", "list", "--file", keyFile); !strings.Contains(out, id1) || strings.Contains(out, k1) {
		t.Fatalf("list output:\n%s", out)
	}
	fd2cmd("keys", "revoke", "--file", keyFile, id1)
	deadline = time.Now().Add(3 * time.Second)
	for do(t, "GET", f.url("/v1/x"), "", "X-API-Key", k1).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a revoked key still passes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectStatus(t, do(t, "GET", f.url("/v1/x"), "", "X-API-Key", k2), 200)
}

// TestRedisAPIKeysRevocation keeps API keys in Redis (the dsp app's shared Redis): a key created with
// `fd2 keys --redis` works at once on a running FD2, and its revocation (another process) is refused within
// one second.
func TestRedisAPIKeysRevocation(t *testing.T) {
	requireIntegration(t)
	addr := redistest.Start(t)
	url := "redis://" + addr + "/0"
	fd2cmd := func(args ...string) string { return runFD2(t, args...) }
	f := startFD2(t, "cache redis "+url+" {\n prefix itest:\n }", `
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			api_keys redis
		}
		respond "hi {dsp.consumer}" 200
	}
	handle_errors {
		dsp_error
	}
}
`)
	out := fd2cmd("keys", "create", "--redis", url, "--owner", "svc")
	var id, key string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "key:"); ok {
			key = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "id:"); ok {
			id = strings.TrimSpace(v)
		}
	}
	registerSecret(key)
	r := do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+key)
	expectStatus(t, r, 200)
	if string(r.body) != "hi "+id {
		t.Fatalf("body %q", r.body)
	}
	fd2cmd("keys", "revoke", "--redis", url, id)
	revoked := time.Now()
	for do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+key).status != 401 {
		if time.Since(revoked) > time.Second {
			t.Fatal("a revoked key still passes after one second")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revocation took effect after %v", time.Since(revoked).Round(time.Millisecond))
}
