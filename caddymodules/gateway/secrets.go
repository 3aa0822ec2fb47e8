// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/secrets"
)

// VaultConfig declares a Vault instance in the dsp app (`vault NAME URL { … }`). Manifests' own vault
// modules may declare more; an instance declared here wins over a manifest's of the same name.
type VaultConfig struct {
	// Address is the Vault URL.
	Address string `json:"address"`
	// Token authenticates with a token. Supports {env.*} and secret references (env:, config:, encrypted:).
	Token string `json:"token,omitempty"`
	// RoleID and SecretID authenticate with AppRole instead.
	RoleID   string `json:"role_id,omitempty"`
	SecretID string `json:"secret_id,omitempty"`
	// Namespace (Vault Enterprise / HCP).
	Namespace string `json:"namespace,omitempty"`
	// KVMount is the KV engine's mount. Default "secret".
	KVMount string `json:"kv_mount,omitempty"`
	// KVVersion is 1 or 2. Default 2.
	KVVersion int `json:"kv_version,omitempty"`
	// TLSInsecure skips certificate verification (development only).
	TLSInsecure bool `json:"tls_insecure,omitempty"`
	// CACert is a PEM file of the CA to trust.
	CACert string `json:"ca_cert,omitempty"`
	// CacheTTL for KV secrets (no lease). Default 5m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// Grace serves cached values this long past expiry while Vault is unreachable. Default 10m.
	Grace caddy.Duration `json:"grace,omitempty"`
	// ProbeInterval is how often Vault's health is probed in the background (fd2_secrets_vault_up, the
	// detailed health report). Default 30s; negative disables it.
	ProbeInterval caddy.Duration `json:"probe_interval,omitempty"`
}

// secretStore holds the Vault clients of a shared resolver, built once per distinct instance and started
// on the resolver's background context.
type secretStore struct {
	ctx     context.Context
	logger  *zap.Logger
	base    *secrets.Resolver // app-level: declared vaults, secrets config, encryption key
	mu      sync.Mutex
	vaults  map[string]*secrets.Vault // by name + address
	started map[*secrets.Vault]bool
}

func (a *App) newSecretStore(ctx context.Context, repl *caddy.Replacer) (*secretStore, error) {
	s := &secretStore{ctx: ctx, logger: a.logger.Named("secrets"), vaults: map[string]*secrets.Vault{}, started: map[*secrets.Vault]bool{},
		base: &secrets.Resolver{Vaults: map[string]*secrets.Vault{}, EncryptionKey: repl.ReplaceAll(a.EncryptionKey, "")}}
	s.base.Prepare = s.prepare
	if a.SecretsConfig != "" {
		cfg, err := secrets.LoadConfigFile(repl.ReplaceAll(a.SecretsConfig, ""))
		if err != nil {
			return nil, fmt.Errorf("loading secrets_config: %w", err)
		}
		s.base.Config = cfg
	}
	names := make([]string, 0, len(a.Vaults))
	for n := range a.Vaults {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		vc := a.Vaults[name]
		cfg := secrets.VaultConfig{Name: name, Address: repl.ReplaceAll(vc.Address, ""), Namespace: vc.Namespace,
			KVMount: vc.KVMount, KVVersion: vc.KVVersion, InsecureSkipVerify: vc.TLSInsecure, CACert: vc.CACert,
			CacheTTL: time.Duration(vc.CacheTTL), Grace: time.Duration(vc.Grace),
			ProbeInterval: time.Duration(vc.ProbeInterval), Logger: s.logger}
		var err error
		if cfg.Token, err = s.credential(repl.ReplaceAll(vc.Token, "")); err != nil {
			return nil, fmt.Errorf("vault %s token: %w", name, err)
		}
		if cfg.RoleID, err = s.credential(repl.ReplaceAll(vc.RoleID, "")); err != nil {
			return nil, fmt.Errorf("vault %s role_id: %w", name, err)
		}
		if cfg.SecretID, err = s.credential(repl.ReplaceAll(vc.SecretID, "")); err != nil {
			return nil, fmt.Errorf("vault %s secret_id: %w", name, err)
		}
		v, err := s.vault(cfg)
		if err != nil {
			return nil, err
		}
		s.base.Vaults[name] = v
	}
	return s, nil
}

// credential resolves a Vault credential that is itself a reference (env:, config:, encrypted:).
func (s *secretStore) credential(v string) (string, error) {
	if !secrets.HasRef(v) || strings.HasPrefix(v, "vault:") {
		return v, nil
	}
	val, err := s.base.Resolve(s.ctx, v)
	if err != nil {
		return "", err
	}
	return val.Reveal(), nil
}

