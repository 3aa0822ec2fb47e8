// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package auth holds the token and key primitives behind FD2's authentication handlers, which emulate the
// APISIX jwt-auth, jwe-decrypt and key-auth plugins and the DSP token broker (spec §3.5, §3.6, §4).
//
// The JOSE part is:
//
//   - JWSVerifier checks a compact JWS (signature over an algorithm allowlist, exp/nbf/iat, iss/aud) with an
//     HMAC secret, static public keys or a JWKS, and returns its claims. UnverifiedClaim and
//     UnverifiedHeader read a token without checking it, so a handler can first pick the consumer whose
//     secret verifies it by the `key` claim, as jwt-auth does.
//   - JWKS is a JSON Web Key Set fetched from a URL, refreshed in the background and on unknown kids.
//   - DecryptDir and EncryptDir implement compact JWE with alg "dir" and every AES-GCM and AES-CBC-HMAC
//     enc of RFC 7518, with optional DEFLATE, using only the standard library.
//   - DeriveJWEKey turns a configured JWE key string into bytes exactly as the DSP JWT service does, and
//     ParsePublicKeyPEM reads verification keys.
//
// The rest:
//
//   - Principal is who a request is authenticated as (consumer, subject, groups, scope, models,
//     rate_limit, claims), built from verified claims or an API key.
//   - TokenCache remembers verified tokens by the SHA-256 of the token (never the token itself) until they
//     expire, bounded; a hit costs one hash and one map lookup and does not allocate.
//   - APIKey, FileStore and RedisStore are FD2's own API keys: fd2_<id>_<secret>, stored as a SHA-256 hash,
//     compared in constant time; the Redis store propagates revocations to every instance by pub/sub.
//
// Every verification error wraps exactly one of the sentinels ErrTokenMissing, ErrTokenMalformed,
// ErrTokenInvalid, ErrTokenExpired, ErrTokenNotYetValid, ErrUnknownKey and ErrIssuerAudience, so handlers
// map them to responses with errors.Is. Error texts never contain tokens, secrets or key bytes, because
// handlers may log them.
//
// This package never imports Caddy.
package auth
