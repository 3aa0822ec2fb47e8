// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// secretDoc is a manifest whose resolution puts every one of secrets into it: a ${VAR} of the process
// environment, an environments value and an env: reference resolved by the secret manager.
func secretDoc(id string) []byte {
	return fmt.Appendf(nil, `{"project_id":%q,"project_name":"P","environment":"development",
"environments":{"development":{"secrets":{"jwt":"env:FD2_TEST_JWT_SECRET"}}},
"modules":[{"module_type":"monitoring","name":"mon","config":{"langfuse":"${FD2_TEST_LANGFUSE}",
"jwt":"${environments.${environment}.secrets.jwt}","provider_key":"env:FD2_TEST_PROVIDER_KEY"}}]}`, id)
}

var atRestSecrets = map[string]string{
	"FD2_TEST_LANGFUSE":     "sk-lf-0c2b9f1d7e6a4c3b",
	"FD2_TEST_JWT_SECRET":   "jwt-8f2e7d6c5b4a3921",
	"FD2_TEST_PROVIDER_KEY": "gsk_live_5a4b3c2d1e0f9a8b",
}

func atRestEnv(k string) (string, bool) { v, ok := atRestSecrets[k]; return v, ok }

// envSecrets resolves env: references from atRestEnv, as a vault module's secret manager would.
func envSecrets(context.Context, string, []byte) (func(string) (string, error), func() error) {
	return func(ref string) (string, error) {
		name, ok := strings.CutPrefix(ref, "env:")
		if !ok {
			return ref, nil
		}
		if v, ok := atRestEnv(name); ok {
			return v, nil
		}
		return "", errors.New("unset")
	}, nil
}

// assertNoSecretsAtRest DUMPs every Redis key and reads every file of dir, and fails on any secret.
func assertNoSecretsAtRest(t *testing.T, rc *redis.Client, dir string) (keys, files int) {
	t.Helper()
	ctx := context.Background()
	all, err := rc.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		dump, err := rc.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		for name, secret := range atRestSecrets {
			if strings.Contains(dump, secret) {
				t.Errorf("redis key %s holds the value of %s", k, name)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range atRestSecrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("last-good file %s holds the value of %s", e.Name(), name)
			}
		}
	}
	return len(all), len(ents)
}

func servesSecrets(t *testing.T, e *Entry) {
	t.Helper()
	if e == nil || e.Err != nil {
		t.Fatalf("entry = %+v, want a served manifest", e)
	}
	for name, secret := range atRestSecrets {
		if !bytes.Contains(e.Raw, []byte(secret)) {
			t.Errorf("the served manifest lacks the resolved %s", name)
		}
	}
}

