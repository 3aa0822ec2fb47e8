// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("dsp", parseGlobal)
}

// parseGlobal parses the `dsp` global option. Syntax:
//
//	dsp {
//		environment <name>
//		manifests file <dir> {
//			refresh <duration>
//		}
//		manifests control_tower <url> {
//			secret  <secret>
//			timeout <duration>
//			retries <n>
//			refresh <duration>
//		}
//		cache memory {
//			ttl          <duration>
//			max_projects <n>
//		}
//		cache redis <url> {
//			ttl    <duration>
//			prefix <prefix>
//		}
//		last_good <dir>
//		max_stale <duration>
//		pool_size <n>
//		max_body_size <size>
//		vault <name> <url> {
//			token <token>                 # or: approle <role_id> <secret_id>
//			namespace <ns>
//			kv_mount <mount>
//			kv_version 1|2
//			tls_insecure
//			ca_cert <pem file>
//			cache_ttl <duration>
//			grace <duration>
//			probe_interval <duration>     # background health probe; default 30s, "off" disables
//		}
//		secrets_config <file>
//		encryption_key <key or passphrase>
//		require_exp on|off
//		max_manifest_size <size>          # e.g. 4MiB (default), 16MB
//		cache_key <32 bytes base64 or hex> # seals resolved manifests in redis and last_good
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("the dsp global option may appear only once")
	}
	app := new(App)
	d.Next()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	seen := caddyfileopt.Seen{}
	for d.NextBlock(0) {
		name := d.Val()
		key := name
		if (name == "cache" || name == "vault") && d.NextArg() {
			key = name + " " + d.Val()
			d.Prev()
		}
		if err := seen.Once(d, key); err != nil {
			return nil, err
		}
		if err := parseGlobalOption(d, app, name); err != nil {
			return nil, err
		}
	}
	return httpcaddyfile.App{Name: "dsp", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseGlobalOption parses one option of the dsp block into app.
func parseGlobalOption(d *caddyfile.Dispenser, app *App, name string) error {
	var err error
	switch name {
	case "environment":
		return caddyfileopt.Args(d, &app.Environment)
	case "manifests":
		app.Manifests, err = parseManifests(d)
	case "cache":
		if app.Cache == nil {
			app.Cache = new(CacheConfig)
		}
		err = parseCache(d, app.Cache)
	case "last_good":
		return caddyfileopt.Args(d, &app.LastGood)
	case "max_stale":
		app.MaxStale, err = caddyfileopt.Duration(d)
	case "vault":
		var vname, addr string
		if !d.Args(&vname, &addr) || d.NextArg() {
			return d.ArgErr()
		}
		vc, err := parseVault(d, addr)
		if err != nil {
			return err
		}
		if app.Vaults == nil {
			app.Vaults = map[string]*VaultConfig{}
		}
		app.Vaults[vname] = vc
	case "secrets_config":
		return caddyfileopt.Args(d, &app.SecretsConfig)
	case "encryption_key":
		return caddyfileopt.Args(d, &app.EncryptionKey)
	case "require_exp":
		app.RequireExp, err = caddyfileopt.OnOff(d)
	case "max_manifest_size":
		app.MaxManifestSize, err = caddyfileopt.Size(d)
	case "cache_key":
		return caddyfileopt.Args(d, &app.CacheKey)
	case "pool_size":
		app.PoolSize, err = caddyfileopt.Int(d, 0)
	case "max_body_size":
		app.MaxBodySize, err = caddyfileopt.Size(d)
	default:
		return d.Errf("unrecognized dsp option %q", name)
	}
	return err
}

func parseManifests(d *caddyfile.Dispenser) (*ManifestSource, error) {
	var kind, target string
	if !d.Args(&kind, &target) {
		return nil, d.ArgErr()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	ms := new(ManifestSource)
	switch kind {
	case "file":
		ms.File = target
	case "control_tower":
		ms.ControlTower = &ControlTower{URL: target}
	default:
		return nil, d.Errf("manifests: unknown source %q (want file or control_tower)", kind)
	}
	err := caddyfileopt.Block(d, func(name string) error {
		var err error
		ct := ms.ControlTower
		switch {
		case name == "refresh":
			ms.Refresh, err = caddyfileopt.Duration(d)
		case name == "secret" && ct != nil:
			err = caddyfileopt.Args(d, &ct.Secret)
		case name == "timeout" && ct != nil:
			ct.Timeout, err = caddyfileopt.Duration(d)
		case name == "retries" && ct != nil:
			var n int
			n, err = caddyfileopt.Int(d, 0)
			ct.Retries = &n
		default:
			return d.Errf("manifests %s: unrecognized subdirective %q", kind, name)
		}
		return err
	})
	return ms, err
}

func parseCache(d *caddyfile.Dispenser, c *CacheConfig) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch kind := d.Val(); kind {
	case "memory":
		if d.NextArg() {
			return d.ArgErr()
		}
		c.Memory = new(MemoryCache)
		return caddyfileopt.Block(d, func(name string) error {
			var err error
			switch name {
			case "ttl":
				c.Memory.TTL, err = caddyfileopt.Duration(d)
			case "max_projects":
				c.Memory.MaxProjects, err = caddyfileopt.Int(d, 0)
			default:
				return d.Errf("cache memory: unrecognized subdirective %q", name)
			}
			return err
		})
	case "redis":
		c.Redis = new(RedisCache)
		if !d.Args(&c.Redis.URL) || d.NextArg() {
			return d.ArgErr()
		}
		return caddyfileopt.Block(d, func(name string) error {
			var err error
			switch name {
			case "ttl":
				c.Redis.TTL, err = caddyfileopt.Duration(d)
			case "prefix":
				err = caddyfileopt.Args(d, &c.Redis.Prefix)
			default:
				return d.Errf("cache redis: unrecognized subdirective %q", name)
			}
			return err
		})
	default:
		return d.Errf("cache: unknown tier %q (want memory or redis)", kind)
	}
}

func parseVault(d *caddyfile.Dispenser, addr string) (*VaultConfig, error) {
	vc := &VaultConfig{Address: addr}
	err := caddyfileopt.Block(d, func(name string) error {
		var err error
		switch name {
		case "token":
			err = caddyfileopt.Args(d, &vc.Token)
		case "approle":
			err = caddyfileopt.Args(d, &vc.RoleID, &vc.SecretID)
		case "namespace":
			err = caddyfileopt.Args(d, &vc.Namespace)
		case "kv_mount":
			err = caddyfileopt.Args(d, &vc.KVMount)
		case "kv_version":
			vc.KVVersion, err = caddyfileopt.Int(d, 1)
			if err == nil && vc.KVVersion != 1 && vc.KVVersion != 2 {
				err = d.Errf("kv_version must be 1 or 2")
			}
		case "tls_insecure":
			vc.TLSInsecure = true
		case "ca_cert":
			err = caddyfileopt.Args(d, &vc.CACert)
		case "cache_ttl":
			vc.CacheTTL, err = caddyfileopt.Duration(d)
		case "grace":
			vc.Grace, err = caddyfileopt.Duration(d)
		case "probe_interval":
			// -1 is the JSON form of "off": 0 means the default interval.
			if caddyfileopt.Off(d) {
				vc.ProbeInterval = -1
				return nil
			}
			vc.ProbeInterval, err = caddyfileopt.PositiveDuration(d)
		default:
			return d.Errf("vault: unrecognized subdirective %q", name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if vc.Token != "" && vc.RoleID != "" {
		return nil, d.Err("vault: choose one of token and approle")
	}
	return vc, nil
}
