// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package jwtservice is a fake of the DSP AI JWT service (dsp_ai_jwt, a Flask + flask-jwt-extended app),
// written from the interoperability spec (docs: dsp-platform.md §4) so that FD2's token broker and JWT
// validation can be tested end to end without Python.
//
// # Endpoints
//
//	POST /token      {username, password, api_key?, api_key_config?, secret?} → access and refresh tokens
//	POST /validate   {token} → always 200 {"valid": …} (400 only when the body or token is missing)
//	GET  /protected  Authorization: Bearer <access JWS> → {"logged_in_as": sub}
//
// Every other path answers 404 {"error":"Not found"}, and a wrong method 405. Flask errors are
// {"error": …} and flask-jwt-extended errors {"msg": …}, as in the original.
//
// # Token issuance (spec §4.2)
//
// Users come from a users.yaml ({username: {password: sha256-hex, name, email, groups, roles}}); the
// token's user claims are {sub, name, email, groups, roles}. The extra claims come, in priority order, from
// the inline api_key_config of the request (what FD2's token broker sends: the Control Tower's jwt_config
// module config), from APIKeysDir/<api_key>.yaml, or from APIKeysDir/base_api_key.yaml, which is also used
// when the named key does not exist. They are claims.static merged with the resolved claims.dynamic, and
// they override the user claims. An "exp_hours" claim is removed and sets the access-token lifetime
// (default 1 h); refresh tokens last 30 days. Tokens are HS256 JWS with flask-jwt-extended's payload shape
// (fresh, iat, jti, type, sub, nbf, exp, then the claims), signed with Options.Secret, or with the
// request's "secret" when one is given (the response then carries a "note").
//
// When the claims source has jwe_config.enabled and no custom secret was given, both tokens are wrapped in
// a compact JWE (spec §4.3): alg "dir", enc A128GCM/A192GCM/A256GCM, optional DEF compression, kid = the
// "key" claim, plaintext {"jwt":"<JWS>"}. The key string is decoded as the Python service does (lenient
// base64, then hex, then raw UTF-8; "${VAR}" reads the environment).
//
// # Deliberate differences from the original
//
//   - Dynamic claims: only the two constant demo functions claims.quota.get_remaining_quota and
//     claims.access.check_model_access are emulated. Other "function" claims, every "api" claim (an HTTP
//     call with a 5 s timeout) and every "formula" claim are skipped, as the original skips a claim that
//     fails. The sample files' api and formula claims fail in the original too, for lack of a budget
//     service and because formulas cannot see static claims.
//   - The A*CBC-HS* encryptions are rejected with a "JWE encryption failed" 500; the original supports them,
//     but nothing downstream (APISIX jwe-decrypt) does.
//   - An api_key containing a path separator or ".." is treated as unknown (base claims); the original
//     joins it into a file path. An unreadable or invalid API-key YAML answers 500 instead of silently
//     giving no claims, so that a broken fixture shows up in tests.
//   - Users are loaded once by New, API-key files are read on every request (as the original reads both).
//   - /refresh, /decode, the API-key admin CRUD, the JWE tool endpoints, LDAP and the HTML UI are absent.
//
// This package never imports Caddy.
package jwtservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultSecret is the signing secret used when Options.Secret is empty: the JWT_SECRET_KEY of the
// service's .env.example, which the example manifests' APISIX consumers also use.
const DefaultSecret = "your-secret-key-here"

const (
	// defaultAccessLifetime is flask-jwt-extended's JWT_ACCESS_TOKEN_EXPIRES in the original app.
	defaultAccessLifetime = time.Hour
	// refreshLifetime is JWT_REFRESH_TOKEN_EXPIRES; exp_hours never changes it.
	refreshLifetime = 30 * 24 * time.Hour
	// maxBody caps request bodies; a login is a few hundred bytes, an inline api_key_config a few KiB.
	maxBody = 1 << 20
	// jweNote is the note of the original service's JWE /token answer.
	jweNote = "Tokens are JWE-encrypted. Use /decrypt-jwe endpoint to extract JWT."
	// secretNote accompanies tokens signed with the request's own secret.
	secretNote = "Tokens signed with the custom secret from the request (HS256, no JWE); they do not verify with the service's JWT_SECRET_KEY."
)

