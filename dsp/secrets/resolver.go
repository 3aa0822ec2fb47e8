// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dsp-ai/fd2/dsp/metrics"
)

// Resolver resolves secret references. Set the fields before the first Resolve and do not change them
// afterwards; Resolve is then safe for concurrent use.
type Resolver struct {
	// Vaults are the Vault instances by instance_name, as vault:<instance>:… names them.
	Vaults map[string]*Vault
	// DefaultVault names the instance used by the vault://<mount>/<path> form. Empty means the only
	// instance; with several instances and no default, vault:// references are ErrInvalidRef.
	DefaultVault string
	// Config is the decoded secrets config JSON (secrets_config_file) that config:a.b.c walks. Nil means
	// no config was loaded, and every config: reference is ErrUnavailable (the Control Tower's 500 when
	// secrets_config.json is missing).
	Config map[string]any
	// EncryptionKey is ENCRYPTION_KEY: a urlsafe-base64 32-byte Fernet key, or else a passphrase derived
	// with PBKDF2 as the Control Tower does. Empty makes encrypted: references ErrUnavailable.
	EncryptionKey string
	// EncryptionKeySource, when set, is where EncryptionKey was looked for (a manifest's
	// encryption_key_source); only the error of a missing key names it.
	EncryptionKeySource string
	// Getenv looks up env:VAR. Defaults to os.LookupEnv.
	Getenv func(string) (string, bool)
	// Now is the clock used to timestamp Encrypt's tokens. Defaults to time.Now.
	Now func() time.Time
	// Prepare, if set, runs before every Vault read with the instance about to be read; its error fails
	// the resolution as ErrUnavailable. The dsp app starts (logs in) its instances lazily there.
	Prepare func(ctx context.Context, v *Vault) error

	keyOnce sync.Once
	key     *FernetKey
	keyErr  error
}

// LoadConfigFile reads and decodes a secrets config JSON file (the Control Tower's secrets_config.json).
// Numbers are kept as json.Number so that config: values print exactly as written.
func LoadConfigFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading secrets config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		// The decoder's error can quote a fragment of the file, which may hold secrets: drop it.
		return nil, fmt.Errorf("decoding secrets config %s: invalid JSON", path)
	}
	return m, nil
}

// Resolve resolves one reference. Only a prefix is acted on, as in the Control Tower: a string without a
// known prefix (including one that merely contains a marker) is returned unchanged.
func (r *Resolver) Resolve(ctx context.Context, ref string) (Value, error) {
	p, err := ParseRef(ref)
	if err != nil {
		countResolution(kindOfPrefix(ref), err)
		return Value{}, err
	}
	v, err := r.resolve(ctx, p, ref)
	countResolution(p.Kind, err)
	return v, err
}

func (r *Resolver) resolve(ctx context.Context, p Ref, ref string) (Value, error) {
	switch p.Kind {
	case KindVault:
		return r.resolveVault(ctx, p)
	case KindConfig:
		return r.resolveConfig(p.Path)
	case KindEnv:
		getenv := r.Getenv
		if getenv == nil {
			getenv = os.LookupEnv
		}
		v, ok := getenv(p.Path)
		if !ok {
			return Value{}, fmt.Errorf("env:%s: %w", p.Path, ErrNotFound)
		}
		return Value{s: v}, nil
	case KindEncrypted:
		k, err := r.fernetKey()
		if err != nil {
			return Value{}, err
		}
		pt, err := k.Decrypt(p.payload, 0, time.Time{})
		if err != nil {
			return Value{}, fmt.Errorf("%w: encrypted: %w", ErrInvalidRef, err)
		}
		return Value{s: string(pt)}, nil
	case KindLiteral:
		return Value{s: p.payload}, nil
	default:
		return Value{s: ref}, nil
	}
}

// SecretFunc adapts Resolve to manifest.EnvOptions.Secret. ctx bounds the Vault calls of one resolution.
func (r *Resolver) SecretFunc(ctx context.Context) func(ref string) (string, error) {
	return func(ref string) (string, error) {
		v, err := r.Resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		return v.Reveal(), nil
	}
}

