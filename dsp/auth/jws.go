// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verification sentinels. Every error returned by JWSVerifier.Verify, UnverifiedClaim, UnverifiedHeader,
// DecryptDir and JWKS.Key wraps exactly one of them, so a handler can pick its response with errors.Is
// without parsing texts. The texts never include the token, a secret or key bytes.
var (
	// ErrTokenMissing means there was no token at all (empty or blank string).
	ErrTokenMissing = errors.New("token missing")

	// ErrTokenMalformed means the token is not a well-formed compact JWS/JWE: wrong number of segments,
	// bad base64url or JSON, a claim of the wrong type (exp as a string), an oversized token, an IV or
	// tag of the wrong length, or a DEFLATE payload that is corrupt or inflates past the cap.
	ErrTokenMalformed = errors.New("token malformed")

	// ErrTokenInvalid means the token is well-formed but must not be trusted: bad signature or auth tag,
	// alg "none", an algorithm outside the allowlist or unknown, a key whose type does not match the
	// algorithm (alg confusion), a JWK bound to another alg, a crit header, a missing exp when RequireExp
	// is set, a JWE alg other than "dir" or a key of the wrong length for the enc.
	ErrTokenInvalid = errors.New("token invalid")

	// ErrTokenExpired means exp is at or before now minus the leeway.
	ErrTokenExpired = errors.New("token expired")

	// ErrTokenNotYetValid means nbf or iat lies in the future by more than the leeway.
	ErrTokenNotYetValid = errors.New("token not yet valid")

	// ErrUnknownKey means no key is known for the token's kid (JWS or JWE) or key claim, also after the
	// rate-limited JWKS refetch.
	ErrUnknownKey = errors.New("unknown key")

	// ErrIssuerAudience means the iss or aud claim is missing or not accepted while the verifier checks it.
	ErrIssuerAudience = errors.New("token issuer or audience not accepted")
)

// jwsMaxTokenLen bounds what Verify and the Unverified* helpers will look at. The DSP JWT service's
// tokens are well under 2 KiB; the cap keeps a hostile 1 MB header from costing base64 and JSON work.
const jwsMaxTokenLen = 16 << 10

// jwsFamily groups algorithms by the key type they need. Checking the family before handing a key to
// golang-jwt is what stops alg confusion: an HS* token is only ever checked against HMACSecret, never
// against the bytes of a public key.
type jwsFamily uint8

const (
	jwsHMAC jwsFamily = iota + 1
	jwsRSA
	jwsECDSA
	jwsEdDSA
)

type jwsAlgSpec struct {
	family jwsFamily
	curve  elliptic.Curve // ECDSA only: the curve RFC 7518 §3.4 binds to the alg
}

// jwsAlgs lists every algorithm Verify can accept. A name outside this table (including "none" in any
// spelling) is never accepted, whatever JWSVerifier.Algorithms says.
var jwsAlgs = map[string]jwsAlgSpec{
	"HS256": {family: jwsHMAC},
	"HS384": {family: jwsHMAC},
	"HS512": {family: jwsHMAC},
	"RS256": {family: jwsRSA},
	"RS384": {family: jwsRSA},
	"RS512": {family: jwsRSA},
	"PS256": {family: jwsRSA},
	"PS384": {family: jwsRSA},
	"PS512": {family: jwsRSA},
	"ES256": {family: jwsECDSA, curve: elliptic.P256()},
	"ES384": {family: jwsECDSA, curve: elliptic.P384()},
	"ES512": {family: jwsECDSA, curve: elliptic.P521()},
	"EdDSA": {family: jwsEdDSA},
}

