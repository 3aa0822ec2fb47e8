// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package jwtservice

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// baseAPIKey is the file name (without .yaml) of the fallback claims, and the api_key name that dynamic
// claims see when it is used.
const baseAPIKey = "base_api_key"

// defaultUsers mirrors the service's sample config/users.yaml: four users whose password is "password".
const defaultUsers = `
admin: {password: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, name: Administrator, email: admin@example.com, groups: [administrators], roles: [admin, user]}
hk: {password: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, name: Regular User, email: user1@example.com, groups: [users, grp_tier1], roles: [user]}
ps: {password: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, name: Regular User, email: user1@example.com, groups: [users, grp_tier2], roles: [user]}
ds: {password: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8, name: Regular User, email: user1@example.com, groups: [users, grp_tier3], roles: [user]}
`

func parseUsers(data []byte) (map[string]map[string]any, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	users := make(map[string]map[string]any, len(raw))
	for name, v := range raw {
		u, ok := jsonable(v).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("user %q: entry is not a mapping", name)
		}
		users[name] = u
	}
	return users, nil
}

// authenticate checks a password against the users file (SHA-256 hex, like auth/file_auth.py) and returns
// user_data = {sub, name, email, groups, roles}. A non-string username or password fails, as the
// original's exception handler turns the TypeError into a failed login.
func (s *Server) authenticate(username, password any) (map[string]any, bool) {
	name, ok1 := username.(string)
	pw, ok2 := password.(string)
	if !ok1 || !ok2 {
		return nil, false
	}
	u, ok := s.users[name]
	if !ok {
		return nil, false
	}
	stored, _ := u["password"].(string)
	sum := sha256.Sum256([]byte(pw))
	if subtle.ConstantTimeCompare([]byte(stored), []byte(hex.EncodeToString(sum[:]))) != 1 {
		return nil, false
	}
	get := func(key string, def any) any {
		if v, ok := u[key]; ok {
			return v
		}
		return def
	}
	return map[string]any{
		"sub":    name,
		"name":   get("name", name),
		"email":  get("email", ""),
		"groups": get("groups", []any{}),
		"roles":  get("roles", []any{}),
	}, true
}

// userContext is what dynamic claims may reference as "{user_id}", "{team_id}", "{groups}", …
func userContext(name string, userData map[string]any) map[string]any {
	groups, _ := userData["groups"].([]any)
	team := "general-users"
	switch {
	case slices.Contains(groups, any("administrators")) || slices.Contains(groups, any("admins")):
		team = "admin-team"
	case slices.Contains(groups, any("ai-team")):
		team = "ai-team"
	case slices.Contains(groups, any("ml-team")):
		team = "ml-team"
	}
	return map[string]any{
		"user_id": name,
		"email":   userData["email"],
		"groups":  userData["groups"],
		"roles":   userData["roles"],
		"team_id": team,
	}
}

// claimsSource is the API-key config that supplies the extra claims and the JWE settings: an inline
// api_key_config or a decoded YAML file. A nil config means no source at all (no API-keys directory).
type claimsSource struct {
	config map[string]any
	apiKey string // the name dynamic claims see as "{api_key}"
}