// TestSecretsAtRestFileSource: a file source's documents are stored before resolution and resolved after
// every load, so Redis and last-good hold references, not values — and still serve, also to a fresh
// instance that has nothing but the last-good directory.
func TestSecretsAtRestFileSource(t *testing.T) {
	dir, lgDir := t.TempDir(), filepath.Join(t.TempDir(), "lastgood")
	if err := os.WriteFile(filepath.Join(dir, "p1.json"), secretDoc("p1"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := newRedis(t)
	src := func(d string) *FileSource {
		return &FileSource{Dir: d, Env: manifest.EnvOptions{Getenv: atRestEnv}, Secrets: envSecrets}
	}
	a := newResolver(t, Config{Source: src(dir), Redis: &RedisTier{Client: rc}, LastGood: &LastGood{Dir: lgDir}})
	e, err := a.Get(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	servesSecrets(t, e)
	if _, err := a.Reload(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if keys, files := assertNoSecretsAtRest(t, rc, lgDir); keys == 0 || files != 1 {
		t.Fatalf("found %d redis keys and %d last-good files; the test must see what it greps", keys, files)
	}

	// Another instance loads from Redis and resolves.
	b := newResolver(t, Config{Source: src(dir), Redis: &RedisTier{Client: rc}})
	e, err = b.Get(context.Background(), "p1")
	if err != nil || e.Origin != OriginRedis {
		t.Fatalf("Get from redis = %+v, %v", e, err)
	}
	servesSecrets(t, e)

	// A restart with the manifest volume gone and Redis flushed: last-good only.
	if err := rc.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	c := newResolver(t, Config{Source: src(filepath.Join(dir, "unmounted")), LastGood: &LastGood{Dir: lgDir}})
	e, err = c.Get(context.Background(), "p1")
	if err != nil || e.Origin != OriginLastGood {
		t.Fatalf("Get from last-good = %+v, %v", e, err)
	}
	servesSecrets(t, e)
}

// TestSecretsAtRestControlTower: a Control Tower serves resolved documents; with a cache key they are
// stored sealed and still serve (from Redis, and from last-good after a restart), without one they stay in
// memory only and the log says why, once.
func TestSecretsAtRestControlTower(t *testing.T) {
	resolved, err := (&FileSource{Env: manifest.EnvOptions{Getenv: atRestEnv}, Secrets: envSecrets}).Resolve(context.Background(), "p1", secretDoc("p1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("with cache_key", func(t *testing.T) {
		ct := newFakeCT(t)
		ct.set("p1", resolved)
		rc := newRedis(t)
		lgDir := t.TempDir()
		a := newResolver(t, Config{Source: ct.client(), Redis: &RedisTier{Client: rc}, LastGood: &LastGood{Dir: lgDir}, CacheKey: testCacheKey})
		e, err := a.Get(context.Background(), "p1")
		if err != nil {
			t.Fatal(err)
		}
		servesSecrets(t, e)
		if keys, files := assertNoSecretsAtRest(t, rc, lgDir); keys == 0 || files != 1 {
			t.Fatalf("found %d redis keys and %d last-good files, want the sealed copies", keys, files)
		}
		b := newResolver(t, Config{Source: ct.client(), Redis: &RedisTier{Client: rc}, CacheKey: testCacheKey})
		if e, err := b.Get(context.Background(), "p1"); err != nil || e.Origin != OriginRedis {
			t.Fatalf("Get from redis = %+v, %v", e, err)
		} else {
			servesSecrets(t, e)
		}
		ct.setStatus(http.StatusBadGateway)
		c := newResolver(t, Config{Source: ct.client(), LastGood: &LastGood{Dir: lgDir}, CacheKey: testCacheKey})
		if e, err := c.Get(context.Background(), "p1"); err != nil || e.Origin != OriginLastGood {
			t.Fatalf("Get from last-good = %+v, %v", e, err)
		} else {
			servesSecrets(t, e)
		}
		// Another key cannot open them: a miss, never garbage served.
		other := newResolver(t, Config{Source: ct.client(), LastGood: &LastGood{Dir: lgDir}, CacheKey: bytes.Repeat([]byte("k"), 32)})
		if _, err := other.Get(context.Background(), "p1"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get with the wrong key: %v, want ErrUnavailable", err)
		}
	})
	t.Run("without cache_key", func(t *testing.T) {
		ct := newFakeCT(t)
		ct.set("p1", resolved)
		ct.set("p2", resolved)
		rc := newRedis(t)
		lgDir := t.TempDir()
		core, logs := observer.New(zapcore.WarnLevel)
		r, err := New(Config{Source: ct.client(), Compile: compile, Redis: &RedisTier{Client: rc}, LastGood: &LastGood{Dir: lgDir}, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"p1", "p2", "p1"} {
			e, err := r.Reload(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			servesSecrets(t, e)
		}
		ctx := context.Background()
		if n := rc.Exists(ctx, "fd2:manifest:p1", "fd2:manifest:p2").Val(); n != 0 {
			t.Errorf("%d manifests in redis, want none without a cache key", n)
		}
		if ents, _ := os.ReadDir(lgDir); len(ents) != 0 {
			t.Errorf("%d last-good files, want none without a cache key", len(ents))
		}
		if n := logs.FilterMessageSnippet("kept in memory only").Len(); n != 1 {
			t.Errorf("the memory-only warning was logged %d times, want once", n)
		}
	})
}

func TestSeal(t *testing.T) {
	aead, err := newAEAD(testCacheKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"project_id":"p1"}`)
	sealed, err := seal(aead, "p1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("project_id")) {
		t.Fatal("sealed value holds the plaintext")
	}
	again, _ := seal(aead, "p1", plain)
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one document are equal: the nonce is not random")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name         string
		id           string
		stored       []byte
		key          bool
		want         []byte
		wantResolved bool
		wantErr      bool
	}{
		{name: "round trip", id: "p1", stored: sealed, key: true, want: plain, wantResolved: true},
		{name: "plain document", id: "p1", stored: plain, key: true, want: plain},
		{name: "another project's value", id: "p2", stored: sealed, key: true, wantErr: true},
		{name: "tampered", id: "p1", stored: tampered, key: true, wantErr: true},
		{name: "truncated", id: "p1", stored: []byte(sealedMagic + "abc"), key: true, wantErr: true},
		{name: "no key", id: "p1", stored: sealed, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := aead
			if !tc.key {
				a = nil
			}
			got, resolved, err := open(a, tc.id, tc.stored)
			if tc.wantErr {
				if !errors.Is(err, errSealed) {
					t.Fatalf("open = %q, %v; want errSealed", got, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) || resolved != tc.wantResolved {
				t.Fatalf("open = %q, %v, %v", got, resolved, err)
			}
		})
	}
	if _, err := newAEAD([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}