// JWSVerifier verifies compact JWS tokens (JWTs) and returns their claims. It emulates the checks of
// the APISIX jwt-auth plugin (signature, exp, nbf) and adds iat, iss and aud checks for other issuers.
//
// Fill the fields once and then share the verifier: Verify only reads them and is safe for concurrent
// use. The zero value rejects every token, because Algorithms is empty.
type JWSVerifier struct {
	// Algorithms is the allowlist of JWS "alg" values, e.g. ["HS256"] for the DSP JWT service. It is
	// required: an empty list rejects every token. "none" and names golang-jwt does not implement are
	// ignored even when listed, so an unsigned token can never pass.
	Algorithms []string

	// HMACSecret verifies HS256/HS384/HS512 tokens. It is the only key ever used for HS* tokens: public
	// keys are not consulted, which defeats alg confusion (an HS256 token "signed" with a public key's
	// PEM). An HS* token with no HMACSecret configured is ErrTokenInvalid.
	HMACSecret []byte

	// PublicKeys are static verification keys by kid: *rsa.PublicKey for RS*/PS*, *ecdsa.PublicKey on
	// the matching curve for ES256/ES384/ES512, ed25519.PublicKey for EdDSA. The entry "" serves tokens
	// whose kid matches nothing else. Lookup order: PublicKeys[kid], then JWKS, then PublicKeys[""].
	PublicKeys map[string]crypto.PublicKey

	// JWKS, when set, supplies keys by kid from a JSON Web Key Set. A JWK that names an "alg" only
	// verifies tokens of that alg.
	JWKS *JWKS

	// Issuer, when set, must equal the token's iss claim; a token without iss fails.
	Issuer string

	// Audience, when set, must share at least one value with the token's aud claim (string or array);
	// a token without aud fails.
	Audience []string

	// Leeway is the clock skew tolerated on exp, nbf and iat. Negative means zero.
	Leeway time.Duration

	// RequireExp rejects tokens without an exp claim (ErrTokenInvalid). Without it, exp is checked only
	// when present, like APISIX jwt-auth.
	RequireExp bool

	// Now returns the current time; nil means time.Now. Tests inject a fixed clock here.
	Now func() time.Time
}

// Validate reports configuration mistakes that would make Verify reject tokens it was meant to accept:
// no usable algorithm, an HS* algorithm without HMACSecret, or an asymmetric algorithm with neither
// PublicKeys nor JWKS. Verify does not require it; handlers call it at provisioning time.
func (v *JWSVerifier) Validate() error {
	allowed := v.allowedAlgs()
	if len(allowed) == 0 {
		return errors.New("validating jws verifier: no supported algorithm in the allowlist")
	}
	for _, alg := range allowed {
		if jwsAlgs[alg].family == jwsHMAC {
			if len(v.HMACSecret) == 0 {
				return fmt.Errorf("validating jws verifier: %s allowed but no HMAC secret configured", alg)
			}
		} else if len(v.PublicKeys) == 0 && v.JWKS == nil {
			return fmt.Errorf("validating jws verifier: %s allowed but no public key or JWKS configured", alg)
		}
	}
	return nil
}

// allowedAlgs is the allowlist reduced to algorithms this package implements; "none" never survives.
func (v *JWSVerifier) allowedAlgs() []string {
	out := make([]string, 0, len(v.Algorithms))
	for _, a := range v.Algorithms {
		if _, ok := jwsAlgs[a]; ok && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Verify checks the token's signature, algorithm and time claims (and iss/aud when configured) and
// returns its claims. Surrounding whitespace is ignored; the "Bearer " prefix must already be gone.
//
// The claims are decoded like encoding/json into map[string]any: JSON numbers become float64 (so
// integers above 2^53 lose precision), arrays []any and objects map[string]any.
//
// ctx only bounds a JWKS refetch triggered by an unknown kid. Errors wrap exactly one sentinel of this
// package; when several claim checks fail, the first of malformed claim type, expired, not yet valid,
// issuer/audience, missing exp wins.
func (v *JWSVerifier) Verify(ctx context.Context, token string) (map[string]any, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, jwsErr(ErrTokenMissing, "empty token")
	}
	// Checked before any decoding so an oversized token costs nothing but this comparison.
	if len(token) > jwsMaxTokenLen {
		return nil, jwsErr(ErrTokenMalformed, "token exceeds 16 KiB")
	}
	allowed := v.allowedAlgs()
	if len(allowed) == 0 {
		return nil, jwsErr(ErrTokenInvalid, "no algorithm allowed")
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(allowed),
		jwt.WithLeeway(max(v.Leeway, 0)),
		jwt.WithIssuedAt(),
	}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if len(v.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(v.Audience...))
	}
	if v.RequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}

	// golang-jwt wraps keyfunc errors in its own chain; keeping ours aside lets Verify return it
	// unchanged, so it still wraps exactly one sentinel (ErrUnknownKey, ErrTokenInvalid, ...).
	var keyErr error
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		k, err := v.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	if err == nil {
		return map[string]any(claims), nil
	}
	if keyErr != nil {
		return nil, keyErr
	}
	return nil, v.mapError(err, tok, claims)
}

