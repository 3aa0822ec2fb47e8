// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors of API key lookups and key stores. Lookup returns ErrKeyInvalid both for an unknown id and for a
// wrong secret, so that a caller cannot probe which ids exist; ErrKeyRevoked and ErrKeyExpired are only
// returned to someone who presented the full, correct key.
var (
	ErrKeyInvalid  = errors.New("invalid api key")
	ErrKeyRevoked  = errors.New("api key revoked")
	ErrKeyExpired  = errors.New("api key expired")
	ErrKeyExists   = errors.New("api key id already exists")
	ErrKeyNotFound = errors.New("api key not found")
)

// An API key as handed to a user is "fd2_<id>_<secret>": id is 12 lowercase hex characters (48 random
// bits) that find the record, secret is 32 random bytes in unpadded base64url. Only sha256 of the whole
// string is stored. The fixed "fd2_" prefix lets secret scanners (GitHub push protection, trufflehog)
// recognise leaked keys.
const (
	apiKeyPrefix    = "fd2_"
	apiKeyIDLen     = 12
	apiKeySecretLen = 43 // base64.RawURLEncoding.EncodedLen(32)
	apiKeyLen       = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen
)

// APIKey is the stored record of an API key. It never contains the secret, only Hash.
type APIKey struct {
	// ID is the public part of the key ("fd2_<id>_…"): 12 lowercase hex characters. Safe to log.
	ID string `json:"id" yaml:"id"`
	// Owner is who the key was issued to; it becomes the Principal's Subject.
	Owner string `json:"owner" yaml:"owner"`
	// Description is free text for operators.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Hash is the lowercase hex SHA-256 of the full key string.
	Hash string `json:"hash" yaml:"hash"`
	// CreatedAt is when the key was issued.
	CreatedAt time.Time `json:"created_at" yaml:"created_at"`
	// ExpiresAt, when set, is the instant from which the key is rejected with ErrKeyExpired.
	ExpiresAt *time.Time `json:"expires_at,omitempty" yaml:"expires_at,omitempty"`
	// Revoked keys are rejected with ErrKeyRevoked. Records are kept after revocation for audit.
	Revoked bool `json:"revoked,omitempty" yaml:"revoked,omitempty"`
	// Projects, Modules and Models restrict what the key may use; empty means no restriction.
	Projects []string `json:"projects,omitempty" yaml:"projects,omitempty"`
	Modules  []string `json:"modules,omitempty" yaml:"modules,omitempty"`
	Models   []string `json:"models,omitempty" yaml:"models,omitempty"`
	// RateLimit is passed on to the rate limiter through the Principal; 0 means none.
	RateLimit int `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	// Tier is passed on through the Principal.
	Tier string `json:"tier,omitempty" yaml:"tier,omitempty"`
}

// KeyOption sets an optional field of a new API key record.
type KeyOption func(*APIKey)

// WithDescription sets the record's Description.
func WithDescription(d string) KeyOption { return func(k *APIKey) { k.Description = d } }

// WithExpiry makes the key expire at t.
func WithExpiry(t time.Time) KeyOption { return func(k *APIKey) { k.ExpiresAt = &t } }

// WithProjects restricts the key to projects.
func WithProjects(projects ...string) KeyOption {
	return func(k *APIKey) { k.Projects = slices.Clone(projects) }
}

// WithModules restricts the key to modules.
func WithModules(modules ...string) KeyOption {
	return func(k *APIKey) { k.Modules = slices.Clone(modules) }
}

// WithModels restricts the key to models.
func WithModels(models ...string) KeyOption {
	return func(k *APIKey) { k.Models = slices.Clone(models) }
}

// WithRateLimit sets the key's RateLimit.
func WithRateLimit(n int) KeyOption { return func(k *APIKey) { k.RateLimit = n } }

// WithTier sets the key's Tier.
func WithTier(tier string) KeyOption { return func(k *APIKey) { k.Tier = tier } }

// WithCreatedAt overrides CreatedAt (default time.Now()), for tests and imports.
func WithCreatedAt(t time.Time) KeyOption { return func(k *APIKey) { k.CreatedAt = t } }

// NewAPIKey generates a key for owner from crypto/rand. plaintext is shown to the user once; rec is what
// a KeyStore keeps. The caller stores rec with KeyStore.Create, which fails with ErrKeyExists in the
// unlikely case of an id collision; generate a new key then.
func NewAPIKey(owner string, opts ...KeyOption) (plaintext string, rec APIKey, err error) {
	if owner == "" {
		return "", APIKey{}, errors.New("creating api key: owner is required")
	}
	var raw [6 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("creating api key: reading random bytes: %w", err)
	}
	id := hex.EncodeToString(raw[:6])
	plaintext = apiKeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(raw[6:])
	rec = APIKey{ID: id, Owner: owner, Hash: HashAPIKey(plaintext), CreatedAt: time.Now().UTC()}
	for _, o := range opts {
		o(&rec)
	}
	return plaintext, rec, nil
}

// HashAPIKey returns the hex SHA-256 of a full key string, the form stored in APIKey.Hash.
func HashAPIKey(plaintext string) string {
	sum := sha256String(plaintext)
	return hex.EncodeToString(sum[:])
}

// ParseAPIKey checks that s has the shape of an API key and returns its id, a substring of s. It does not
// allocate, so garbage in an Authorization header costs a few comparisons. Note that the id shares
// memory with s: clone it before keeping it, or the secret stays reachable.
func ParseAPIKey(s string) (id string, ok bool) {
	if len(s) != apiKeyLen || s[:len(apiKeyPrefix)] != apiKeyPrefix || s[len(apiKeyPrefix)+apiKeyIDLen] != '_' {
		return "", false
	}
	id = s[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyIDLen]
	if !validAPIKeyID(id) {
		return "", false
	}
	secret := s[len(s)-apiKeySecretLen:]
	for i := 0; i < len(secret); i++ {
		if apiKeyB64Value(secret[i]) < 0 {
			return "", false
		}
	}
	// 43 characters carry 258 bits for 256: a canonical encoding leaves the last character's low 2 bits 0.
	if apiKeyB64Value(secret[len(secret)-1])&3 != 0 {
		return "", false
	}
	return id, true
}

func apiKeyB64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// validAPIKeyID reports whether id has the form of an API key id.
func validAPIKeyID(id string) bool {
	if len(id) != apiKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Principal returns the Principal of a request authenticated with this key: Method "api-key", Consumer
// the key id, Subject the owner. The slices are shared with the record, which stores treat as immutable.
func (k *APIKey) Principal() *Principal {
	p := &Principal{
		Method:    "api-key",
		Consumer:  k.ID,
		Subject:   k.Owner,
		Projects:  k.Projects,
		Modules:   k.Modules,
		Models:    k.Models,
		RateLimit: k.RateLimit,
		Tier:      k.Tier,
	}
	if k.ExpiresAt != nil {
		p.ExpiresAt = *k.ExpiresAt
	}
	return p
}

// KeyStore keeps API key records.
//
// Lookup parses presented, finds the record by id, compares sha256(presented) with its Hash in constant
// time, then checks revocation and expiry. It returns ErrKeyInvalid for a malformed key, an unknown id or
// a wrong secret alike; ErrKeyRevoked or ErrKeyExpired (wrapped) for a correct key that may no longer be
// used; and any other error when the store itself failed (the caller should answer 5xx, not 401). The
// returned record is shared and must not be modified.
type KeyStore interface {
	Lookup(ctx context.Context, presented string) (*APIKey, error)
	// Create adds rec; ErrKeyExists if its id is taken.
	Create(ctx context.Context, rec APIKey) error
	// Revoke marks the key revoked; ErrKeyNotFound for an unknown id. Revoking twice is not an error.
	Revoke(ctx context.Context, id string) error
	// List returns every record, revoked and expired ones included.
	List(ctx context.Context) ([]APIKey, error)
}

// apiKeyEntry is a record with its hash decoded once, at load time.
type apiKeyEntry struct {
	rec APIKey
	sum [sha256.Size]byte
}

func newAPIKeyEntry(rec APIKey) (*apiKeyEntry, error) {
	if !validAPIKeyID(rec.ID) {
		return nil, fmt.Errorf("api key id %q: want %d lowercase hex characters", rec.ID, apiKeyIDLen)
	}
	e := &apiKeyEntry{rec: rec}
	if len(rec.Hash) != hex.EncodedLen(sha256.Size) {
		return nil, fmt.Errorf("api key %s: hash must be %d hex characters", rec.ID, hex.EncodedLen(sha256.Size))
	}
	if _, err := hex.Decode(e.sum[:], []byte(rec.Hash)); err != nil {
		return nil, fmt.Errorf("api key %s: decoding hash: %w", rec.ID, err)
	}
	return e, nil
}

// apiKeyDummySum is compared against when the id is unknown, so that both failure paths do the same work.
var apiKeyDummySum [sha256.Size]byte

// verifyAPIKey checks presented against e (nil when the id is unknown) at time now.
func verifyAPIKey(e *apiKeyEntry, presented string, now time.Time) (*APIKey, error) {
	sum := sha256String(presented)
	want := &apiKeyDummySum
	if e != nil {
		want = &e.sum
	}
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || e == nil {
		return nil, ErrKeyInvalid
	}
	if e.rec.Revoked {
		return nil, fmt.Errorf("api key %s: %w", e.rec.ID, ErrKeyRevoked)
	}
	if e.rec.ExpiresAt != nil && !now.Before(*e.rec.ExpiresAt) {
		return nil, fmt.Errorf("api key %s: %w", e.rec.ID, ErrKeyExpired)
	}
	return &e.rec, nil
}

// validateNewAPIKey checks a record handed to Create.
func validateNewAPIKey(rec APIKey) (*apiKeyEntry, error) {
	if rec.Owner == "" {
		return nil, fmt.Errorf("api key %s: owner is required", rec.ID)
	}
	return newAPIKeyEntry(rec)
}
