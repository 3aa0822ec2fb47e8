// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// JWE limits.
const (
	// jweMaxTokenLen bounds the compact token DecryptDir looks at, before any decoding. A JWE-wrapped
	// JWS from the DSP JWT service is about 1.5 KiB.
	jweMaxTokenLen = 256 << 10
	// jweMaxPlaintext caps the inflated plaintext of a zip:"DEF" token: DEFLATE reaches ratios near
	// 1000:1, so a 256 KiB token could otherwise expand to hundreds of MiB (a zip bomb).
	jweMaxPlaintext = 1 << 20
)

// jweEncSpec describes a content encryption algorithm of RFC 7518 §5.1.
type jweEncSpec struct {
	keyLen int              // bytes of the CEK, which for "dir" is the shared key itself
	ivLen  int              // 12 for GCM (96-bit nonce), 16 for CBC
	tagLen int              // 16 for GCM, half the key for CBC-HS
	hash   func() hash.Hash // nil for GCM
}

var jweEncs = map[string]jweEncSpec{
	"A128GCM":       {keyLen: 16, ivLen: 12, tagLen: 16},
	"A192GCM":       {keyLen: 24, ivLen: 12, tagLen: 16},
	"A256GCM":       {keyLen: 32, ivLen: 12, tagLen: 16},
	"A128CBC-HS256": {keyLen: 32, ivLen: 16, tagLen: 16, hash: sha256.New},
	"A192CBC-HS384": {keyLen: 48, ivLen: 16, tagLen: 24, hash: sha512.New384},
	"A256CBC-HS512": {keyLen: 64, ivLen: 16, tagLen: 32, hash: sha512.New},
}

// DecryptDir decrypts a compact JWE (RFC 7516 §7.1) whose protected header has alg "dir", i.e. the
// shared key is the content encryption key, as APISIX jwe-decrypt and the DSP JWT service use it.
// enc may be any of A128GCM, A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384, A256CBC-HS512, and
// zip "DEF" (raw DEFLATE, RFC 1951) is inflated up to 1 MiB.
//
// keyFor receives the header's kid ("" when absent) and returns the key bytes; its error, or a nil
// key, becomes ErrUnknownKey, so keyFor should not wrap other sentinels of this package. The key must
// have exactly the length enc needs.
//
// On success it returns the plaintext and the decoded protected header. Errors wrap exactly one of
// ErrTokenMissing, ErrTokenMalformed (structure, base64, JSON, IV/tag length, non-empty encrypted key,
// corrupt or oversized DEFLATE), ErrTokenInvalid (alg not "dir", unknown enc or zip, crit, wrong key
// length, authentication failure) and ErrUnknownKey.
//
// The authentication tag is always checked before anything is decrypted or inflated, and in constant
// time, so no padding or decompression oracle exists for unauthenticated input.
func DecryptDir(token string, keyFor func(kid string) ([]byte, error)) (plaintext []byte, header map[string]any, err error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil, jweErr(ErrTokenMissing, "empty token")
	}
	if len(token) > jweMaxTokenLen {
		return nil, nil, jweErr(ErrTokenMalformed, "token exceeds 256 KiB")
	}
	if strings.Count(token, ".") != 4 {
		return nil, nil, jweErr(ErrTokenMalformed, "compact JWE needs 5 segments")
	}
	parts := strings.SplitN(token, ".", 5)
	protected, encKey, ivSeg, ctSeg, tagSeg := parts[0], parts[1], parts[2], parts[3], parts[4]

	hdrJSON, err := base64.RawURLEncoding.DecodeString(protected)
	if err != nil {
		return nil, nil, jweErr(ErrTokenMalformed, "protected header is not base64url")
	}
	if err := json.Unmarshal(hdrJSON, &header); err != nil || header == nil {
		return nil, nil, jweErr(ErrTokenMalformed, "protected header is not a JSON object")
	}
	// Everything the header and the segment lengths can reveal is checked before keyFor runs, so
	// garbage never costs a key lookup (which may hit a secret store).
	spec, deflate, kid, err := jweCheckHeader(header)
	if err != nil {
		return nil, nil, err
	}
	// RFC 7516 §5.2 step 10 and RFC 7518 §4.5: with "dir" the JWE Encrypted Key MUST be empty.
	if encKey != "" {
		return nil, nil, jweErr(ErrTokenMalformed, "encrypted key must be empty for alg dir")
	}
	iv, err := base64.RawURLEncoding.DecodeString(ivSeg)
	if err != nil || len(iv) != spec.ivLen {
		return nil, nil, jweErr(ErrTokenMalformed, "iv is not base64url of the length enc needs")
	}
	// Ciphertext and tag share one buffer, laid out as AES-GCM's Open wants them (ciphertext || tag),
	// so GCM can decrypt in place without another copy.
	enc := base64.RawURLEncoding
	buf := make([]byte, enc.DecodedLen(len(ctSeg))+enc.DecodedLen(len(tagSeg)))
	nCT, err := enc.Decode(buf, []byte(ctSeg))
	if err != nil {
		return nil, nil, jweErr(ErrTokenMalformed, "ciphertext is not base64url")
	}
	nTag, err := enc.Decode(buf[nCT:], []byte(tagSeg))
	if err != nil || nTag != spec.tagLen {
		return nil, nil, jweErr(ErrTokenMalformed, "tag is not base64url of the length enc needs")
	}
	ct, tag := buf[:nCT], buf[nCT:nCT+nTag]

	if keyFor == nil {
		return nil, nil, jweErr(ErrUnknownKey, "no key source")
	}
	key, err := keyFor(kid)
	switch {
	case err != nil && errors.Is(err, ErrUnknownKey):
		return nil, nil, fmt.Errorf("decrypting jwe: %w", err)
	case err != nil:
		return nil, nil, fmt.Errorf("decrypting jwe: %w: %w", ErrUnknownKey, err)
	case len(key) == 0:
		return nil, nil, jweErr(ErrUnknownKey, "no key for kid")
	case len(key) != spec.keyLen:
		return nil, nil, jweErr(ErrTokenInvalid, "key length does not match enc")
	}

	// RFC 7516 §5.1 step 14: the AAD is the ASCII of the protected header's base64url form as sent.
	aad := []byte(protected)
	if spec.hash == nil {
		plaintext, err = jweGCMOpen(key, iv, buf[:nCT+nTag], aad)
	} else {
		plaintext, err = jweCBCOpen(key, spec.hash, iv, ct, tag, aad)
	}
	if err != nil {
		return nil, nil, err
	}
	if deflate {
		if plaintext, err = jweInflate(plaintext); err != nil {
			return nil, nil, err
		}
	}
	return plaintext, header, nil
}

