// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package jwtservice

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// pyError is an error whose text is the Python service's exception message, which the /token answer
// quotes after "JWE encryption failed: " (hence the capitalised messages).
type pyError string

func (e pyError) Error() string { return string(e) }

func pyErrorf(format string, args ...any) error { return pyError(fmt.Sprintf(format, args...)) }

// errNoJWEKey means jwe_config.enabled is set but there is no key (or its ${VAR} is unset); the service
// answers 500 "JWE encryption key not configured".
var errNoJWEKey = errors.New("jwe encryption key not configured")

// jweKeySizes are the key lengths the original service requires per enc (utils/jwe_handler.py). The CBC
// entries are validated but not implemented (see the package doc).
var jweKeySizes = map[string]int{
	"A128GCM":       16,
	"A192GCM":       24,
	"A256GCM":       32,
	"A128CBC-HS256": 32,
	"A192CBC-HS384": 48,
	"A256CBC-HS512": 64,
}

// encrypter wraps signed tokens in compact JWE with one jwe_config.
type encrypter struct {
	aead     cipher.AEAD
	enc      string
	compress bool
	// header is the base64url protected header, which is also the AEAD's additional data (RFC 7516 §5.1).
	header string
}

// newEncrypter validates a jwe_config in the original's order (key algorithm, content encryption,
// compression, then the key) with its error messages. kid is the token's "key" claim, put in the header
// when truthy so that APISIX's jwe-decrypt can pick the consumer.
func newEncrypter(jc map[string]any, kid any) (*encrypter, error) {
	alg := pyStr(jc, "algorithm", "dir")
	enc := pyStr(jc, "encryption", "A256GCM")
	zip, hasZip := jc["compression"]
	if alg != "dir" {
		return nil, pyErrorf("Unsupported key algorithm: %s", alg)
	}
	size, ok := jweKeySizes[enc]
	if !ok {
		return nil, pyErrorf("Unsupported content encryption: %s", enc)
	}
	compress := false
	if hasZip && zip != nil {
		if zip != "DEF" {
			return nil, pyErrorf("Unsupported compression: %s", pyStr(jc, "compression", ""))
		}
		compress = true
	}
	keyStr, _ := jc["encryption_key"].(string)
	// Only a value that is exactly ${VAR} is read from the environment.
	if strings.HasPrefix(keyStr, "${") && strings.HasSuffix(keyStr, "}") {
		keyStr = os.Getenv(keyStr[2 : len(keyStr)-1])
	}
	if keyStr == "" {
		return nil, errNoJWEKey
	}
	key := deriveKey(keyStr)
	if len(key) != size {
		return nil, pyErrorf("Invalid key size: expected %d bytes for %s, got %d bytes", size, enc, len(key))
	}
	if strings.Contains(enc, "CBC") {
		return nil, fmt.Errorf("content encryption %s is not implemented by this fake", enc)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	hdr := struct {
		Alg string `json:"alg"`
		Enc string `json:"enc"`
		Kid any    `json:"kid,omitempty"`
		Zip string `json:"zip,omitempty"`
	}{Alg: alg, Enc: enc}
	if truthy(kid) {
		hdr.Kid = kid
	}
	if compress {
		hdr.Zip = "DEF"
	}
	// jwcrypto writes the header compact with sorted keys; the field order above is already sorted.
	hb, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("encoding JWE header: %w", err)
	}
	return &encrypter{aead: aead, enc: enc, compress: compress, header: base64.RawURLEncoding.EncodeToString(hb)}, nil
}

// wrap encrypts {"jwt":"<jws>"} into a compact JWE: header, empty encrypted key ("dir"), IV, ciphertext
// and tag.
func (e *encrypter) wrap(jws string) (string, error) {
	plain, err := json.Marshal(map[string]string{"jwt": jws})
	if err != nil {
		return "", fmt.Errorf("encoding JWE payload: %w", err)
	}
	if e.compress {
		// "DEF" is raw DEFLATE (RFC 1951) without zlib framing (RFC 7516 §4.1.3).
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
		if err != nil {
			return "", fmt.Errorf("compressing JWE payload: %w", err)
		}
		if _, err := fw.Write(plain); err != nil {
			return "", fmt.Errorf("compressing JWE payload: %w", err)
		}
		if err := fw.Close(); err != nil {
			return "", fmt.Errorf("compressing JWE payload: %w", err)
		}
		plain = buf.Bytes()
	}
	iv := make([]byte, e.aead.NonceSize())
	_, _ = rand.Read(iv) // crypto/rand.Read never fails (Go 1.24+)
	sealed := e.aead.Seal(nil, iv, plain, []byte(e.header))
	ct, tag := sealed[:len(sealed)-e.aead.Overhead()], sealed[len(sealed)-e.aead.Overhead():]
	b64 := base64.RawURLEncoding.EncodeToString
	return e.header + ".." + b64(iv) + "." + b64(ct) + "." + b64(tag), nil
}

// deriveKey turns a jwe_config encryption_key into key bytes the way the original does: Python's lenient
// base64.b64decode, else bytes.fromhex, else the raw UTF-8 bytes. A string that is valid lenient base64
// is used as decoded even when the length is then wrong (no fallback), so in practice the hex step never
// yields a usable key: a hex string of an even-sized key is also valid base64.
func deriveKey(s string) []byte {
	if b, err := pyB64Decode(s); err == nil {
		return b
	}
	if b, err := pyFromHex(s); err == nil {
		return b
	}
	return []byte(s)
}

// pyB64Decode is CPython's binascii.a2b_base64 in non-strict mode (what base64.b64decode uses): characters
// outside the alphabet are skipped, "=" only counts after two data characters of a quantum and ends the
// input once the quantum is complete, and a partial final quantum is an error.
func pyB64Decode(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, errors.New("string argument should contain only ASCII characters")
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	out := make([]byte, 0, len(s)*3/4)
	quad, pads := 0, 0
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v := strings.IndexByte(alphabet, c)
		if v < 0 {
			continue
		}
		pads = 0
		b := byte(v)
		switch quad {
		case 0:
			left, quad = b, 1
		case 1:
			out = append(out, left<<2|b>>4)
			left, quad = b&0x0f, 2
		case 2:
			out = append(out, left<<4|b>>2)
			left, quad = b&0x03, 3
		case 3:
			out = append(out, left<<6|b)
			left, quad = 0, 0
		}
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		return nil, errors.New("invalid base64: a single data character after a multiple of 4")
	default:
		return nil, errors.New("incorrect padding")
	}
}

// pyFromHex is bytes.fromhex: pairs of hex digits, with ASCII whitespace allowed between pairs.
func pyFromHex(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)/2)
	for i := 0; ; {
		for i < len(s) && strings.IndexByte(" \t\n\r\v\f", s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("non-hexadecimal number found in fromhex() arg at position %d", i+1)
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 {
			return nil, fmt.Errorf("non-hexadecimal number found in fromhex() arg at position %d", i)
		}
		if !ok2 {
			return nil, fmt.Errorf("non-hexadecimal number found in fromhex() arg at position %d", i+1)
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pyStr reads a config string the way Python's dict.get(key, default) then f"{value}" would: a missing key
// gives def, null gives "None".
func pyStr(m map[string]any, key, def string) string {
	v, ok := m[key]
	switch t := v.(type) {
	case nil:
		if !ok {
			return def
		}
		return "None"
	case string:
		return t
	default:
		return fmt.Sprint(t)
	}
}