// mapError turns a golang-jwt error into one of our sentinels. It never wraps golang-jwt's chain:
// some of its texts quote bytes of the token (JSON syntax errors), and its chain would add a second
// classification.
func (v *JWSVerifier) mapError(err error, tok *jwt.Token, claims jwt.MapClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return jwsErr(ErrTokenMalformed, "not a compact JWS with base64url JSON segments")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return jwsErr(ErrTokenInvalid, "alg header missing or unsupported")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && !slices.Contains(v.allowedAlgs(), tok.Method.Alg()) {
			return jwsErr(ErrTokenInvalid, "algorithm not allowed")
		}
		return jwsErr(ErrTokenInvalid, "signature invalid")
	case errors.Is(err, jwt.ErrInvalidType):
		return jwsErr(ErrTokenMalformed, "registered claim has the wrong type")
	case errors.Is(err, jwt.ErrTokenExpired):
		return jwsErr(ErrTokenExpired, "exp passed")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return jwsErr(ErrTokenNotYetValid, "nbf in the future")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return jwsErr(ErrTokenNotYetValid, "iat in the future")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return jwsErr(ErrIssuerAudience, "iss or aud not accepted")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if exp, _ := claims.GetExpirationTime(); v.RequireExp && exp == nil {
			return jwsErr(ErrTokenInvalid, "exp claim required")
		}
		return jwsErr(ErrIssuerAudience, "iss or aud claim missing")
	}
	return jwsErr(ErrTokenInvalid, "verification failed")
}

// keyFor is the golang-jwt keyfunc. It runs after the allowlist check and returns a key whose type
// matches the algorithm family, or an error wrapping one sentinel.
func (v *JWSVerifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	// RFC 7515 §4.1.11: a crit header lists extensions the recipient must understand; we know none.
	if _, ok := t.Header["crit"]; ok {
		return nil, jwsErr(ErrTokenInvalid, "crit header not supported")
	}
	alg := t.Method.Alg()
	spec, ok := jwsAlgs[alg]
	if !ok {
		return nil, jwsErr(ErrTokenInvalid, "algorithm not supported")
	}
	if spec.family == jwsHMAC {
		if len(v.HMACSecret) == 0 {
			return nil, jwsErr(ErrTokenInvalid, "HS algorithm but no HMAC secret configured")
		}
		return v.HMACSecret, nil
	}

	var kid string
	if raw, present := t.Header["kid"]; present {
		s, isString := raw.(string)
		if !isString {
			return nil, jwsErr(ErrTokenMalformed, "kid header is not a string")
		}
		kid = s
	}
	key, jwkAlg, err := v.publicKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	// RFC 7517 §4.4: a JWK's alg restricts the key to that algorithm.
	if jwkAlg != "" && jwkAlg != alg {
		return nil, jwsErr(ErrTokenInvalid, "key is bound to another algorithm")
	}
	return jwsCheckKey(spec, key)
}

// publicKey finds the verification key for kid: an exact static key, then the JWKS, then the static
// wildcard "". The JWKS comes before the wildcard so a configured wildcard cannot shadow rotated keys.
func (v *JWSVerifier) publicKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	if kid != "" {
		if k, ok := v.PublicKeys[kid]; ok {
			return k, "", nil
		}
	}
	var jwksErr error
	if v.JWKS != nil {
		k, alg, err := v.JWKS.Key(ctx, kid)
		if err == nil {
			return k, alg, nil
		}
		jwksErr = err
	}
	if k, ok := v.PublicKeys[""]; ok {
		return k, "", nil
	}
	if jwksErr != nil {
		return nil, "", fmt.Errorf("verifying jws: %w", jwksErr)
	}
	return nil, "", jwsErr(ErrUnknownKey, "no public key for kid")
}