// jweCheckHeader validates alg, enc, zip, crit and kid.
func jweCheckHeader(h map[string]any) (spec jweEncSpec, deflate bool, kid string, err error) {
	if alg, _ := h["alg"].(string); alg != "dir" {
		return spec, false, "", jweErr(ErrTokenInvalid, "alg must be dir")
	}
	encName, _ := h["enc"].(string)
	spec, ok := jweEncs[encName]
	if !ok {
		return spec, false, "", jweErr(ErrTokenInvalid, "enc not supported")
	}
	// RFC 7516 §4.1.13: we understand no extension, so any crit must be refused.
	if _, ok := h["crit"]; ok {
		return spec, false, "", jweErr(ErrTokenInvalid, "crit header not supported")
	}
	if z, present := h["zip"]; present {
		if z != "DEF" {
			return spec, false, "", jweErr(ErrTokenInvalid, "zip not supported")
		}
		deflate = true
	}
	if raw, present := h["kid"]; present {
		s, isString := raw.(string)
		if !isString {
			return spec, false, "", jweErr(ErrTokenMalformed, "kid header is not a string")
		}
		kid = s
	}
	return spec, deflate, kid, nil
}

// jweGCMOpen decrypts ctAndTag in place; the nonce is the 96-bit JWE IV. cipher.NewGCM uses exactly
// the 96-bit nonce and 128-bit tag RFC 7518 §5.3 prescribes, so no custom sizes are needed.
func jweGCMOpen(key, iv, ctAndTag, aad []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, jweErr(ErrTokenInvalid, "bad AES key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, jweErr(ErrTokenInvalid, "bad AES key")
	}
	pt, err := aead.Open(ctAndTag[:0], iv, ctAndTag, aad)
	if err != nil {
		return nil, jweErr(ErrTokenInvalid, "authentication tag mismatch")
	}
	return pt, nil
}

// jweCBCMAC computes the RFC 7518 §5.2.2.1 tag: the first half of
// HMAC(MAC_KEY, AAD || IV || ciphertext || AL), AL being the AAD length in bits as a 64-bit big-endian
// integer. MAC_KEY is the first half of the key.
func jweCBCMAC(key []byte, h func() hash.Hash, iv, ct, aad []byte) []byte {
	half := len(key) / 2
	mac := hmac.New(h, key[:half])
	mac.Write(aad)
	mac.Write(iv)
	mac.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(aad))*8)
	mac.Write(al[:])
	return mac.Sum(nil)[:half]
}

// jweCBCOpen verifies the tag first (constant time) and only then decrypts with ENC_KEY, the second
// half of the key, and strips PKCS #7 padding: checking the MAC first is what keeps CBC padding
// oracles out (RFC 7518 §5.2.2.2).
func jweCBCOpen(key []byte, h func() hash.Hash, iv, ct, tag, aad []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, jweErr(ErrTokenMalformed, "ciphertext is not a whole number of AES blocks")
	}
	if !hmac.Equal(jweCBCMAC(key, h, iv, ct, aad), tag) {
		return nil, jweErr(ErrTokenInvalid, "authentication tag mismatch")
	}
	block, err := aes.NewCipher(key[len(key)/2:])
	if err != nil {
		return nil, jweErr(ErrTokenInvalid, "bad AES key")
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	// The MAC already proved the sender holds the key, so a bad pad here is the sender's bug, not an
	// oracle an attacker can query.
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, jweErr(ErrTokenInvalid, "bad padding")
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, jweErr(ErrTokenInvalid, "bad padding")
		}
	}
	return pt[:len(pt)-pad], nil
}

