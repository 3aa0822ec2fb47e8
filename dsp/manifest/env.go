// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// EnvOptions configure ResolveEnv.
type EnvOptions struct {
	// Environment overrides the manifest's own "environment" field when set. The Control Tower has no such
	// override (it always uses the manifest's field); FD2 offers it for file sources so that one manifest
	// directory can be served as development on a laptop and staging in a cluster.
	Environment string
	// Getenv looks up ${VAR} references. Defaults to os.LookupEnv.
	Getenv func(string) (string, bool)
	// Secret resolves a secret reference (vault:, config:, env:, encrypted:, literal:). Nil means "no secret
	// manager": as in the Control Tower, references then stay literal and only ${…} passes run.
	Secret func(ref string) (string, error)
}

var (
	reEnvStatic  = regexp.MustCompile(`\$\{environments\.([a-zA-Z0-9_-]+)\.([^}$]+)\}`)
	reEnvDynamic = regexp.MustCompile(`\$\{environments\.\$\{environment\}\.([^}$]+)\}`)
	reVar        = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)
	secretMarks  = []string{"vault:", "config:", "env:", "encrypted:"}
)

// ResolveEnv applies the Control Tower's resolve_env=true algorithm (spec §1.3) to a raw manifest document
// and returns the resolved JSON. Every string of the document, map keys included (upstream node keys are
// templated), goes through, in order: ${environments.<name>.<path>}, ${environments.${environment}.<path>},
// ${environment}, then ${VAR} from the process environment. Lookups read the unresolved "environments"
// map; a missing path or unset variable leaves its placeholder untouched. When opts.Secret is set, a string
// that contains a secret marker anywhere is passed whole to it instead, with no ${…} processing, exactly as
// the Control Tower does.
func ResolveEnv(raw []byte, opts EnvOptions) ([]byte, error) {
	if err := checkObject(raw); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: decoding: %v", ErrInvalid, err)
	}
	// checkObject saw a '{', so doc is non-nil here; a second document after it is not a manifest either.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: decoding: data after the manifest object", ErrInvalid)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	env := opts.Environment
	if env == "" {
		env, _ = doc["environment"].(string)
		if env == "" {
			env = "development"
		}
	}
	if opts.Environment != "" {
		doc["environment"] = opts.Environment
	}
	r := &envResolver{opts: opts, env: env}
	r.envs, _ = doc["environments"].(map[string]any)
	var firstErr error
	r.onErr = func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	out := r.walk(doc)
	if firstErr != nil {
		return nil, firstErr
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding resolved manifest: %w", err)
	}
	return b, nil
}

type envResolver struct {
	opts  EnvOptions
	env   string
	envs  map[string]any
	onErr func(error)
}

func (r *envResolver) walk(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[r.str(k)] = r.walk(val)
		}
		return out
	case []any:
		for i := range t {
			t[i] = r.walk(t[i])
		}
		return t
	case string:
		return r.str(t)
	default:
		return v
	}
}

func (r *envResolver) str(s string) string {
	if r.opts.Secret != nil && containsSecretMark(s) {
		v, err := r.opts.Secret(s)
		if err != nil {
			// The Control Tower keeps the original string when resolve_secret fails at this level.
			return s
		}
		return v
	}
	if !strings.Contains(s, "${") {
		return s
	}
	s = reEnvStatic.ReplaceAllStringFunc(s, func(m string) string {
		sub := reEnvStatic.FindStringSubmatch(m)
		return r.lookup(sub[1], sub[2], m)
	})
	s = reEnvDynamic.ReplaceAllStringFunc(s, func(m string) string {
		sub := reEnvDynamic.FindStringSubmatch(m)
		return r.lookup(r.env, sub[1], m)
	})
	s = strings.ReplaceAll(s, "${environment}", r.env)
	s = reVar.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := r.opts.Getenv(m[2 : len(m)-1]); ok {
			return v
		}
		return m
	})
	return s
}

// lookup finds environments.<envName>.<dotted path>. The found value goes through the secret resolver when
// one is configured; there a failure fails the whole resolution, as in the Control Tower (which answers 500).
func (r *envResolver) lookup(envName, path, placeholder string) string {
	var cur any = r.envs[envName]
	if cur == nil {
		return placeholder
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return placeholder
		}
		if cur, ok = m[part]; !ok {
			return placeholder
		}
	}
	var s string
	switch t := cur.(type) {
	case string:
		s = t
	case json.Number:
		s = t.String()
	case bool:
		if t {
			s = "True"
		} else {
			s = "False"
		}
	case nil:
		s = "None"
	default:
		b, _ := json.Marshal(t)
		s = string(b)
	}
	if r.opts.Secret != nil && containsSecretMark(s) {
		v, err := r.opts.Secret(s)
		if err != nil {
			r.onErr(fmt.Errorf("resolving environments.%s.%s: %w", envName, path, err))
			return placeholder
		}
		return v
	}
	return s
}

func containsSecretMark(s string) bool {
	for _, m := range secretMarks {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
