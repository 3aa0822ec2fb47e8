// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package jwtservice

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sign creates an HS256 JWS with flask-jwt-extended's payload: fresh, iat, jti, type, sub, nbf and exp,
// then the custom claims, which (as in flask-jwt-extended's token_data.update) may override any of them.
// A zero lifetime gives no exp at all, because flask-jwt-extended tests `if expires_delta:` and
// timedelta(0) is falsy; exp_hours: 0 therefore issues a token that never expires, as the original does.
func sign(secret []byte, sub string, claims map[string]any, typ string, now time.Time, lifetime time.Duration) (string, error) {
	mc := jwt.MapClaims{
		// Only a direct login is fresh; a refresh token is never fresh.
		"fresh": typ == "access",
		"iat":   now.Unix(),
		"jti":   uuid4(),
		"type":  typ,
		"sub":   sub,
		"nbf":   now.Unix(),
	}
	if lifetime != 0 {
		mc["exp"] = now.Add(lifetime).Unix()
	}
	for k, v := range claims {
		mc[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing %s token: %w", typ, err)
	}
	return s, nil
}

// uuid4 returns a random RFC 9562 version-4 UUID, the jti flask-jwt-extended uses.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// decodeError carries a PyJWT-style message, because /validate derives its flags from the message text.
type decodeError struct {
	msg     string
	expired bool
}

// decode verifies an HS256 token with the service secret, like flask-jwt-extended's decode_token: the
// signature, exp and nbf (no leeway) and the presence of the identity claim "sub".
func (s *Server) decode(tok string) (jwt.MapClaims, *decodeError) {
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(s.now))
	t, err := p.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.secret, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &decodeError{msg: "Signature has expired", expired: true}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, &decodeError{msg: "The token is not yet valid (nbf)"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && t != nil && t.Method != nil && t.Method.Alg() != "HS256":
		return nil, &decodeError{msg: "The specified alg value is not allowed"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, &decodeError{msg: "Signature verification failed"}
	case errors.Is(err, jwt.ErrTokenMalformed) && strings.Count(tok, ".") < 2:
		return nil, &decodeError{msg: "Not enough segments"}
	default:
		return nil, &decodeError{msg: "Invalid token: " + err.Error()}
	}
	if _, ok := claims["sub"]; !ok {
		return nil, &decodeError{msg: "Missing claim: sub"}
	}
	return claims, nil
}