// jwsCheckKey returns key if its type fits the algorithm family (and curve), else ErrTokenInvalid.
func jwsCheckKey(spec jwsAlgSpec, key crypto.PublicKey) (any, error) {
	switch spec.family {
	case jwsRSA:
		if k, ok := key.(*rsa.PublicKey); ok && k != nil {
			return k, nil
		}
	case jwsECDSA:
		if k, ok := key.(*ecdsa.PublicKey); ok && k != nil && k.Curve == spec.curve {
			return k, nil
		}
	case jwsEdDSA:
		switch k := key.(type) {
		case ed25519.PublicKey:
			if len(k) == ed25519.PublicKeySize {
				return k, nil
			}
		case *ed25519.PublicKey:
			if k != nil && len(*k) == ed25519.PublicKeySize {
				return *k, nil
			}
		}
	}
	return nil, jwsErr(ErrTokenInvalid, "key type does not match algorithm")
}

// jwsErr builds a verification error. detail must be a fixed text: never token, kid or key bytes.
func jwsErr(sentinel error, detail string) error {
	return fmt.Errorf("verifying jws: %w: %s", sentinel, detail)
}

// UnverifiedClaim returns the claim name from a compact JWS payload WITHOUT checking the signature or
// any claim. jwt-auth needs it to pick the consumer (and so the secret) by the `key` claim before it
// can verify; never trust the value for anything else. It returns (nil, nil) when the claim is absent;
// numbers come back as float64. Garbage yields ErrTokenMalformed, an empty string ErrTokenMissing.
func UnverifiedClaim(token, name string) (any, error) {
	seg, err := jwsSegment(token, 1)
	if err != nil {
		return nil, err
	}
	// Decoding into RawMessage values defers the work to the one claim asked for.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(seg, &obj); err != nil || obj == nil {
		return nil, jwsErr(ErrTokenMalformed, "payload is not a JSON object")
	}
	raw, ok := obj[name]
	if !ok {
		return nil, nil
	}
	var val any
	if err := json.Unmarshal(raw, &val); err != nil {
		return nil, jwsErr(ErrTokenMalformed, "claim is not valid JSON")
	}
	return val, nil
}

// UnverifiedHeader returns the protected header of a compact JWS (3 segments) or JWE (5 segments)
// WITHOUT verifying anything, e.g. to read kid or alg, or to tell a JWE from a JWS.
func UnverifiedHeader(token string) (map[string]any, error) {
	seg, err := jwsSegment(token, 0)
	if err != nil {
		return nil, err
	}
	var hdr map[string]any
	if err := json.Unmarshal(seg, &hdr); err != nil || hdr == nil {
		return nil, jwsErr(ErrTokenMalformed, "header is not a JSON object")
	}
	return hdr, nil
}

// jwsSegment decodes segment i of a compact serialization. Only index 0 accepts a 5-segment JWE: a
// JWE's second segment is an encrypted key, not claims.
func jwsSegment(token string, i int) ([]byte, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, jwsErr(ErrTokenMissing, "empty token")
	}
	if len(token) > jwsMaxTokenLen {
		return nil, jwsErr(ErrTokenMalformed, "token exceeds 16 KiB")
	}
	n := strings.Count(token, ".") + 1
	if n != 3 && (i != 0 || n != 5) {
		return nil, jwsErr(ErrTokenMalformed, "wrong number of segments")
	}
	seg := token
	for range i {
		_, seg, _ = strings.Cut(seg, ".")
	}
	seg, _, _ = strings.Cut(seg, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, jwsErr(ErrTokenMalformed, "segment is not base64url")
	}
	return b, nil
}
