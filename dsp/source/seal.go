// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// What the Redis tier and the last-good store hold (issue 12 item 13: never a secret FD2 resolved itself):
//
//   - a document from a source that resolves after loading (Resolving: the file source) is stored as the
//     source serves it, before resolution — plain JSON holding references (vault:…, ${VAR}), not values —
//     and resolved again after every load from those tiers;
//   - a document that arrives resolved (the Control Tower, asked with resolve_env=true) is stored sealed:
//     sealedMagic, a 12-byte nonce, then AES-256-GCM of the document under Config.CacheKey, with the project
//     id as additional data so a value cannot be replayed as another project's. Without a key it is not
//     stored at all (memory only).
//
// A stored form is told apart by its first bytes: a JSON document starts with '{' (or white space),
// sealedMagic cannot.
const sealedMagic = "FD2S\x01"

// errSealed marks a stored value that cannot be opened: no key, another key, or tampering.
var errSealed = errors.New("cannot open a sealed manifest")

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("creating cache cipher: the cache key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cache cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating cache cipher: %w", err)
	}
	return aead, nil
}

func sealAAD(id string) []byte { return []byte("fd2 manifest " + id) }

// seal returns the sealed form of a resolved document.
func seal(aead cipher.AEAD, id string, doc []byte) ([]byte, error) {
	out := make([]byte, len(sealedMagic)+aead.NonceSize(), len(sealedMagic)+aead.NonceSize()+len(doc)+aead.Overhead())
	copy(out, sealedMagic)
	nonce := out[len(sealedMagic):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing manifest %q: %w", id, err)
	}
	return aead.Seal(out, nonce, doc, sealAAD(id)), nil
}

// open returns the document of a stored value and whether it is resolved (it was sealed).
func open(aead cipher.AEAD, id string, stored []byte) (doc []byte, resolved bool, err error) {
	if !bytes.HasPrefix(stored, []byte(sealedMagic)) {
		return stored, false, nil
	}
	if aead == nil {
		return nil, true, fmt.Errorf("opening manifest %q: %w: no cache_key configured", id, errSealed)
	}
	rest := stored[len(sealedMagic):]
	if len(rest) < aead.NonceSize() {
		return nil, true, fmt.Errorf("opening manifest %q: %w: truncated", id, errSealed)
	}
	doc, err = aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], sealAAD(id))
	if err != nil {
		return nil, true, fmt.Errorf("opening manifest %q: %w: wrong key or tampered value", id, errSealed)
	}
	return doc, true, nil
}
