// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the type of a secret reference.
type Kind int

// Reference kinds, by prefix.
const (
	KindPlain     Kind = iota // no known prefix: returned unchanged
	KindVault                 // vault:<instance>:<path>[#key][@version] or vault://<mount>/<path>[#key][@version]
	KindConfig                // config:a.b.c
	KindEnv                   // env:VAR
	KindEncrypted             // encrypted:<fernet token>
	KindLiteral               // literal:x
)

// markers are the substrings for which the Control Tower hands a whole string to resolve_secret.
// literal: is not one of them: it only acts when some other marker is also present.
var markers = []string{"vault:", "config:", "env:", "encrypted:"}

// HasRef reports whether s contains a secret marker (vault:, config:, env:, encrypted:) anywhere. This is
// the Control Tower's test for sending a string to the resolver; Resolve itself then only acts on a prefix.
func HasRef(s string) bool {
	for _, m := range markers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// Ref is a parsed secret reference. It never holds a secret value in an exported field: literal: values
// and encrypted: tokens are kept unexported so that printing a Ref cannot leak them.
type Ref struct {
	Kind Kind
	// Instance is the Vault instance of vault:<instance>:…; empty for vault://, which uses the default one.
	Instance string
	// Mount is the KV mount of vault://<mount>/…; empty means the instance's KVMount.
	Mount string
	// Path is the Vault secret path, the dotted config path or the environment variable name.
	Path string
	// Key selects one field of a Vault secret; empty means "the only key".
	Key string
	// Version is a KV v2 version; 0 means the latest.
	Version int

	payload string // the literal value or the Fernet token
}

// ParseRef parses s. Strings without a known prefix parse as KindPlain; a known prefix with a malformed
// remainder is ErrInvalidRef. Errors quote the reference only for kinds that carry no secret material.
func ParseRef(s string) (Ref, error) {
	prefix, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{Kind: KindPlain, payload: s}, nil
	}
	switch prefix {
	case "vault":
		return parseVaultRef(s, rest)
	case "config":
		if rest == "" || strings.HasPrefix(rest, ".") || strings.HasSuffix(rest, ".") || strings.Contains(rest, "..") {
			return Ref{}, fmt.Errorf("%w: config path %q", ErrInvalidRef, rest)
		}
		return Ref{Kind: KindConfig, Path: rest}, nil
	case "env":
		if rest == "" {
			return Ref{}, fmt.Errorf("%w: empty env: variable name", ErrInvalidRef)
		}
		return Ref{Kind: KindEnv, Path: rest}, nil
	case "encrypted":
		if rest == "" {
			return Ref{}, fmt.Errorf("%w: empty encrypted: token", ErrInvalidRef)
		}
		return Ref{Kind: KindEncrypted, payload: rest}, nil
	case "literal":
		return Ref{Kind: KindLiteral, payload: rest}, nil
	}
	return Ref{Kind: KindPlain, payload: s}, nil
}

func parseVaultRef(s, rest string) (Ref, error) {
	r := Ref{Kind: KindVault}
	var path string
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		mount, p, ok := strings.Cut(after, "/")
		if !ok || mount == "" {
			return Ref{}, fmt.Errorf("%w: %q: want vault://<mount>/<path>#key", ErrInvalidRef, s)
		}
		r.Mount, path = mount, p
	} else {
		inst, p, ok := strings.Cut(rest, ":")
		if !ok || inst == "" {
			return Ref{}, fmt.Errorf("%w: %q: want vault:<instance>:<path>[#key][@version]", ErrInvalidRef, s)
		}
		r.Instance, path = inst, p
	}
	// @version is recognised only as a numeric suffix, so that a key such as "user@example" still works.
	if i := strings.LastIndexByte(path, '@'); i >= 0 {
		if n, err := strconv.Atoi(path[i+1:]); err == nil {
			if n < 1 {
				return Ref{}, fmt.Errorf("%w: %q: versions start at 1", ErrInvalidRef, s)
			}
			r.Version, path = n, path[:i]
		}
	}
	if p, key, ok := strings.Cut(path, "#"); ok {
		if key == "" {
			return Ref{}, fmt.Errorf("%w: %q: empty #key", ErrInvalidRef, s)
		}
		path, r.Key = p, key
	}
	r.Path = strings.Trim(path, "/")
	if r.Path == "" {
		return Ref{}, fmt.Errorf("%w: %q: empty path", ErrInvalidRef, s)
	}
	return r, nil
}
