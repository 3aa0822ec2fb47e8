// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Principal is who a request is authenticated as.
//
// A Principal is immutable once built: the TokenCache hands the same pointer to every request that presents
// the same token, concurrently, so nothing may modify it (or its slices and Claims) after construction.
type Principal struct {
	// Method is how the credential was verified: "jwt-auth", "jwe-decrypt", "key-auth", "api-key" or "jwt".
	Method string
	// Consumer is the consumer id: the APISIX consumer username, or the API key id. Safe to log.
	Consumer string
	// Subject is the "sub" claim (for API keys, the key's owner).
	Subject string
	// Groups and Roles come from the "groups" and "roles" claims.
	Groups, Roles []string
	// Project is the project the credential is scoped to; "" means unscoped.
	Project string
	// Projects lists the projects an API key may use; empty means all. See AllowsProject.
	Projects []string
	// Modules lists the modules an API key may use; empty means all.
	Modules []string
	// Models lists the models the credential may call (claim "models" or key field); empty means all.
	Models []string
	// RateLimit is the claim or key field "rate_limit"; 0 means none.
	RateLimit int
	// Tier is the claim or key field "tier".
	Tier string
	// Claims holds every claim of a JWT. It may contain personal data: never log it.
	Claims map[string]any
	// ExpiresAt is when the credential stops being valid; the zero time means no expiry.
	ExpiresAt time.Time
}

// PrincipalFromClaims maps the claims of a verified token to a Principal. The mapping is lenient because
// issuers disagree on types: "groups", "roles" and "models" may be arrays or a single string (split on
// commas and white space), "rate_limit" and "exp" may be numbers or numeric strings. A claim of an
// unexpected type is ignored rather than rejected: the signature has already been checked, and a missing
// field only narrows what the Principal carries. claims is kept by reference and must not be modified
// afterwards.
func PrincipalFromClaims(method, consumer string, claims map[string]any) *Principal {
	p := &Principal{Method: method, Consumer: consumer, Claims: claims}
	p.Subject, _ = claims["sub"].(string)
	p.Groups = claimStrings(claims["groups"])
	p.Roles = claimStrings(claims["roles"])
	p.Project, _ = claims["project"].(string)
	p.Models = claimStrings(claims["models"])
	if n, ok := claimNumber(claims["rate_limit"]); ok && n > 0 && n <= math.MaxInt32 {
		p.RateLimit = int(n)
	}
	p.Tier, _ = claims["tier"].(string)
	// exp is NumericDate (RFC 7519 §2): seconds, possibly fractional.
	if n, ok := claimNumber(claims["exp"]); ok && n > 0 && n < 1<<40 {
		sec, frac := math.Modf(n)
		p.ExpiresAt = time.Unix(int64(sec), int64(frac*1e9))
	}
	return p
}

// claimStrings accepts a JSON array of strings or one string holding a comma- or space-separated list.
// Non-string array elements are skipped.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	case []string:
		return slices.Clone(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// claimNumber converts the numeric forms a decoded claim can take (float64 from encoding/json, json.Number
// under UseNumber, Go integers when claims are built in code, numeric strings) to a float64.
func claimNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// AllowsProject reports whether the credential may be used for project. An unscoped credential (no Project
// and no Projects) allows every project; otherwise project must be Project or one of Projects.
func (p *Principal) AllowsProject(project string) bool {
	if p.Project == "" && len(p.Projects) == 0 {
		return true
	}
	return (p.Project != "" && p.Project == project) || slices.Contains(p.Projects, project)
}

// AllowsModule reports whether the credential may use module: Modules is empty or contains it.
func (p *Principal) AllowsModule(module string) bool {
	return len(p.Modules) == 0 || slices.Contains(p.Modules, module)
}

// AllowsModel reports whether the credential may call model: Models is empty or contains it.
func (p *Principal) AllowsModel(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}

// Claim returns the string form of the top-level claim name, for the placeholder {dsp.claim.<name>}:
// strings as they are, numbers in their shortest decimal form without exponent or trailing zeros
// (1700000000, not 1.7e+09), booleans as "true"/"false", null as "", and arrays and objects as compact
// JSON. ok is false when the claim is absent.
func (p *Principal) Claim(name string) (string, bool) {
	v, ok := p.Claims[name]
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		// An integer literal is kept digit for digit: going through float64 would round ids above 2^53.
		if isIntegerLiteral(v.String()) {
			return v.String(), true
		}
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	// Placeholders end up in headers and URLs, where \u003c is no more useful than '<': keep HTML as is.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", true
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

// isIntegerLiteral reports whether s is an optional minus sign followed by decimal digits only.
func isIntegerLiteral(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
