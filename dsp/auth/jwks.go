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
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsp-ai/fd2/dsp/background"
)

// JWKS defaults and limits.
const (
	jwksDefaultRefresh    = 5 * time.Minute
	jwksDefaultMinRefetch = 30 * time.Second
	jwksDefaultTimeout    = 10 * time.Second
	// jwksMaxBody caps a key set download. Real sets are a few KiB; the cap bounds what a hostile or
	// broken endpoint can make us buffer and parse.
	jwksMaxBody = 1 << 20
)

// errJWKSRateLimited is returned internally when an unknown kid arrives within MinRefetch of the
// previous fetch; Key turns it into ErrUnknownKey.
var errJWKSRateLimited = errors.New("refetch rate-limited")

// JWKS is a JSON Web Key Set (RFC 7517) fetched from URL and kept fresh. It supports RSA (n, e), EC
// (P-256, P-384, P-521: x, y) and OKP Ed25519 (x) signature keys. Keys whose "use" is not "sig", whose
// "key_ops" lacks "verify", whose kty is unknown or whose parameters do not parse are skipped; RSA keys
// under 2048 bits are skipped too.
//
// Reads are lock-free: Key loads the current set through an atomic pointer. A kid that is not in the
// set triggers one refetch, but at most one fetch happens per MinRefetch (background refreshes
// included), so a flood of tokens with random kids cannot turn the gateway into a load generator
// against the key server. A failed fetch, or one that yields no usable key, keeps the previous set.
//
// Set the exported fields before first use and do not change them afterwards.
type JWKS struct {
	// URL of the key set (http or https; use https outside tests).
	URL string

	// Client performs the fetches; nil means a client with a 10 s timeout. The caller's context also
	// bounds each fetch.
	Client *http.Client

	// Refresh is the background refresh interval after Start; 0 means 5 minutes.
	Refresh time.Duration

	// MinRefetch is the minimum time between two fetches: an unknown kid within MinRefetch of the last
	// fetch (background or not) fails without a fetch. 0 means 30 s.
	MinRefetch time.Duration

	// Now returns the current time for the rate limit; nil means time.Now.
	Now func() time.Time

	// OnRefreshError, when set, receives background refresh errors (the previous set stays in use).
	// It runs on the refresh goroutine and must not block.
	OnRefreshError func(error)

	set       atomic.Pointer[jwksSet]
	started   atomic.Bool
	semOnce   sync.Once
	sem       chan struct{} // one fetch at a time; a channel so waiters can give up on ctx
	lastFetch time.Time     // guarded by sem
}

// jwksSet is an immutable snapshot of a parsed key set.
type jwksSet struct {
	keys map[string]jwksKey
}

type jwksKey struct {
	key crypto.PublicKey
	alg string
}

// Start fetches the set once, returning an error if that fails, and then refreshes it every Refresh
// until ctx is done. Start may be called once per JWKS. Key also works without Start: the first
// lookup then fetches the set lazily.
func (j *JWKS) Start(ctx context.Context) error {
	if err := j.checkURL(); err != nil {
		return fmt.Errorf("starting jwks: %w", err)
	}
	if !j.started.CompareAndSwap(false, true) {
		return errors.New("starting jwks: already started")
	}
	if err := j.refresh(ctx); err != nil {
		j.started.Store(false)
		return fmt.Errorf("starting jwks: %w", err)
	}
	background.Go(nil, "jwks_refresh", func() { j.loop(ctx) })
	return nil
}

// loop refreshes the set until ctx is done. A failed refresh keeps the previous set.
func (j *JWKS) loop(ctx context.Context) {
	every := j.Refresh
	if every <= 0 {
		every = jwksDefaultRefresh
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := j.refresh(ctx); err != nil && j.OnRefreshError != nil && ctx.Err() == nil {
				j.OnRefreshError(fmt.Errorf("refreshing jwks: %w", err))
			}
		}
	}
}

// Key returns the public key for kid and the JWK's "alg" ("" when the JWK names none). An empty kid
// matches the only key of a one-key set, or a JWK without kid. A kid not in the current set causes
// one rate-limited refetch; if the kid is still unknown the error wraps ErrUnknownKey (as does every
// error of Key, fetch failures and ctx cancellation included).
func (j *JWKS) Key(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	// The request path is one atomic load; locks are only taken on a miss.
	if k, ok := j.set.Load().lookup(kid); ok {
		return k.key, k.alg, nil
	}
	if err := j.refetch(ctx, kid); err != nil {
		return nil, "", fmt.Errorf("looking up jwks key: %w: %w", ErrUnknownKey, err)
	}
	if k, ok := j.set.Load().lookup(kid); ok {
		return k.key, k.alg, nil
	}
	return nil, "", fmt.Errorf("looking up jwks key: %w: kid not in key set", ErrUnknownKey)
}

// refetch fetches the set for an unknown kid unless the rate limit forbids it.
func (j *JWKS) refetch(ctx context.Context, kid string) error {
	if err := j.lock(ctx); err != nil {
		return err
	}
	defer j.unlock()
	// Whoever held the lock before us may just have fetched a set holding kid.
	if _, ok := j.set.Load().lookup(kid); ok {
		return nil
	}
	return j.fetchLocked(ctx, true)
}