// Options configure the fake service.
type Options struct {
	// UsersFile is the users.yaml to authenticate against. Empty uses built-in users admin, hk, ps and ds,
	// all with the password "password", like the service's sample config/users.yaml.
	UsersFile string
	// APIKeysDir holds the <api_key>.yaml files and base_api_key.yaml. Empty means there are none, so a
	// request without an inline api_key_config gets only the user claims.
	APIKeysDir string
	// Secret is the HS256 signing secret (the service's JWT_SECRET_KEY). Defaults to DefaultSecret.
	Secret string
	// Now is the clock used for iat/nbf/exp and for validating tokens. Defaults to time.Now.
	Now func() time.Time
}

// Server is the fake JWT service. It is an http.Handler, safe for concurrent use.
type Server struct {
	users      map[string]map[string]any
	apiKeysDir string
	secret     []byte
	now        func() time.Time
	requests   atomic.Int64
}

// New loads the users and returns the service. It fails when the users file cannot be read or parsed, or
// when APIKeysDir is set but is not a directory.
func New(opts Options) (*Server, error) {
	s := &Server{apiKeysDir: opts.APIKeysDir, secret: []byte(opts.Secret), now: opts.Now}
	if len(s.secret) == 0 {
		s.secret = []byte(DefaultSecret)
	}
	if s.now == nil {
		s.now = time.Now
	}
	data := []byte(defaultUsers)
	if opts.UsersFile != "" {
		var err error
		if data, err = os.ReadFile(opts.UsersFile); err != nil {
			return nil, fmt.Errorf("reading users file: %w", err)
		}
	}
	users, err := parseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("parsing users file %q: %w", opts.UsersFile, err)
	}
	s.users = users
	if s.apiKeysDir != "" {
		fi, err := os.Stat(s.apiKeysDir)
		if err != nil {
			return nil, fmt.Errorf("checking API keys dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("checking API keys dir: %s is not a directory", s.apiKeysDir)
		}
	}
	return s, nil
}

// Requests returns how many /token requests the service has received, whatever their outcome. Tests use
// it to check that a gateway did (or did not) call the service.
func (s *Server) Requests() int64 { return s.requests.Load() }

// ServeHTTP routes the three endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		method string
		handle func(http.ResponseWriter, *http.Request)
	)
	switch r.URL.Path {
	case "/token":
		method, handle = http.MethodPost, s.token
	case "/validate":
		method, handle = http.MethodPost, s.validate
	case "/protected":
		method, handle = http.MethodGet, s.protected
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not found"})
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "Method not allowed"})
		return
	}
	handle(w, r)
}

// token implements POST /token (spec §4.2).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	req, ok := readJSONObject(w, r)
	if !ok {
		writeError(w, http.StatusBadRequest, "Missing JSON in request")
		return
	}
	username, password := req["username"], req["password"]
	// Flask checks `if not username or not password`: Python truthiness, so "" and null are both missing.
	if !truthy(username) || !truthy(password) {
		writeError(w, http.StatusBadRequest, "Missing username or password")
		return
	}
	userData, ok := s.authenticate(username, password)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Invalid username or password")
		return
	}
	name := userData["sub"].(string) // authenticate only accepts string usernames

	src, err := s.claimsSource(req)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	claims := make(map[string]any, len(userData)+8)
	for k, v := range userData {
		claims[k] = v
	}
	for k, v := range src.extraClaims(userContext(name, userData)) {
		claims[k] = v
	}

	access := defaultAccessLifetime
	if v, ok := claims["exp_hours"]; ok {
		delete(claims, "exp_hours")
		h, ok := number(v)
		if !ok {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("exp_hours must be a number, got %s", pyRepr(v)))
			return
		}
		access = time.Duration(h * float64(time.Hour))
	}

	secret, custom := s.secret, false
	if v, ok := req["secret"]; ok && truthy(v) {
		str, isStr := v.(string)
		if !isStr {
			writeError(w, http.StatusBadRequest, "secret must be a string")
			return
		}
		secret, custom = []byte(str), true
	}

	now := s.now()
	accessTok, err := sign(secret, name, claims, "access", now, access)
	if err == nil {
		var refreshTok string
		refreshTok, err = sign(secret, name, claims, "refresh", now, refreshLifetime)
		if err == nil {
			s.respondTokens(w, src, claims, accessTok, refreshTok, custom)
			return
		}
	}
	writeError(w, http.StatusInternalServerError, fmt.Sprintf("signing token: %v", err))
}