// vault returns the started client of an instance, creating it on first use.
func (s *secretStore) vault(cfg secrets.VaultConfig) (*secrets.Vault, error) {
	key := cfg.Name + "|" + cfg.Address + "|" + cfg.Namespace
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vaults[key]; ok {
		return v, nil
	}
	v, err := secrets.NewVault(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault %s: %w", cfg.Name, err)
	}
	s.vaults[key] = v
	return v, nil
}

// prepare starts an instance before its first read (secrets.Resolver.Prepare).
func (s *secretStore) prepare(_ context.Context, v *secrets.Vault) error { return s.start(v) }

func (s *secretStore) start(v *secrets.Vault) error {
	s.mu.Lock()
	done := s.started[v]
	s.started[v] = true
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := v.Start(s.ctx); err != nil {
		s.mu.Lock()
		delete(s.started, v)
		s.mu.Unlock()
		return err
	}
	return nil
}

// ResolveRef resolves a secret reference written in the Caddyfile or JSON config (an api_key of
// `vault:prod:secret/openai#key`, say) with the app's Vault instances, secrets config and encryption key.
// A value without a reference is returned unchanged, as the Control Tower does.
func (a *App) ResolveRef(ctx context.Context, v string) (string, error) {
	if !secrets.HasRef(v) && !strings.HasPrefix(v, "literal:") {
		return v, nil
	}
	// The resolver starts the Vault instance a reference needs (Prepare) and counts the resolution.
	val, err := a.shared.secrets.base.Resolve(ctx, v)
	if err != nil {
		return "", err
	}
	return val.Reveal(), nil
}

