// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"errors"
	"net/http"
	"strings"
)

// StaticPolicy is how a route without manifest auth plugins authenticates, from static configuration:
// FD2 API keys and/or bearer JWTs.
type StaticPolicy struct {
	// Keys looks up FD2 API keys (nil: API keys are not accepted).
	Keys KeyStore
	// JWT verifies bearer JWTs (nil: JWTs are not accepted); Cache holds its verified tokens.
	JWT   *JWSVerifier
	Cache *TokenCache
	// Optional lets a request without any credential through unauthenticated (a present but bad
	// credential is still refused).
	Optional bool
}

// Authenticate checks r. It returns (nil, nil) when the policy is optional and r has no credential.
// Failures are *apierr.Error 401s. API key headers are FD2's own credentials and are taken off the request.
func (s *StaticPolicy) Authenticate(r *http.Request) (*Principal, error) {
	cred := Bearer(r.Header.Get("Authorization"))
	for _, h := range [...]string{"X-Api-Key", "Api-Key"} {
		if v := r.Header.Get(h); v != "" {
			if cred == "" {
				cred = v
			}
			r.Header.Del(h)
		}
	}
	if s.Keys != nil && cred != "" {
		if _, ok := ParseAPIKey(cred); ok && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer fd2_") {
			r.Header.Del("Authorization")
		}
	}
	if cred == "" {
		if s.Optional {
			return nil, nil
		}
		return nil, Unauthorized("missing_credentials", "an API key or bearer token is required", nil)
	}
	if s.Keys != nil {
		if _, ok := ParseAPIKey(cred); ok {
			k, err := s.Keys.Lookup(r.Context(), cred)
			if err != nil {
				msg := "invalid API key"
				if errors.Is(err, ErrKeyRevoked) {
					msg = "API key revoked"
				} else if errors.Is(err, ErrKeyExpired) {
					msg = "API key expired"
				}
				return nil, Unauthorized("invalid_api_key", msg, err)
			}
			return k.Principal(), nil
		}
	}
	if s.JWT != nil && strings.Count(cred, ".") == 2 {
		if p, ok := s.Cache.Get(cred); ok {
			return p, nil
		}
		claims, err := s.JWT.Verify(r.Context(), cred)
		if err != nil {
			return nil, Unauthorized("invalid_token", TokenMessage(err), err)
		}
		p := PrincipalFromClaims("jwt", "", claims)
		p.Consumer = p.Subject
		s.Cache.Put(cred, p)
		return p, nil
	}
	return nil, Unauthorized("invalid_credentials", "the credential is not a valid API key or token", nil)
}