// claimsSource picks the config by the priority of spec §4.2: inline api_key_config, then
// APIKeysDir/<api_key>.yaml, then APIKeysDir/base_api_key.yaml.
func (s *Server) claimsSource(req map[string]any) (claimsSource, error) {
	apiKey := ""
	switch v := req["api_key"].(type) {
	case string:
		apiKey = v
	case json.Number:
		apiKey = v.String() // Python formats f"{api_key}.yaml"
	}
	if cfg, ok := req["api_key_config"].(map[string]any); ok && len(cfg) > 0 {
		if apiKey == "" {
			apiKey = baseAPIKey
		}
		return claimsSource{config: cfg, apiKey: apiKey}, nil
	}
	if s.apiKeysDir == "" {
		return claimsSource{}, nil
	}
	if apiKey != "" && safeName(apiKey) {
		cfg, err := loadAPIKey(filepath.Join(s.apiKeysDir, apiKey+".yaml"))
		if err == nil {
			return claimsSource{config: cfg, apiKey: apiKey}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return claimsSource{}, fmt.Errorf("loading API key %q: %w", apiKey, err)
		}
	}
	cfg, err := loadAPIKey(filepath.Join(s.apiKeysDir, baseAPIKey+".yaml"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return claimsSource{}, nil
	case err != nil:
		return claimsSource{}, fmt.Errorf("loading base API key: %w", err)
	}
	if apiKey == "" {
		apiKey = baseAPIKey
	}
	return claimsSource{config: cfg, apiKey: apiKey}, nil
}

// safeName reports whether an api_key may be used as a file name inside APIKeysDir.
func safeName(name string) bool {
	return !strings.ContainsAny(name, `/\`) && !strings.Contains(name, "..") && !strings.ContainsRune(name, 0)
}

func loadAPIKey(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", filepath.Base(path), err)
	}
	cfg, _ := jsonable(raw).(map[string]any)
	if cfg == nil {
		cfg = map[string]any{} // an empty file is an API key without claims
	}
	return cfg, nil
}

// extraClaims returns claims.static merged with the resolved claims.dynamic (dynamic wins). The config's
// metadata is never put in the token.
func (c claimsSource) extraClaims(userCtx map[string]any) map[string]any {
	claims, _ := c.config["claims"].(map[string]any)
	static, _ := claims["static"].(map[string]any)
	dynamic, _ := claims["dynamic"].(map[string]any)
	out := make(map[string]any, len(static)+len(dynamic))
	for k, v := range static {
		out[k] = v
	}
	keyID := ""
	if v, ok := c.config["id"].(string); ok {
		keyID = v
	}
	for name, spec := range dynamic {
		spec, _ := spec.(map[string]any)
		if v, ok := dynamicClaim(spec, userCtx, c.apiKey, keyID); ok && truthy(v) {
			out[name] = v
		}
	}
	return out
}

// jweConfig returns the source's jwe_config object, or nil.
func (c claimsSource) jweConfig() map[string]any {
	jc, _ := c.config["jwe_config"].(map[string]any)
	return jc
}

// claimFunctions emulates the sample service's constant demo claim functions (claims/quota.py and
// claims/access.py). Each takes the substituted args and reports false when a required argument is
// missing, which in Python is a TypeError and therefore a skipped claim.
var claimFunctions = map[string]func(args map[string]any) (any, bool){
	"claims.quota.get_remaining_quota": func(args map[string]any) (any, bool) {
		if _, ok := args["user_id"]; !ok {
			return nil, false
		}
		return map[string]any{"remaining_tokens": 10000, "reset_date": "2025-06-01"}, true
	},
	"claims.access.check_model_access": func(args map[string]any) (any, bool) {
		id, ok := args["api_key_id"]
		if !ok {
			return nil, false
		}
		models := []any{"gpt-3.5-turbo"}
		switch id {
		case "groq-service":
			models = []any{"llama3-70b", "llama3-8b", "mixtral-8x7b"}
		case "openai-service":
			models = []any{"gpt-3.5-turbo", "gpt-4", "gpt-4-turbo"}
		case "full-access":
			models = []any{"gpt-4", "llama3-70b", "claude-3-opus", "claude-3-sonnet"}
		}
		return map[string]any{"available_models": models, "is_restricted": len(models) < 3}, true
	},
}

// dynamicClaim resolves one claims.dynamic entry. Only the emulated "function" claims resolve; "api",
// "formula", unknown types and unknown functions report false and are skipped, like a failing claim in
// the original.
func dynamicClaim(spec, userCtx map[string]any, apiKey, apiKeyID string) (any, bool) {
	if spec["type"] != "function" {
		return nil, false
	}
	module, _ := spec["module"].(string)
	function, _ := spec["function"].(string)
	fn, ok := claimFunctions[module+"."+function]
	if !ok {
		return nil, false
	}
	rawArgs, _ := spec["args"].(map[string]any)
	args := make(map[string]any, len(rawArgs))
	for name, v := range rawArgs {
		str, isStr := v.(string)
		if !isStr || !strings.HasPrefix(str, "{") || !strings.HasSuffix(str, "}") {
			args[name] = v
			continue
		}
		switch ph := str[1 : len(str)-1]; ph {
		case "api_key":
			args[name] = apiKey
		case "api_key_id":
			args[name] = apiKeyID
		default:
			if cv, ok := userCtx[ph]; ok {
				args[name] = cv
			} else {
				args[name] = ""
			}
		}
	}
	return fn(args)
}

// jsonable converts YAML-decoded values to ones encoding/json can marshal: mappings with non-string keys
// get their keys formatted, as Python's json.dumps does with int keys.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = jsonable(e)
		}
		return t
	default:
		return v
	}
}

// truthy is Python's bool(): None, False, 0, "" and empty containers are false.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case json.Number:
		f, err := t.Float64()
		return err != nil || f != 0
	case int:
		return t != 0
	case float64:
		return t != 0
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	default:
		return true
	}
}

// number converts a JSON or YAML number (or a bool, which Python's timedelta accepts as an int).
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case uint64:
		return float64(t), true
	case bool:
		if t {
			return 1, true
		}
		return 0, true
	default:
		return 0, false
	}
}

// pyRepr formats a value for an error message.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case string:
		return strconv.Quote(t)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}

// unixFloat converts a NumericDate-style number of seconds to a time.
func unixFloat(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}