// jweCBCSeal pads with PKCS #7, encrypts with ENC_KEY and returns ciphertext and tag.
func jweCBCSeal(key []byte, h func() hash.Hash, iv, plaintext, aad []byte) (ct, tag []byte, err error) {
	block, err := aes.NewCipher(key[len(key)/2:])
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting jwe: %w", err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	ct = make([]byte, len(plaintext)+pad)
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return ct, jweCBCMAC(key, h, iv, ct, aad), nil
}

// jweInflate inflates raw DEFLATE data, as the JWT service's jwcrypto writes it
// (zlib.compress(data)[2:-4]), refusing output beyond jweMaxPlaintext.
func jweInflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, jweMaxPlaintext+1))
	if err != nil {
		return nil, jweErr(ErrTokenMalformed, "corrupt DEFLATE payload")
	}
	if len(out) > jweMaxPlaintext {
		return nil, jweErr(ErrTokenMalformed, "DEFLATE payload inflates beyond 1 MiB")
	}
	return out, nil
}

// jweHeader is the protected header EncryptDir writes. Its fields are in alphabetical order, and
// encoding/json keeps struct order, so for ASCII kids the JSON matches jwcrypto's compact sort_keys
// output byte for byte (interop does not depend on it: the AAD is whatever header string was sent).
type jweHeader struct {
	Alg string `json:"alg"`
	Enc string `json:"enc"`
	Kid string `json:"kid,omitempty"`
	Zip string `json:"zip,omitempty"`
}

// EncryptDir produces a compact JWE with alg "dir" the way the DSP JWT service does: protected header
// {"alg":"dir","enc":enc,"kid":kid,"zip":"DEF"} (kid and zip only when set), a random IV and the
// plaintext, deflated first when deflate is true. key must have exactly the length enc needs. It
// serves tests and the fake JWT service; the gateway itself only decrypts.
func EncryptDir(plaintext []byte, key []byte, enc, kid string, deflate bool) (string, error) {
	spec, ok := jweEncs[enc]
	if !ok {
		return "", fmt.Errorf("encrypting jwe: %w: unsupported enc %q", ErrInvalidKeyMaterial, enc)
	}
	if len(key) != spec.keyLen {
		return "", fmt.Errorf("encrypting jwe: %w: %s needs a %d-byte key, got %d",
			ErrInvalidKeyMaterial, enc, spec.keyLen, len(key))
	}
	hdr := jweHeader{Alg: "dir", Enc: enc, Kid: kid}
	data := plaintext
	if deflate {
		hdr.Zip = "DEF"
		var zb bytes.Buffer
		zw, err := flate.NewWriter(&zb, flate.DefaultCompression)
		if err != nil {
			return "", fmt.Errorf("encrypting jwe: %w", err)
		}
		if _, err := zw.Write(plaintext); err != nil {
			return "", fmt.Errorf("encrypting jwe: %w", err)
		}
		if err := zw.Close(); err != nil {
			return "", fmt.Errorf("encrypting jwe: %w", err)
		}
		data = zb.Bytes()
	}
	hdrJSON, err := json.Marshal(hdr)
	if err != nil {
		return "", fmt.Errorf("encrypting jwe: %w", err)
	}
	protected := base64.RawURLEncoding.EncodeToString(hdrJSON)
	aad := []byte(protected)

	// Random 96-bit GCM IVs are safe for 2^32 messages per key (NIST SP 800-38D §8.3); CBC needs an
	// unpredictable IV anyway.
	iv := make([]byte, spec.ivLen)
	if _, err := rand.Read(iv); err != nil {
		return "", fmt.Errorf("encrypting jwe: %w", err)
	}
	var ct, tag []byte
	if spec.hash == nil {
		block, err := aes.NewCipher(key)
		if err != nil {
			return "", fmt.Errorf("encrypting jwe: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return "", fmt.Errorf("encrypting jwe: %w", err)
		}
		sealed := aead.Seal(nil, iv, data, aad)
		ct, tag = sealed[:len(sealed)-aead.Overhead()], sealed[len(sealed)-aead.Overhead():]
	} else if ct, tag, err = jweCBCSeal(key, spec.hash, iv, data, aad); err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	var sb strings.Builder
	sb.Grow(len(protected) + 4 + b64.EncodedLen(len(iv)) + b64.EncodedLen(len(ct)) + b64.EncodedLen(len(tag)))
	sb.WriteString(protected)
	sb.WriteString("..") // empty encrypted key for dir
	sb.WriteString(b64.EncodeToString(iv))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(ct))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(tag))
	return sb.String(), nil
}

// jweErr builds a decryption error. detail must be a fixed text: never token, kid or key bytes.
func jweErr(sentinel error, detail string) error {
	return fmt.Errorf("decrypting jwe: %w: %s", sentinel, detail)
}