// Encrypt returns "encrypted:<fernet token>" for plaintext under EncryptionKey, the stored form that
// Resolve (and the Control Tower) decrypts.
func (r *Resolver) Encrypt(plaintext string) (string, error) {
	k, err := r.fernetKey()
	if err != nil {
		return "", err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	tok, err := k.Encrypt([]byte(plaintext), now())
	if err != nil {
		return "", err
	}
	return "encrypted:" + tok, nil
}

// fernetKey derives the key once: PBKDF2 at 100 000 iterations costs tens of milliseconds.
func (r *Resolver) fernetKey() (*FernetKey, error) {
	r.keyOnce.Do(func() {
		if r.EncryptionKey == "" {
			if r.EncryptionKeySource != "" {
				r.keyErr = fmt.Errorf("encrypted: no encryption key: encryption_key_source %s is not set, and neither is the dsp app's encryption_key: %w",
					r.EncryptionKeySource, ErrUnavailable)
				return
			}
			r.keyErr = fmt.Errorf("encrypted: no encryption key configured: %w", ErrUnavailable)
			return
		}
		r.key, r.keyErr = FernetKeyFrom(r.EncryptionKey)
		if r.keyErr != nil {
			r.keyErr = fmt.Errorf("loading encryption key: %w: %w", ErrUnavailable, r.keyErr)
		}
	})
	return r.key, r.keyErr
}

func (r *Resolver) resolveVault(ctx context.Context, p Ref) (Value, error) {
	name := p.Instance
	if name == "" {
		name = r.DefaultVault
		if name == "" {
			if len(r.Vaults) != 1 {
				names := make([]string, 0, len(r.Vaults))
				for n := range r.Vaults {
					names = append(names, n)
				}
				sort.Strings(names)
				return Value{}, fmt.Errorf("%w: vault://%s/%s: no default vault instance among %v", ErrInvalidRef, p.Mount, p.Path, names)
			}
			for n := range r.Vaults {
				name = n
			}
		}
	}
	v := r.Vaults[name]
	if v == nil {
		return Value{}, fmt.Errorf("%w: unknown vault instance %q", ErrInvalidRef, name)
	}
	if r.Prepare != nil {
		if err := r.Prepare(ctx, v); err != nil {
			return Value{}, fmt.Errorf("vault instance %s: %w: %w", name, ErrUnavailable, err)
		}
	}
	return v.ReadMount(ctx, p.Mount, p.Path, p.Key, p.Version)
}

func (r *Resolver) resolveConfig(path string) (Value, error) {
	if r.Config == nil {
		return Value{}, fmt.Errorf("config:%s: no secrets config loaded: %w", path, ErrUnavailable)
	}
	var cur any = r.Config
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return Value{}, fmt.Errorf("config:%s: %w", path, ErrNotFound)
		}
		if cur, ok = m[part]; !ok {
			return Value{}, fmt.Errorf("config:%s: %w", path, ErrNotFound)
		}
	}
	s, err := stringify(cur)
	if err != nil {
		return Value{}, fmt.Errorf("config:%s: %w", path, err)
	}
	return Value{s: s}, nil
}

// stringify renders a JSON value as the string a secret consumer expects: strings as is, numbers as
// written, anything else (objects, arrays, booleans) as compact JSON.
func stringify(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case nil:
		return "", ErrNotFound
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding value: %w", err)
	}
	return string(b), nil
}

// backends are the fd2_secrets_resolutions_total backend label of each Kind; KindPlain (no reference) is
// not a resolution and is not counted.
var backends = [...]string{KindVault: "vault", KindConfig: "config", KindEnv: "env", KindEncrypted: "encrypted", KindLiteral: "literal"}

// resolutions holds the counters bound once per backend and result: a resolution costs one atomic add.
var resolutions = func() (c [len(backends)][2]prometheus.Counter) {
	for k, b := range backends {
		if b != "" {
			c[k][0] = metrics.SecretResolutions.WithLabelValues(b, "ok")
			c[k][1] = metrics.SecretResolutions.WithLabelValues(b, "error")
		}
	}
	return c
}()

func countResolution(k Kind, err error) {
	if k <= KindPlain || int(k) >= len(backends) {
		return
	}
	if err != nil {
		resolutions[k][1].Inc()
		return
	}
	resolutions[k][0].Inc()
}

// kindOfPrefix is the Kind a malformed reference was meant to be, by its prefix, so that it is counted
// against its backend.
func kindOfPrefix(ref string) Kind {
	prefix, _, _ := strings.Cut(ref, ":")
	for k, b := range backends {
		if b != "" && b == prefix {
			return Kind(k)
		}
	}
	return KindPlain
}