// refresh fetches the set unconditionally, for Start and the background loop.
func (j *JWKS) refresh(ctx context.Context) error {
	if err := j.lock(ctx); err != nil {
		return err
	}
	defer j.unlock()
	return j.fetchLocked(ctx, false)
}

func (j *JWKS) lock(ctx context.Context) error {
	j.semOnce.Do(func() { j.sem = make(chan struct{}, 1) })
	select {
	case j.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *JWKS) unlock() { <-j.sem }

// fetchLocked downloads and installs the set; the caller holds sem.
func (j *JWKS) fetchLocked(ctx context.Context, limited bool) error {
	now := j.now()
	minGap := j.MinRefetch
	if minGap <= 0 {
		minGap = jwksDefaultMinRefetch
	}
	if limited && !j.lastFetch.IsZero() && now.Sub(j.lastFetch) < minGap {
		return errJWKSRateLimited
	}
	// The attempt is stamped before the fetch so that failures count too: a key server that is down
	// must not be retried by every request carrying an unknown kid.
	prev := j.lastFetch
	j.lastFetch = now
	set, err := j.fetch(ctx)
	if err != nil {
		// A fetch the caller abandoned says nothing about the server; do not let it use up the budget.
		if ctx.Err() != nil {
			j.lastFetch = prev
		}
		return err
	}
	j.set.Store(set)
	return nil
}

func (j *JWKS) fetch(ctx context.Context) (*jwksSet, error) {
	if err := j.checkURL(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	// RFC 7517 §8.5 registers application/jwk-set+json; most issuers serve plain JSON.
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	client := j.Client
	if client == nil {
		client = &http.Client{Timeout: jwksDefaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	// Only a 200 carries a set (we send no validators, so there is no 304); any other status fails the
	// fetch and the previous set stays in use.
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("fetching jwks: unexpected status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading jwks: %w", err)
	}
	if len(body) > jwksMaxBody {
		return nil, errors.New("reading jwks: body exceeds 1 MiB")
	}
	return parseJWKS(body)
}

// checkURL refuses relative and non-HTTP URLs early, so a typo fails Start instead of every lookup.
func (j *JWKS) checkURL() error {
	u, err := url.Parse(j.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("jwks url must be an absolute http(s) URL")
	}
	return nil
}

func (j *JWKS) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// lookup is nil-safe so Key works before the first fetch.
func (s *jwksSet) lookup(kid string) (jwksKey, bool) {
	if s == nil {
		return jwksKey{}, false
	}
	if k, ok := s.keys[kid]; ok {
		return k, true
	}
	// A token without kid is matched to a set with a single key: common for small issuers, and safe
	// because the signature must still verify.
	if kid == "" && len(s.keys) == 1 {
		for _, k := range s.keys {
			return k, true
		}
	}
	return jwksKey{}, false
}

// jwk holds the members of a JWK that matter for signature verification.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS parses a key set document. Individual bad keys are skipped rather than failing the set,
// so one odd key from the issuer does not lock everyone out; a set with no usable key is an error
// so that a refresh never replaces a working set with an empty one. The first key wins on duplicate kids.
func parseJWKS(body []byte) (*jwksSet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parsing jwks: %w", err)
	}
	set := &jwksSet{keys: make(map[string]jwksKey, len(doc.Keys))}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			continue
		}
		// First wins, so a later entry cannot shadow a key that tokens already rely on.
		if _, dup := set.keys[k.Kid]; dup {
			continue
		}
		set.keys[k.Kid] = jwksKey{key: pub, alg: k.Alg}
	}
	if len(set.keys) == 0 {
		return nil, errors.New("parsing jwks: no usable signature key")
	}
	return set, nil
}

var errJWKUnsupported = errors.New("unsupported jwk")

func (k *jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := jwkB64(k.N)
		if err != nil || len(n) == 0 {
			return nil, errJWKUnsupported
		}
		e, err := jwkB64(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errJWKUnsupported
		}
		// At most 4 bytes, so the exponent fits an int64 and checkRSAKey can judge it.
		exp := int(new(big.Int).SetBytes(e).Int64())
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		if err := checkRSAKey(pub); err != nil {
			return nil, err
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errJWKUnsupported
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := jwkB64(k.X)
		y, errY := jwkB64(k.Y)
		// RFC 7518 §6.2.1.2: coordinates are full-length octet strings.
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errJWKUnsupported
		}
		point := make([]byte, 0, 1+2*size)
		point = append(point, 4)
		point = append(point, x...)
		point = append(point, y...)
		// Rejects points not on the curve (invalid-curve attacks need those).
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, errJWKUnsupported
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, errJWKUnsupported
		}
		x, err := jwkB64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errJWKUnsupported
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, errJWKUnsupported
}

// jwkB64 decodes a base64url JWK member. Padding is tolerated because some issuers emit it.
func jwkB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
