// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKeyMaterial is wrapped by configuration-time key errors: DeriveJWEKey with an unknown enc or
// a key of the wrong length, and ParsePublicKeyPEM with unusable input. It is not a verification
// sentinel; handlers should fail provisioning on it.
var ErrInvalidKeyMaterial = errors.New("invalid key material")

// keysRSAMinBits rejects RSA keys too small to trust. Go's crypto/rsa stops at 1024; we follow
// RFC 7518 §3.3 ("2048 bits or larger MUST be used").
const keysRSAMinBits = 2048

// DeriveJWEKey turns the configured JWE key string s into the content encryption key for enc, exactly
// as the DSP JWT service's JWEHandler._load_key does (spec §4.3):
//
//  1. Python base64.b64decode(s) without validate: characters outside A–Z a–z 0–9 + / are dropped
//     (including base64url's - and _ and whitespace), then the padding must be right; data after a
//     complete "==" or "=" pad is ignored. A non-ASCII s fails this step.
//  2. If that raised: bytes.fromhex(s), which allows ASCII whitespace between byte pairs.
//  3. If that raised too: the raw UTF-8 bytes of s.
//
// The first step that does not raise decides; only then is the length checked against enc (16, 24 or
// 32 bytes for A128GCM/A192GCM/A256GCM, 32, 48 or 64 for A128CBC-HS256/A192CBC-HS384/A256CBC-HS512).
// There is no fallback after a length mismatch, so some strings that look like keys are errors:
//
//   - A 64-character hex string (the JWT service's own "hex" output for A256GCM) consists only of base64
//     characters and has a length divisible by 4, so step 1 succeeds with 48 bytes and A256GCM fails.
//     The original service fails the same way; reproduce it rather than "fix" it, or tokens minted by
//     FD2 and by the service would disagree on which keys work. In fact a hex key of an even number of
//     bytes never reaches step 2.
//   - Strings such as "key-length-should-be-32-chars123" fail step 1 (the dashes are dropped and 27
//     characters remain, which is not a multiple of 4) and step 2, so their 32 raw bytes are the key.
//
// Errors wrap ErrInvalidKeyMaterial and never contain the key.
func DeriveJWEKey(s string, enc string) ([]byte, error) {
	spec, ok := jweEncs[enc]
	if !ok {
		return nil, fmt.Errorf("deriving jwe key: %w: unsupported enc %q", ErrInvalidKeyMaterial, enc)
	}
	var (
		key  []byte
		from string
	)
	if b, ok := pyB64Decode(s); ok {
		key, from = b, "base64"
	} else if b, ok := pyFromHex(s); ok {
		key, from = b, "hex"
	} else {
		key, from = []byte(s), "raw"
	}
	if len(key) != spec.keyLen {
		return nil, fmt.Errorf("deriving jwe key: %w: %s decoding gave %d bytes, %s needs %d",
			ErrInvalidKeyMaterial, from, len(key), enc, spec.keyLen)
	}
	return key, nil
}

// pyB64Decode mirrors CPython's base64.b64decode(s) with validate=False, i.e. binascii.a2b_base64 in
// non-strict mode, and reports whether Python would have raised (false). It walks the input once:
// non-alphabet bytes are skipped, a "=" only counts once at least two data characters of the current
// quantum were seen, and a full pad ends decoding; a partial final quantum is an error.
func pyB64Decode(s string) ([]byte, bool) {
	// base64.b64decode encodes a str argument as ASCII first, raising ValueError on anything else.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, false
		}
	}
	out := make([]byte, 0, len(s)*3/4)
	var quad, pads int
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, true
				}
			}
			continue
		}
		v, ok := pyB64Value(c)
		if !ok {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			left, quad = v, 1
		case 1:
			out = append(out, left<<2|v>>4)
			left, quad = v&0x0f, 2
		case 2:
			out = append(out, left<<4|v>>2)
			left, quad = v&0x03, 3
		case 3:
			out = append(out, left<<6|v)
			left, quad = 0, 0
		}
	}
	if quad != 0 {
		return nil, false // "Incorrect padding" (or "1 more than a multiple of 4")
	}
	return out, true
}

func pyB64Value(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

// pyFromHex mirrors Python 3.7+ bytes.fromhex(s): pairs of hex digits, optionally separated by ASCII
// whitespace, but never split by it.
func pyFromHex(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s)/2)
	for i := 0; i < len(s); {
		if strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
			i++
			continue
		}
		if i+1 >= len(s) {
			return nil, false
		}
		hi, ok1 := hexValue(s[i])
		lo, ok2 := hexValue(s[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return out, true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ParsePublicKeyPEM returns the first public key in PEM data: a "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY"
// (PKCS #1) or "CERTIFICATE" block (the certificate's key; its validity is not checked). Other blocks
// such as "EC PARAMETERS" are skipped, while private keys are refused so that one is never deployed
// where a public key suffices. Supported keys: RSA of at least 2048 bits, ECDSA on P-256/P-384/P-521,
// Ed25519. Errors wrap ErrInvalidKeyMaterial.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("parsing public key pem: %w: no public key block", ErrInvalidKeyMaterial)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("parsing public key pem: %w: %s block given, want a public key",
					ErrInvalidKeyMaterial, block.Type)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing public key pem: %w: %s: %w", ErrInvalidKeyMaterial, block.Type, err)
		}
		if err := checkPublicKey(key); err != nil {
			return nil, fmt.Errorf("parsing public key pem: %w", err)
		}
		return key, nil
	}
}

// checkPublicKey accepts the key types JWSVerifier can use.
func checkPublicKey(key any) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return checkRSAKey(k)
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("%w: unsupported ECDSA curve", ErrInvalidKeyMaterial)
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("%w: unsupported public key type %T", ErrInvalidKeyMaterial, key)
}

// checkRSAKey rejects small moduli and exponents crypto/rsa would refuse at verification time anyway,
// so a bad key fails when it is loaded rather than on every request.
func checkRSAKey(k *rsa.PublicKey) error {
	if k.N == nil || k.N.BitLen() < keysRSAMinBits {
		return fmt.Errorf("%w: RSA key smaller than %d bits", ErrInvalidKeyMaterial, keysRSAMinBits)
	}
	if k.E < 3 || k.E%2 == 0 || k.E > 1<<31-1 {
		return fmt.Errorf("%w: invalid RSA public exponent", ErrInvalidKeyMaterial)
	}
	return nil
}
