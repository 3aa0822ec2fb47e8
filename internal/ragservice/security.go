// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// securityConfig is RAGConfig.security.
type securityConfig struct {
	Enabled       bool     `json:"enabled"`
	Type          string   `json:"type"`
	JWTSecretKey  string   `json:"jwt_secret_key"`
	JWTAlgorithm  string   `json:"jwt_algorithm"`
	JWTIssuer     string   `json:"jwt_issuer"`
	JWTAudience   string   `json:"jwt_audience"`
	JWTRequireExp bool     `json:"jwt_require_exp"`
	JWTRequireIat bool     `json:"jwt_require_iat"`
	JWTLeeway     float64  `json:"jwt_leeway"`
	APIKeys       []string `json:"api_keys"`
}

func securityOf(cfg map[string]any) (securityConfig, error) {
	var sc securityConfig
	b, err := json.Marshal(cfg["security"])
	if err != nil {
		return sc, fmt.Errorf("encoding security: %w", err)
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, fmt.Errorf("security: %w", err)
	}
	if !sc.Enabled {
		return sc, nil
	}
	switch sc.Type {
	case "jwt_bearer":
		if sc.JWTSecretKey == "" {
			return sc, errors.New("jwt_secret_key is required when security type is jwt_bearer")
		}
	case "api_key":
	default:
		return sc, fmt.Errorf("unsupported security type: %q", sc.Type)
	}
	return sc, nil
}

func unauthorized(detail string) *httpError {
	return &httpError{status: http.StatusUnauthorized, detail: detail}
}

// authorize is RAG2's validate_security_and_merge_filters: nil claims filter when security is off, the 401s
// of SecurityService otherwise, with PyJWT's messages after "Invalid token: ".
func (s *Server) authorize(cfg map[string]any, authorization string, requestFilter map[string]any) (map[string]any, error) {
	sc, err := securityOf(cfg)
	if err != nil {
		return nil, err
	}
	if !sc.Enabled {
		return requestFilter, nil
	}
	if authorization == "" {
		return nil, unauthorized("Authorization header is required")
	}
	if sc.Type == "api_key" {
		if !slices.Contains(sc.APIKeys, strings.TrimSpace(authorization)) {
			return nil, unauthorized("Invalid API key")
		}
		return requestFilter, nil
	}
	parts := strings.Fields(authorization)
	if len(parts) != 2 {
		return nil, unauthorized("Invalid authorization header format. Expected 'Bearer <token>'")
	}
	if !strings.EqualFold(parts[0], "bearer") {
		return nil, unauthorized("Invalid authentication scheme. Expected 'Bearer'")
	}
	claims, err := s.validateJWT(sc, parts[1])
	if err != nil {
		return nil, err
	}
	jwtFilter, _ := claims["metadata_filter"].(map[string]any)
	return mergeFilters(requestFilter, jwtFilter), nil
}

func (s *Server) validateJWT(sc securityConfig, token string) (jwt.MapClaims, error) {
	alg := sc.JWTAlgorithm
	if alg == "" {
		alg = "HS256"
	}
	claims := jwt.MapClaims{}
	// Claims are checked below with PyJWT's rules and messages; the library only checks the signature.
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation()).ParseWithClaims(token, claims,
		func(*jwt.Token) (any, error) { return []byte(sc.JWTSecretKey), nil })
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, unauthorized("Invalid token: Not enough segments")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return nil, unauthorized("Invalid token: The specified alg value is not allowed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, unauthorized("Invalid token: Signature verification failed")
	case err != nil:
		return nil, unauthorized("Invalid token: " + err.Error())
	}
	now := s.opts.Now()
	leeway := time.Duration(sc.JWTLeeway * float64(time.Second))
	timeClaim := func(name string) (time.Time, bool, error) {
		v, ok := claims[name]
		if !ok {
			return time.Time{}, false, nil
		}
		f, ok := v.(float64)
		if !ok {
			return time.Time{}, true, unauthorized(fmt.Sprintf("Invalid token: %s must be an integer", map[string]string{"exp": "Expiration Time", "iat": "Issued At", "nbf": "Not Before"}[name]))
		}
		return time.Unix(0, int64(f*float64(time.Second))), true, nil
	}
	if sc.JWTRequireExp {
		exp, ok, err := timeClaim("exp")
		if err != nil {
			return nil, err
		}
		if ok && !now.Before(exp.Add(leeway)) {
			return nil, unauthorized("Token has expired")
		}
	}
	if sc.JWTRequireIat {
		iat, ok, err := timeClaim("iat")
		if err != nil {
			return nil, err
		}
		if ok && iat.After(now.Add(leeway)) {
			return nil, unauthorized("Invalid token: The token is not yet valid (iat)")
		}
	}
	if nbf, ok, err := timeClaim("nbf"); err != nil {
		return nil, err
	} else if ok && nbf.After(now.Add(leeway)) {
		return nil, unauthorized("Invalid token: The token is not yet valid (nbf)")
	}
	if sc.JWTAudience != "" {
		aud, err := claims.GetAudience()
		if err != nil || len(aud) == 0 {
			return nil, unauthorized(`Invalid token: Token is missing the "aud" claim`)
		}
		if !slices.Contains([]string(aud), sc.JWTAudience) {
			return nil, unauthorized("Invalid token: Audience doesn't match")
		}
	}
	if sc.JWTIssuer != "" {
		iss, ok := claims["iss"]
		if !ok {
			return nil, unauthorized(`Invalid token: Token is missing the "iss" claim`)
		}
		if iss != sc.JWTIssuer {
			return nil, unauthorized("Invalid token: Invalid issuer")
		}
	}
	return claims, nil
}