// respondTokens writes the /token answer: plain, custom-secret, or JWE-wrapped.
func (s *Server) respondTokens(w http.ResponseWriter, src claimsSource, claims map[string]any, access, refresh string, custom bool) {
	if custom {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "refresh_token": refresh, "note": secretNote})
		return
	}
	jc := src.jweConfig()
	if jc == nil || !truthy(jc["enabled"]) {
		writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "refresh_token": refresh})
		return
	}
	enc, err := newEncrypter(jc, claims["key"])
	if errors.Is(err, errNoJWEKey) {
		writeError(w, http.StatusInternalServerError, "JWE encryption key not configured")
		return
	}
	var encAccess, encRefresh string
	if err == nil {
		if encAccess, err = enc.wrap(access); err == nil {
			encRefresh, err = enc.wrap(refresh)
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "JWE encryption failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  encAccess,
		"refresh_token": encRefresh,
		"token_type":    "JWE",
		"encryption":    enc.enc,
		"note":          jweNote,
	})
}

// validate implements POST /validate: always 200 with a "valid" flag once a token is given.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	req, ok := readJSONObject(w, r)
	if !ok {
		writeError(w, http.StatusBadRequest, "Missing JSON in request")
		return
	}
	tok, _ := req["token"].(string)
	if tok == "" {
		writeError(w, http.StatusBadRequest, "Missing token")
		return
	}
	claims, derr := s.decode(tok)
	if derr != nil {
		// The original derives both flags from the exception text, so an expired token (PyJWT's "Signature
		// has expired") reports signature_verified false. Kept for compatibility.
		msg := strings.ToLower(derr.msg)
		writeJSON(w, http.StatusOK, map[string]any{
			"valid":              false,
			"signature_verified": !strings.Contains(msg, "signature"),
			"expired":            strings.Contains(msg, "expired"),
			"error":              derr.msg,
		})
		return
	}
	exp, okExp := number(claims["exp"])
	iat, okIat := number(claims["iat"])
	if !okExp || !okIat {
		// Python's decoded['exp'] raises KeyError('exp'), whose str() is "'exp'".
		missing := "'exp'"
		if okExp {
			missing = "'iat'"
		}
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "signature_verified": true, "expired": false, "error": missing})
		return
	}
	iss, ok := claims["iss"]
	if !ok {
		iss = "Not specified"
	}
	sub, ok := claims["sub"]
	if !ok {
		sub = "Not specified"
	}
	expT := unixFloat(exp)
	writeJSON(w, http.StatusOK, map[string]any{
		"valid":              true,
		"signature_verified": true,
		"expired":            expT.Before(s.now()),
		"expiry_time":        expT.UTC().Format("2006-01-02 15:04:05 UTC"),
		"issued_at":          unixFloat(iat).UTC().Format("2006-01-02 15:04:05 UTC"),
		"issuer":             iss,
		"subject":            sub,
	})
}

// protected implements GET /protected, flask-jwt-extended's @jwt_required(): 401 for a missing header or an
// expired token, 422 for any other invalid token.
func (s *Server) protected(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	if h == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"msg": "Missing Authorization Header"})
		return
	}
	scheme, tok, found := strings.Cut(h, " ")
	if scheme != "Bearer" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"msg": "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'"})
		return
	}
	if !found || tok == "" || strings.Contains(tok, " ") {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"msg": "Bad Authorization header. Expected value 'Bearer <JWT>'"})
		return
	}
	claims, derr := s.decode(tok)
	switch {
	case derr != nil && derr.expired:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"msg": "Token has expired"})
	case derr != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"msg": derr.msg})
	case claims["type"] == "refresh":
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"msg": "Only non-refresh tokens are allowed"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"logged_in_as": claims["sub"]})
	}
}

// readJSONObject reads a JSON object body the way Flask's request.is_json + request.json do: the content
// type must be application/json or application/*+json. Numbers are kept as json.Number so that claims
// are re-emitted exactly as the client wrote them.
func readJSONObject(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	// json.loads rejects trailing data ("Extra data"), and Flask then answers 400.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return obj, true
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

// writeJSON answers like Flask's jsonify: compact JSON, keys sorted (Go sorts map keys, Flask sorts too),
// a trailing newline, and no HTML escaping.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing useful to do about it
}