// Rotate re-reads every cached secret of every Vault now.
func (s *secretStore) Rotate(ctx context.Context) error {
	s.mu.Lock()
	vs := make([]*secrets.Vault, 0, len(s.vaults))
	for v := range s.started {
		vs = append(vs, v)
	}
	s.mu.Unlock()
	var errs []error
	for _, v := range vs {
		if err := v.Refresh(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// vaultModule is the part of a manifest's vault module FD2 uses (spec §2.3).
type vaultModule struct {
	Instances []struct {
		Name       string `json:"instance_name"`
		URL        string `json:"vault_url"`
		Namespace  string `json:"vault_namespace"`
		AuthMethod string `json:"auth_method"`
		Token      string `json:"vault_token"`
		RoleID     string `json:"role_id"`
		SecretID   string `json:"secret_id"`
		KVMount    string `json:"kv_mount_point"`
		KVVersion  int    `json:"kv_version"`
		VerifySSL  *bool  `json:"verify_ssl"`
	} `json:"vault_instances"`
	SecretsConfigFile string `json:"secrets_config_file"`
	// EncryptionKeySource names where the Control Tower reads ENCRYPTION_KEY, as a reference (env:VAR,
	// config:a.b, literal:x). Absent means the Control Tower's default, env:ENCRYPTION_KEY.
	EncryptionKeySource string `json:"encryption_key_source"`
}

// defaultEncryptionKeySource is the Control Tower's encryption_key_source default (spec §2.3, vault module).
const defaultEncryptionKeySource = "env:ENCRYPTION_KEY"

// forManifest returns the secret resolver of a file-source manifest, as the Control Tower builds it:
// only a manifest with a vault module gets one (without, references stay literal). Its instances join the
// app's; its secrets_config_file is read relative to the manifest directory. Unlike the Control Tower,
// which keeps a reference it could not resolve as literal text (and so may send "vault:…" to a provider),
// FD2 fails the project with the reference's name (never its value): check reports the first failure.
func (s *secretStore) forManifest(ctx context.Context, dir string, raw []byte) (func(string) (string, error), func() error) {
	var doc struct {
		Modules []struct {
			Type   string          `json:"module_type"`
			Config json.RawMessage `json:"config"`
		} `json:"modules"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return nil, nil // the decoder reports the malformed manifest
	}
	var vm *vaultModule
	for _, m := range doc.Modules {
		if m.Type == manifest.TypeVault {
			vm = new(vaultModule)
			if err := json.Unmarshal(m.Config, vm); err != nil {
				return nil, func() error { return fmt.Errorf("%w: vault module: %v", manifest.ErrInvalid, err) }
			}
		}
	}
	if vm == nil {
		return nil, nil
	}
	res := &secrets.Resolver{Vaults: map[string]*secrets.Vault{}, Config: s.base.Config, EncryptionKey: s.base.EncryptionKey,
		Getenv: s.base.Getenv, Prepare: s.prepare}
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	if vm.SecretsConfigFile != "" && res.Config == nil {
		path := vm.SecretsConfigFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if cfg, err := secrets.LoadConfigFile(path); err == nil {
			res.Config = cfg
		}
		// A missing file is the Control Tower's case too: config: references then fail (and so the
		// project), exactly where the Control Tower answers 500.
	}
	s.encryptionKey(ctx, res, vm.EncryptionKeySource)
	for _, in := range vm.Instances {
		if v, ok := s.base.Vaults[in.Name]; ok {
			res.Vaults[in.Name] = v
			continue
		}
		cfg := secrets.VaultConfig{Name: in.Name, Address: in.URL, Namespace: in.Namespace, KVMount: in.KVMount, KVVersion: in.KVVersion,
			InsecureSkipVerify: in.VerifySSL != nil && !*in.VerifySSL, Logger: s.logger}
		// As in the Control Tower, an instance whose credentials cannot be resolved is skipped with a warning;
		// only a reference that needs it then fails (unknown vault instance).
		var credErr error
		cred := func(v string) string {
			if !secrets.HasRef(v) {
				return v
			}
			val, err := res.Resolve(ctx, v)
			if err != nil {
				credErr = err
				return ""
			}
			return val.Reveal()
		}
		if strings.EqualFold(in.AuthMethod, "approle") {
			cfg.RoleID, cfg.SecretID = cred(in.RoleID), cred(in.SecretID)
		} else {
			cfg.Token = cred(in.Token)
		}
		if credErr != nil {
			s.logger.Warn("skipping vault instance: its credentials do not resolve", zap.String("instance", in.Name), zap.Error(credErr))
			continue
		}
		v, err := s.vault(cfg)
		if err != nil {
			s.logger.Warn("skipping vault instance", zap.String("instance", in.Name), zap.Error(err))
			continue
		}
		res.Vaults[in.Name] = v
	}
	// The vault module's own credentials (role_id: env:PROD_VAULT_ROLE_ID, …) are walked like every other
	// string; one that does not resolve only disables its instance (above), as in the Control Tower.
	creds := map[string]bool{}
	for _, in := range vm.Instances {
		creds[in.Token], creds[in.RoleID], creds[in.SecretID] = true, true, true
	}
	// encryption_key_source (env:ENCRYPTION_KEY) is walked too; unset, it only leaves encrypted: references
	// unresolvable (they fail naming it), as in the Control Tower.
	creds[vm.EncryptionKeySource] = true
	resolve := func(ref string) (string, error) {
		// res.Prepare starts the instance a vault: reference reads from.
		val, err := res.Resolve(ctx, ref)
		if err != nil {
			if !creds[ref] {
				fail(err)
			}
			return "", err
		}
		return val.Reveal(), nil
	}
	check := func() error {
		if first == nil {
			return nil
		}
		if errors.Is(first, secrets.ErrUnavailable) {
			return first // transient: the source layer serves the last good copy meanwhile
		}
		return fmt.Errorf("%w: %v", manifest.ErrInvalid, first)
	}
	return resolve, check
}

// encryptionKey sets the key of a manifest's encrypted: references as the Control Tower finds its
// ENCRYPTION_KEY: through the vault module's encryption_key_source (default env:ENCRYPTION_KEY), unless the
// dsp app's encryption_key overrides it. It runs before anything (a Vault credential, say) decrypts, since
// the resolver fixes its key on first use. The source may be env:, config: or literal: — not vault: (no
// instance is up yet) nor encrypted: (the key cannot decrypt itself).
func (s *secretStore) encryptionKey(ctx context.Context, res *secrets.Resolver, src string) {
	if res.EncryptionKey != "" {
		return
	}
	if src == "" {
		src = defaultEncryptionKeySource
	}
	res.EncryptionKeySource = src
	if strings.HasPrefix(src, "vault:") || strings.HasPrefix(src, "encrypted:") {
		return // encrypted: references then fail naming the source
	}
	plain := &secrets.Resolver{Config: res.Config, Getenv: res.Getenv}
	v, err := plain.Resolve(ctx, src)
	if err != nil {
		return // unset: encrypted: references fail naming the source, as the Control Tower's do
	}
	res.EncryptionKey = v.Reveal()
}

// all lists every Vault instance of the store (the app's and the manifests'), by name.
func (s *secretStore) all() []*secrets.Vault {
	s.mu.Lock()
	keys := make([]string, 0, len(s.vaults))
	for k := range s.vaults {
		keys = append(keys, k)
	}
	sort.Strings(keys) // name|address|namespace: by name first
	out := make([]*secrets.Vault, len(keys))
	for i, k := range keys {
		out[i] = s.vaults[k]
	}
	s.mu.Unlock()
	return out
}
