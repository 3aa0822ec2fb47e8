// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("dsp", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("dsp_manifest", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(ManifestHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterHandlerDirective("dsp_error", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(ErrorHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterHandlerDirective("dsp_health", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(HealthHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
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
	seen := map[string]bool{}
	for d.NextBlock(0) {
		name := d.Val()
		key := name
		if (name == "cache" || name == "vault") && d.NextArg() {
			key = name + " " + d.Val()
			d.Prev()
		}
		if seen[key] {
			return nil, d.Errf("duplicate subdirective %q", key)
		}
		seen[key] = true
		switch name {
		case "environment":
			if !d.AllArgs(&app.Environment) {
				return nil, d.ArgErr()
			}
		case "manifests":
			ms, err := parseManifests(d)
			if err != nil {
				return nil, err
			}
			app.Manifests = ms
		case "cache":
			if app.Cache == nil {
				app.Cache = new(CacheConfig)
			}
			if err := parseCache(d, app.Cache); err != nil {
				return nil, err
			}
		case "last_good":
			if !d.AllArgs(&app.LastGood) {
				return nil, d.ArgErr()
			}
		case "max_stale":
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			app.MaxStale = dur
		case "vault":
			var vname, addr string
			if !d.Args(&vname, &addr) || d.NextArg() {
				return nil, d.ArgErr()
			}
			vc, err := parseVault(d, addr)
			if err != nil {
				return nil, err
			}
			if app.Vaults == nil {
				app.Vaults = map[string]*VaultConfig{}
			}
			app.Vaults[vname] = vc
		case "secrets_config":
			if !d.AllArgs(&app.SecretsConfig) {
				return nil, d.ArgErr()
			}
		case "encryption_key":
			if !d.AllArgs(&app.EncryptionKey) {
				return nil, d.ArgErr()
			}
		case "require_exp":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			on, err := parseOnOff(v)
			if err != nil {
				return nil, d.Errf("require_exp: %v", err)
			}
			app.RequireExp = on
		case "max_manifest_size":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<40 {
				return nil, d.Errf("max_manifest_size: want a positive size such as 4MiB, got %q", v)
			}
			app.MaxManifestSize = int64(n)
		case "cache_key":
			if !d.AllArgs(&app.CacheKey) {
				return nil, d.ArgErr()
			}
		case "pool_size":
			n, err := intArg(d)
			if err != nil {
				return nil, err
			}
			app.PoolSize = n
		case "max_body_size":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<40 {
				return nil, d.Errf("max_body_size: invalid size %q", v)
			}
			app.MaxBodySize = int64(n)
		default:
			return nil, d.Errf("unrecognized dsp option %q", name)
		}
	}
	return httpcaddyfile.App{Name: "dsp", Value: caddyconfig.JSON(app, nil)}, nil
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
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		switch {
		case name == "refresh":
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			ms.Refresh = dur
		case name == "secret" && ms.ControlTower != nil:
			if !d.AllArgs(&ms.ControlTower.Secret) {
				return nil, d.ArgErr()
			}
		case name == "timeout" && ms.ControlTower != nil:
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			ms.ControlTower.Timeout = dur
		case name == "retries" && ms.ControlTower != nil:
			n, err := intArg(d)
			if err != nil {
				return nil, err
			}
			ms.ControlTower.Retries = &n
		default:
			return nil, d.Errf("manifests %s: unrecognized subdirective %q", kind, name)
		}
	}
	return ms, nil
}

func parseCache(d *caddyfile.Dispenser, c *CacheConfig) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	kind := d.Val()
	seen := map[string]bool{}
	switch kind {
	case "memory":
		if d.NextArg() {
			return d.ArgErr()
		}
		c.Memory = new(MemoryCache)
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			name := d.Val()
			if seen[name] {
				return d.Errf("duplicate subdirective %q", name)
			}
			seen[name] = true
			switch name {
			case "ttl":
				dur, err := durationArg(d)
				if err != nil {
					return err
				}
				c.Memory.TTL = dur
			case "max_projects":
				n, err := intArg(d)
				if err != nil {
					return err
				}
				c.Memory.MaxProjects = n
			default:
				return d.Errf("cache memory: unrecognized subdirective %q", name)
			}
		}
	case "redis":
		c.Redis = new(RedisCache)
		if !d.Args(&c.Redis.URL) {
			return d.ArgErr()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			name := d.Val()
			if seen[name] {
				return d.Errf("duplicate subdirective %q", name)
			}
			seen[name] = true
			switch name {
			case "ttl":
				dur, err := durationArg(d)
				if err != nil {
					return err
				}
				c.Redis.TTL = dur
			case "prefix":
				if !d.AllArgs(&c.Redis.Prefix) {
					return d.ArgErr()
				}
			default:
				return d.Errf("cache redis: unrecognized subdirective %q", name)
			}
		}
	default:
		return d.Errf("cache: unknown tier %q (want memory or redis)", kind)
	}
	return nil
}

func parseVault(d *caddyfile.Dispenser, addr string) (*VaultConfig, error) {
	vc := &VaultConfig{Address: addr}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] {
			return nil, d.Errf("duplicate subdirective %q", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "token":
			if !d.AllArgs(&vc.Token) {
				return nil, d.ArgErr()
			}
		case "approle":
			if !d.AllArgs(&vc.RoleID, &vc.SecretID) {
				return nil, d.ArgErr()
			}
		case "namespace":
			if !d.AllArgs(&vc.Namespace) {
				return nil, d.ArgErr()
			}
		case "kv_mount":
			if !d.AllArgs(&vc.KVMount) {
				return nil, d.ArgErr()
			}
		case "kv_version":
			vc.KVVersion, err = intArg(d)
			if err == nil && vc.KVVersion != 1 && vc.KVVersion != 2 {
				err = d.Errf("kv_version must be 1 or 2")
			}
		case "tls_insecure":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			vc.TLSInsecure = true
		case "ca_cert":
			if !d.AllArgs(&vc.CACert) {
				return nil, d.ArgErr()
			}
		case "cache_ttl":
			vc.CacheTTL, err = durationArg(d)
		case "grace":
			vc.Grace, err = durationArg(d)
		case "probe_interval":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			if v == "off" {
				vc.ProbeInterval = -1
				break
			}
			dur, perr := caddy.ParseDuration(v)
			if perr != nil || dur <= 0 {
				return nil, d.Errf("probe_interval: want a positive duration or off, got %q", v)
			}
			vc.ProbeInterval = caddy.Duration(dur)
		default:
			return nil, d.Errf("vault: unrecognized subdirective %q", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if vc.Token != "" && vc.RoleID != "" {
		return nil, d.Err("vault: choose one of token and approle")
	}
	return vc, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s: %v", d.Val(), err)
	}
	if dur < 0 {
		return 0, d.Errf("%s: must not be negative", s)
	}
	return caddy.Duration(dur), nil
}

func intArg(d *caddyfile.Dispenser) (int, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, d.Errf("expected a non-negative integer, got %q", s)
	}
	return n, nil
}
