// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Fernet (https://github.com/fernet/spec/blob/master/Spec.md) is implemented on the standard library so
// that encrypted: references written by the Control Tower (Python cryptography's Fernet) decrypt here, and
// tokens FD2 writes decrypt there. Token layout, before urlsafe base64 with padding:
//
//	0x80 | timestamp (8 bytes, big-endian Unix seconds) | IV (16) | AES-128-CBC ciphertext, PKCS#7 | HMAC-SHA256 (32)
//
// The HMAC covers everything before it and is keyed with the first half of the 32-byte key; AES uses the
// second half.

const (
	fernetVersion  = 0x80
	fernetOverhead = 1 + 8 + aes.BlockSize + sha256.Size
	// fernetMaxClockSkew is how far in the future a token's timestamp may be when a TTL is checked; Python
	// cryptography uses the same 60 s.
	fernetMaxClockSkew = 60 * time.Second

	// The Control Tower derives a Fernet key from a passphrase with exactly these parameters; changing any
	// of them makes every stored encrypted: value undecryptable.
	ctKDFSalt       = "dsp-ai-control-tower-salt-v1"
	ctKDFIterations = 100000
)

// ErrInvalidToken means a Fernet token is malformed, fails authentication (wrong key or tampering), or is
// outside its TTL. The reason is deliberately not given, as the spec asks.
var ErrInvalidToken = errors.New("invalid fernet token")

// FernetKey is a 32-byte Fernet key: 16 bytes of HMAC signing key then 16 bytes of AES-128 key.
type FernetKey struct {
	signing    [16]byte
	encryption [16]byte
}

// ParseFernetKey decodes a urlsafe-base64 Fernet key (44 characters with padding; unpadded is accepted).
func ParseFernetKey(s string) (*FernetKey, error) {
	b, err := decodeB64(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errors.New("fernet key must be 32 bytes of urlsafe base64")
	}
	k := new(FernetKey)
	copy(k.signing[:], b[:16])
	copy(k.encryption[:], b[16:])
	return k, nil
}

// DeriveFernetKey turns a passphrase into a key exactly as the Control Tower does:
// PBKDF2-HMAC-SHA256(passphrase, "dsp-ai-control-tower-salt-v1", 100 000 iterations, 32 bytes).
func DeriveFernetKey(passphrase string) (*FernetKey, error) {
	b, err := pbkdf2.Key(sha256.New, passphrase, []byte(ctKDFSalt), ctKDFIterations, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving fernet key: %w", err)
	}
	k := new(FernetKey)
	copy(k.signing[:], b[:16])
	copy(k.encryption[:], b[16:])
	return k, nil
}

// FernetKeyFrom interprets ENCRYPTION_KEY as the Control Tower does: a valid urlsafe-base64 32-byte key is
// used as is, anything else is a passphrase for DeriveFernetKey.
func FernetKeyFrom(keyOrPassphrase string) (*FernetKey, error) {
	if keyOrPassphrase == "" {
		return nil, errors.New("empty encryption key")
	}
	if k, err := ParseFernetKey(keyOrPassphrase); err == nil {
		return k, nil
	}
	return DeriveFernetKey(keyOrPassphrase)
}

// Encode returns the key in its urlsafe-base64 form, as Fernet.generate_key() prints it.
func (k *FernetKey) Encode() string {
	var b [32]byte
	copy(b[:16], k.signing[:])
	copy(b[16:], k.encryption[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// Encrypt seals plaintext into a Fernet token stamped with now and a random IV.
func (k *FernetKey) Encrypt(plaintext []byte, now time.Time) (string, error) {
	var iv [aes.BlockSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return "", fmt.Errorf("reading random IV: %w", err)
	}
	return k.encryptWithIV(plaintext, now, iv[:])
}

func (k *FernetKey) encryptWithIV(plaintext []byte, now time.Time, iv []byte) (string, error) {
	block, err := aes.NewCipher(k.encryption[:])
	if err != nil {
		return "", fmt.Errorf("creating cipher: %w", err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, 0, fernetOverhead+len(plaintext)+pad)
	buf = append(buf, fernetVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(now.Unix()))
	buf = append(buf, iv...)
	ctStart := len(buf)
	buf = append(buf, plaintext...)
	for range pad {
		buf = append(buf, byte(pad))
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf[ctStart:], buf[ctStart:])
	mac := hmac.New(sha256.New, k.signing[:])
	mac.Write(buf)
	buf = mac.Sum(buf)
	return base64.URLEncoding.EncodeToString(buf), nil
}

// Decrypt verifies and opens a token. A ttl > 0 also rejects tokens older than ttl or stamped more than
// 60 s in the future relative to now; ttl 0 skips time checks, which is what the Control Tower does
// (Fernet.decrypt without ttl).
func (k *FernetKey) Decrypt(token string, ttl time.Duration, now time.Time) ([]byte, error) {
	b, err := decodeB64(strings.TrimSpace(token))
	if err != nil {
		return nil, ErrInvalidToken
	}
	if len(b) < fernetOverhead+aes.BlockSize || b[0] != fernetVersion {
		return nil, ErrInvalidToken
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	mac := hmac.New(sha256.New, k.signing[:])
	mac.Write(body)
	// Authenticate before looking at anything else, so that padding errors cannot be used as an oracle.
	if subtle.ConstantTimeCompare(mac.Sum(nil), sum) != 1 {
		return nil, ErrInvalidToken
	}
	if ttl > 0 {
		ts := time.Unix(int64(binary.BigEndian.Uint64(body[1:9])), 0)
		if now.After(ts.Add(ttl)) || ts.After(now.Add(fernetMaxClockSkew)) {
			return nil, ErrInvalidToken
		}
	}
	iv, ct := body[9:9+aes.BlockSize], body[9+aes.BlockSize:]
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrInvalidToken
	}
	block, err := aes.NewCipher(k.encryption[:])
	if err != nil {
		return nil, ErrInvalidToken
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, ErrInvalidToken
	}
	for _, p := range pt[len(pt)-pad:] {
		if int(p) != pad {
			return nil, ErrInvalidToken
		}
	}
	return pt[:len(pt)-pad], nil
}

// decodeB64 accepts urlsafe base64 with padding (what Fernet emits) or, when no padding is present at all,
// without it (tokens pasted through tools that strip '='). Standard-alphabet characters and trailing data
// are rejected, as the spec's invalid.json requires.
func decodeB64(s string) ([]byte, error) {
	b, err := base64.URLEncoding.Strict().DecodeString(s)
	if err != nil && !strings.Contains(s, "=") {
		return base64.RawURLEncoding.Strict().DecodeString(s)
	}
	return b, err
}
