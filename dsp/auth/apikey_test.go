// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
)

// ---- Principal ----

func TestPrincipalFromClaims(t *testing.T) {
	tests := []struct {
		name   string
		claims string
		want   Principal
	}{
		{name: "typical", claims: `{"sub":"u1","groups":["g1","g2"],"roles":["admin"],"project":"p1","models":["gpt-4o"],` +
			`"rate_limit":100,"tier":"gold","exp":1767225600}`,
			want: Principal{Subject: "u1", Groups: []string{"g1", "g2"}, Roles: []string{"admin"}, Project: "p1",
				Models: []string{"gpt-4o"}, RateLimit: 100, Tier: "gold", ExpiresAt: time.Unix(1767225600, 0)}},
		{name: "strings for lists and numbers", claims: `{"groups":"g1, g2","roles":"r1 r2","models":"m1","rate_limit":"42","exp":"1767225600"}`,
			want: Principal{Groups: []string{"g1", "g2"}, Roles: []string{"r1", "r2"}, Models: []string{"m1"}, RateLimit: 42,
				ExpiresAt: time.Unix(1767225600, 0)}},
		{name: "fractional exp", claims: `{"exp":1767225600.5}`, want: Principal{ExpiresAt: time.Unix(1767225600, 5e8)}},
		{name: "wrong types are ignored", claims: `{"sub":5,"groups":[1,"g",null],"project":["p"],"rate_limit":"lots","tier":true,"exp":"soon"}`,
			want: Principal{Groups: []string{"g"}}},
		{name: "negative rate limit ignored", claims: `{"rate_limit":-3}`, want: Principal{}},
		{name: "empty", claims: `{}`, want: Principal{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var claims map[string]any
			if err := json.Unmarshal([]byte(tc.claims), &claims); err != nil {
				t.Fatal(err)
			}
			got := PrincipalFromClaims("jwt-auth", "cons", claims)
			if got.Method != "jwt-auth" || got.Consumer != "cons" {
				t.Errorf("Method, Consumer = %q, %q", got.Method, got.Consumer)
			}
			if !reflect.DeepEqual(got.Claims, claims) {
				t.Error("Claims not kept")
			}
			got.Method, got.Consumer, got.Claims = "", "", nil
			// Compare time separately: Equal ignores the location.
			if !got.ExpiresAt.Equal(tc.want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, tc.want.ExpiresAt)
			}
			got.ExpiresAt, tc.want.ExpiresAt = time.Time{}, time.Time{}
			if len(got.Groups) == 0 {
				got.Groups = nil
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("PrincipalFromClaims = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestPrincipalAllows(t *testing.T) {
	tests := []struct {
		name                string
		p                   Principal
		project, mod, model string
		wantProject         bool
		wantModule          bool
		wantModel           bool
	}{
		{name: "unscoped allows all", p: Principal{}, project: "p", mod: "m", model: "x",
			wantProject: true, wantModule: true, wantModel: true},
		{name: "scoped project", p: Principal{Project: "p1"}, project: "p1", wantProject: true, wantModule: true, wantModel: true},
		{name: "scoped project other", p: Principal{Project: "p1"}, project: "p2", wantModule: true, wantModel: true},
		{name: "projects list", p: Principal{Projects: []string{"a", "b"}}, project: "b", wantProject: true, wantModule: true, wantModel: true},
		{name: "projects list other", p: Principal{Projects: []string{"a", "b"}}, project: "c", wantModule: true, wantModel: true},
		{name: "scoped project rejects empty", p: Principal{Project: "p1"}, project: "", wantModule: true, wantModel: true},
		{name: "modules and models", p: Principal{Modules: []string{"chat"}, Models: []string{"m1"}}, project: "p",
			mod: "chat", model: "m1", wantProject: true, wantModule: true, wantModel: true},
		{name: "modules and models other", p: Principal{Modules: []string{"chat"}, Models: []string{"m1"}}, project: "p",
			mod: "rag", model: "m2", wantProject: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.AllowsProject(tc.project); got != tc.wantProject {
				t.Errorf("AllowsProject(%q) = %v", tc.project, got)
			}
			if got := tc.p.AllowsModule(tc.mod); got != tc.wantModule {
				t.Errorf("AllowsModule(%q) = %v", tc.mod, got)
			}
			if got := tc.p.AllowsModel(tc.model); got != tc.wantModel {
				t.Errorf("AllowsModel(%q) = %v", tc.model, got)
			}
		})
	}
}

func TestPrincipalClaim(t *testing.T) {
	var claims map[string]any
	if err := json.Unmarshal([]byte(`{"s":"a<b","n":1700000000,"f":1.50,"big":1e21,"b":true,"z":null,`+
		`"arr":["x",1],"obj":{"k":"<v>"}}`), &claims); err != nil {
		t.Fatal(err)
	}
	claims["num"] = json.Number("12345678901234567890")
	claims["numf"] = json.Number("2.50")
	claims["int"] = 7
	p := PrincipalFromClaims("jwt", "c", claims)
	tests := []struct {
		name, claim, want string
		wantOK            bool
	}{
		{name: "string", claim: "s", want: "a<b", wantOK: true},
		{name: "integer number", claim: "n", want: "1700000000", wantOK: true},
		{name: "float trims zeros", claim: "f", want: "1.5", wantOK: true},
		{name: "large float no exponent", claim: "big", want: "1000000000000000000000", wantOK: true},
		{name: "bool", claim: "b", want: "true", wantOK: true},
		{name: "null", claim: "z", want: "", wantOK: true},
		{name: "array compact json", claim: "arr", want: `["x",1]`, wantOK: true},
		{name: "object compact json without html escaping", claim: "obj", want: `{"k":"<v>"}`, wantOK: true},
		{name: "json.Number integer kept exactly", claim: "num", want: "12345678901234567890", wantOK: true},
		{name: "json.Number float", claim: "numf", want: "2.5", wantOK: true},
		{name: "go int", claim: "int", want: "7", wantOK: true},
		{name: "absent", claim: "nope", want: "", wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := p.Claim(tc.claim)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Claim(%q) = %q, %v; want %q, %v", tc.claim, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := (&Principal{}).Claim("x"); ok {
		t.Error("Claim on a Principal without claims found something")
	}
}

// ---- Key format ----

func TestNewAPIKey(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	plain, rec, err := NewAPIKey("alice", WithDescription("ci"), WithExpiry(exp), WithProjects("p1"),
		WithModules("chat"), WithModels("m1", "m2"), WithRateLimit(60), WithTier("gold"), WithCreatedAt(created))
	if err != nil {
		t.Fatalf("NewAPIKey: %v", err)
	}
	id, ok := ParseAPIKey(plain)
	if !ok || id != rec.ID {
		t.Fatalf("ParseAPIKey(new key) = %q, %v; want %q", id, ok, rec.ID)
	}
	if !strings.HasPrefix(plain, "fd2_"+rec.ID+"_") || len(plain) != apiKeyLen {
		t.Errorf("key %q does not have the fd2_<id>_<secret> shape", plain)
	}
	secret := plain[len("fd2_")+apiKeyIDLen+1:]
	if b, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil || len(b) != 32 {
		t.Errorf("secret decodes to %d bytes, %v; want 32", len(b), err)
	}
	if rec.Hash != HashAPIKey(plain) || len(rec.Hash) != 64 {
		t.Errorf("Hash = %q, want sha256 hex of the key", rec.Hash)
	}
	if strings.Contains(fmt.Sprintf("%+v", rec), secret) {
		t.Error("the record contains the secret")
	}
	want := APIKey{ID: rec.ID, Owner: "alice", Description: "ci", Hash: rec.Hash, CreatedAt: created, ExpiresAt: &exp,
		Projects: []string{"p1"}, Modules: []string{"chat"}, Models: []string{"m1", "m2"}, RateLimit: 60, Tier: "gold"}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("record = %+v\nwant %+v", rec, want)
	}

	p := rec.Principal()
	wantP := &Principal{Method: "api-key", Consumer: rec.ID, Subject: "alice", Projects: []string{"p1"},
		Modules: []string{"chat"}, Models: []string{"m1", "m2"}, RateLimit: 60, Tier: "gold", ExpiresAt: exp}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("Principal = %+v\nwant %+v", p, wantP)
	}
	if !p.AllowsProject("p1") || p.AllowsProject("p2") || !p.AllowsModel("m2") || p.AllowsModule("rag") {
		t.Error("the key's restrictions do not reach the Principal")
	}

	if _, _, err := NewAPIKey(""); err == nil {
		t.Error("NewAPIKey without owner: no error")
	}
	seen := map[string]bool{}
	for range 100 {
		plain, rec, err := NewAPIKey("bob")
		if err != nil {
			t.Fatal(err)
		}
		if seen[rec.ID] || seen[plain] {
			t.Fatal("NewAPIKey repeated itself")
		}
		seen[rec.ID], seen[plain] = true, true
		if rec.CreatedAt.IsZero() || rec.ExpiresAt != nil {
			t.Errorf("defaults: CreatedAt %v, ExpiresAt %v", rec.CreatedAt, rec.ExpiresAt)
		}
	}
}

// validKeyTemplate is a well-formed key used to build garbage variants.
const validKeyTemplate = "fd2_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func TestParseAPIKey(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantID string
	}{
		{name: "valid", in: validKeyTemplate, wantID: "0123456789ab"},
		{name: "valid with - and _ in secret", in: "fd2_0123456789ab_-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", wantID: "0123456789ab"},
		{name: "empty", in: ""},
		{name: "prefix only", in: "fd2_"},
		{name: "bearer", in: "Bearer " + validKeyTemplate},
		{name: "jwt", in: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
		{name: "wrong prefix", in: "fd3_" + validKeyTemplate[4:]},
		{name: "upper-case prefix", in: "FD2_" + validKeyTemplate[4:]},
		{name: "upper-case id", in: "fd2_0123456789AB_" + validKeyTemplate[17:]},
		{name: "non-hex id", in: "fd2_0123456789ag_" + validKeyTemplate[17:]},
		{name: "missing separator", in: "fd2_0123456789abA" + validKeyTemplate[17:]},
		{name: "short", in: validKeyTemplate[:len(validKeyTemplate)-1]},
		{name: "long", in: validKeyTemplate + "A"},
		{name: "padded", in: validKeyTemplate[:len(validKeyTemplate)-1] + "="},
		{name: "std base64 char", in: "fd2_0123456789ab_+" + validKeyTemplate[18:]},
		{name: "non-canonical last char", in: validKeyTemplate[:len(validKeyTemplate)-1] + "B"},
		{name: "space", in: " " + validKeyTemplate[1:]},
		{name: "non-ascii", in: "fd2_0123456789ab_é" + validKeyTemplate[19:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := ParseAPIKey(tc.in)
			if ok != (tc.wantID != "") || id != tc.wantID {
				t.Errorf("ParseAPIKey(%q) = %q, %v; want %q", tc.in, id, ok, tc.wantID)
			}
		})
	}
	garbage := strings.Repeat("x", 60)
	if allocs := testing.AllocsPerRun(100, func() {
		if _, ok := ParseAPIKey(garbage); ok {
			t.Error("garbage parsed")
		}
		if _, ok := ParseAPIKey(validKeyTemplate); !ok {
			t.Error("valid key refused")
		}
	}); allocs != 0 {
		t.Errorf("ParseAPIKey allocates %.1f times, want 0", allocs)
	}
}

// otherSecret returns plain with its secret replaced by another valid one: same id, wrong key.
func otherSecret(t testing.TB, plain string) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s := plain[:len(plain)-apiKeySecretLen] + base64.RawURLEncoding.EncodeToString(b[:])
	if _, ok := ParseAPIKey(s); !ok || s == plain {
		t.Fatalf("otherSecret built an unusable key")
	}
	return s
}

// ---- Stores ----

type keyStoreFactory func(t *testing.T, clk *keyTestClock) KeyStore

func newTestFileStore(ext string) keyStoreFactory {
	return func(t *testing.T, clk *keyTestClock) KeyStore {
		s := &FileStore{Path: filepath.Join(t.TempDir(), "keys"+ext), Now: clk.Now}
		if err := s.Open(); err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
}

// newTestRedis starts one redis-server for a test and returns clients to it.
func newTestRedis(t *testing.T) func() *redis.Client {
	addr := redistest.Start(t)
	return func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

func TestKeyStores(t *testing.T) {
	redisSetup := func(t *testing.T) keyStoreFactory {
		// One server for every subtest, each store in its own namespace.
		newClient := newTestRedis(t)
		var n atomic.Int64
		return func(t *testing.T, clk *keyTestClock) KeyStore {
			return &RedisStore{Client: newClient(), Prefix: fmt.Sprintf("t%d:", n.Add(1)), Now: clk.Now}
		}
	}
	stores := []struct {
		name  string
		setup func(t *testing.T) keyStoreFactory
	}{
		{name: "file json", setup: func(*testing.T) keyStoreFactory { return newTestFileStore(".json") }},
		{name: "file yaml", setup: func(*testing.T) keyStoreFactory { return newTestFileStore(".yaml") }},
		{name: "redis", setup: redisSetup},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testKeyStore(t, st.setup(t)) })
	}
}

func testKeyStore(t *testing.T, newStore keyStoreFactory) {
	ctx := context.Background()
	mustCreate := func(t *testing.T, s KeyStore, clk *keyTestClock, owner string, opts ...KeyOption) (string, APIKey) {
		t.Helper()
		plain, rec, err := NewAPIKey(owner, append([]KeyOption{WithCreatedAt(clk.Now())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, rec); err != nil {
			t.Fatalf("Create: %v", err)
		}
		return plain, rec
	}

	t.Run("create and lookup", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		plain, rec := mustCreate(t, s, clk, "alice", WithProjects("p1"), WithModels("m1"), WithRateLimit(5), WithTier("gold"))
		got, err := s.Lookup(ctx, plain)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if got.ID != rec.ID || got.Owner != "alice" || got.Hash != rec.Hash || !reflect.DeepEqual(got.Projects, []string{"p1"}) ||
			got.RateLimit != 5 || got.Tier != "gold" || !got.CreatedAt.Equal(rec.CreatedAt) {
			t.Errorf("Lookup = %+v, want %+v", got, rec)
		}
		// Warm lookups agree.
		for range 3 {
			if again, err := s.Lookup(ctx, plain); err != nil || again.ID != rec.ID {
				t.Fatalf("second Lookup = %v, %v", again, err)
			}
		}
	})

	t.Run("wrong secret and unknown id give the same error", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		plain, _ := mustCreate(t, s, clk, "alice")
		_, errWrong := s.Lookup(ctx, otherSecret(t, plain))
		_, errUnknown := s.Lookup(ctx, "fd2_ffffffffffff_"+plain[17:])
		for name, err := range map[string]error{"wrong secret": errWrong, "unknown id": errUnknown} {
			if !errors.Is(err, ErrKeyInvalid) {
				t.Errorf("%s: err = %v, want ErrKeyInvalid", name, err)
			}
		}
		if errWrong == nil || errUnknown == nil || errWrong.Error() != errUnknown.Error() {
			t.Errorf("errors differ: %v vs %v; ids could be probed", errWrong, errUnknown)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		plain, _ := mustCreate(t, s, clk, "alice")
		for _, g := range []string{"", "x", "Bearer " + plain, plain + " ", strings.ToUpper(plain), plain[:40],
			"fd2_" + strings.Repeat("a", 56), validKeyTemplate} {
			if _, err := s.Lookup(ctx, g); !errors.Is(err, ErrKeyInvalid) {
				t.Errorf("Lookup(%q) err = %v, want ErrKeyInvalid", g, err)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		plain, rec := mustCreate(t, s, clk, "alice")
		if _, err := s.Lookup(ctx, plain); err != nil {
			t.Fatalf("Lookup before Revoke: %v", err)
		}
		if err := s.Revoke(ctx, rec.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if _, err := s.Lookup(ctx, plain); !errors.Is(err, ErrKeyRevoked) {
			t.Errorf("Lookup after Revoke err = %v, want ErrKeyRevoked", err)
		}
		// Revocation status is only told to whoever holds the key.
		if _, err := s.Lookup(ctx, otherSecret(t, plain)); !errors.Is(err, ErrKeyInvalid) {
			t.Errorf("wrong secret of a revoked key: err = %v, want ErrKeyInvalid", err)
		}
		if err := s.Revoke(ctx, rec.ID); err != nil {
			t.Errorf("second Revoke: %v", err)
		}
		if err := s.Revoke(ctx, "ffffffffffff"); !errors.Is(err, ErrKeyNotFound) {
			t.Errorf("Revoke of an unknown id: err = %v, want ErrKeyNotFound", err)
		}
	})

	t.Run("rotation keeps both keys until the old is revoked", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		oldKey, oldRec := mustCreate(t, s, clk, "alice")
		newKey, _ := mustCreate(t, s, clk, "alice")
		for _, k := range []string{oldKey, newKey} {
			if _, err := s.Lookup(ctx, k); err != nil {
				t.Fatalf("Lookup during rotation: %v", err)
			}
		}
		if err := s.Revoke(ctx, oldRec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(ctx, oldKey); !errors.Is(err, ErrKeyRevoked) {
			t.Errorf("old key: err = %v, want ErrKeyRevoked", err)
		}
		if _, err := s.Lookup(ctx, newKey); err != nil {
			t.Errorf("new key after revoking the old: %v", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		plain, _ := mustCreate(t, s, clk, "alice", WithExpiry(clk.Now().Add(time.Hour)))
		if _, err := s.Lookup(ctx, plain); err != nil {
			t.Fatalf("Lookup before expiry: %v", err)
		}
		clk.Advance(time.Hour - time.Nanosecond)
		if _, err := s.Lookup(ctx, plain); err != nil {
			t.Fatalf("Lookup just before expiry: %v", err)
		}
		clk.Advance(time.Nanosecond)
		if _, err := s.Lookup(ctx, plain); !errors.Is(err, ErrKeyExpired) {
			t.Errorf("Lookup at expiry err = %v, want ErrKeyExpired", err)
		}
	})

	t.Run("create rejects duplicates and bad records", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		_, rec := mustCreate(t, s, clk, "alice")
		if err := s.Create(ctx, rec); !errors.Is(err, ErrKeyExists) {
			t.Errorf("duplicate Create err = %v, want ErrKeyExists", err)
		}
		bad := []struct {
			name string
			edit func(*APIKey)
		}{
			{name: "bad id", edit: func(k *APIKey) { k.ID = "XYZ" }},
			{name: "bad hash", edit: func(k *APIKey) { k.Hash = "abc" }},
			{name: "non-hex hash", edit: func(k *APIKey) { k.Hash = strings.Repeat("zz", 32) }},
			{name: "no owner", edit: func(k *APIKey) { k.Owner = "" }},
		}
		for _, tc := range bad {
			_, r, err := NewAPIKey("bob")
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&r)
			if err := s.Create(ctx, r); err == nil {
				t.Errorf("%s: Create accepted %+v", tc.name, r)
			}
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 1 {
			t.Errorf("List after rejected Creates = %d records, %v; want 1", len(list), err)
		}
	})

	t.Run("list", func(t *testing.T) {
		clk := newKeyTestClock()
		s := newStore(t, clk)
		if list, err := s.List(ctx); err != nil || len(list) != 0 {
			t.Fatalf("List of an empty store = %v, %v", list, err)
		}
		var recs []APIKey
		var plains []string
		for i := range 3 {
			plain, rec := mustCreate(t, s, clk, fmt.Sprint("owner-", i), WithModels("m"))
			recs, plains = append(recs, rec), append(plains, plain)
			clk.Advance(time.Second)
		}
		if err := s.Revoke(ctx, recs[1].ID); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(list) != 3 {
			t.Fatalf("List returned %d records, want 3", len(list))
		}
		for i, k := range list {
			if k.ID != recs[i].ID || k.Owner != recs[i].Owner || k.Revoked != (i == 1) || !reflect.DeepEqual(k.Models, []string{"m"}) {
				t.Errorf("List[%d] = %+v, want %+v (revoked %v)", i, k, recs[i], i == 1)
			}
			if strings.Contains(fmt.Sprintf("%+v", k), plains[i][17:]) {
				t.Errorf("List[%d] exposes the secret", i)
			}
		}
		// The result belongs to the caller.
		list[0].Models[0] = "changed"
		if again, _ := s.List(ctx); again[0].Models[0] != "m" {
			t.Error("modifying List's result changed the store")
		}
	})
}

// ---- FileStore ----

func writeJSONFile(t testing.TB, path string, keys []APIKey) {
	t.Helper()
	b, err := json.Marshal(apiKeyFile{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileStoreReload(t *testing.T) {
	ctx := context.Background()
	clk := newKeyTestClock()
	path := filepath.Join(t.TempDir(), "keys.json")
	s := &FileStore{Path: path, Now: clk.Now}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	plain2, rec2, err := NewAPIKey("bob")
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		edit    func(t *testing.T)
		advance time.Duration
		key     string
		wantErr error // nil: valid
	}{
		{name: "external edit revokes, not seen before the interval", advance: 500 * time.Millisecond, key: plain,
			edit: func(t *testing.T) {
				r := rec
				r.Revoked = true
				writeJSONFile(t, path, []APIKey{r})
			}},
		{name: "seen after the interval", advance: 500 * time.Millisecond, key: plain, wantErr: ErrKeyRevoked},
		{name: "external edit adds a key", advance: time.Second, key: plain2,
			edit: func(t *testing.T) { writeJSONFile(t, path, []APIKey{rec, rec2}) }},
		{name: "the unrevoked key works again", key: plain},
		{name: "unparsable file keeps the last good keys", advance: time.Second, key: plain2,
			edit: func(t *testing.T) {
				if err := os.WriteFile(path, []byte(`{"keys": [`), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "unknown field is rejected, last good kept", advance: time.Second, key: plain2,
			edit: func(t *testing.T) {
				if err := os.WriteFile(path, []byte(`{"keys": [{"id":"`+rec.ID+`","revokd":true}]}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "same size rewrite in place is noticed by mtime", advance: time.Second, key: plain2, wantErr: ErrKeyInvalid,
			edit: func(t *testing.T) {
				writeJSONFile(t, path, []APIKey{rec, rec2})
				if err := s.Open(); err != nil { // resync the snapshot to this content
					t.Fatal(err)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				// Swap one hex digit of bob's hash: same size, same inode.
				b = []byte(strings.Replace(string(b), rec2.Hash, rec2.Hash[1:]+rec2.Hash[:1], 1))
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				future := time.Now().Add(time.Minute)
				if err := os.Chtimes(path, future, future); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "deleted file fails closed", advance: time.Second, key: plain, wantErr: ErrKeyInvalid,
			edit: func(t *testing.T) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.edit != nil {
				st.edit(t)
			}
			clk.Advance(st.advance)
			_, err := s.Lookup(ctx, st.key)
			if (st.wantErr == nil) != (err == nil) || (st.wantErr != nil && !errors.Is(err, st.wantErr)) {
				t.Errorf("Lookup err = %v, want %v", err, st.wantErr)
			}
		})
	}
	if err := s.ReloadError(); err != nil {
		t.Errorf("ReloadError after a good reload = %v", err)
	}
}

func TestFileStoreReloadError(t *testing.T) {
	ctx := context.Background()
	clk := newKeyTestClock()
	path := filepath.Join(t.TempDir(), "keys.json")
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	writeJSONFile(t, path, []APIKey{rec})
	s := &FileStore{Path: path, Now: clk.Now}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, err := s.Lookup(ctx, plain); err != nil {
		t.Errorf("Lookup with a broken file: %v, want the last good keys", err)
	}
	if s.ReloadError() == nil {
		t.Error("ReloadError = nil after a failed reload")
	}
	// Create must not overwrite a file it could not read.
	_, rec2, _ := NewAPIKey("bob")
	if err := s.Create(ctx, rec2); err == nil {
		t.Error("Create over an unreadable file succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "not json" {
		t.Errorf("file changed to %q", b)
	}
	writeJSONFile(t, path, []APIKey{rec})
	clk.Advance(time.Second)
	if _, err := s.Lookup(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadError(); err != nil {
		t.Errorf("ReloadError after the fix = %v", err)
	}
}

func TestFileStoreOpen(t *testing.T) {
	_, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	recJSON, _ := json.Marshal(rec)
	tests := []struct {
		name     string
		file     string // "" = no file
		ext      string
		wantErr  bool
		wantKeys int
	}{
		{name: "missing file is empty", ext: ".json"},
		{name: "empty file is empty", file: " \n", ext: ".json"},
		{name: "json", file: `{"keys":[` + string(recJSON) + `]}`, ext: ".json", wantKeys: 1},
		{name: "yaml", file: "keys:\n  - id: " + rec.ID + "\n    owner: alice\n    hash: " + rec.Hash + "\n", ext: ".yml", wantKeys: 1},
		{name: "invalid json", file: `{"keys":`, ext: ".json", wantErr: true},
		{name: "unknown json field", file: `{"keys":[],"extra":1}`, ext: ".json", wantErr: true},
		{name: "unknown yaml field", file: "keys: []\nextra: 1\n", ext: ".yaml", wantErr: true},
		{name: "duplicate id", file: `{"keys":[` + string(recJSON) + `,` + string(recJSON) + `]}`, ext: ".json", wantErr: true},
		{name: "bad hash", file: `{"keys":[{"id":"` + rec.ID + `","owner":"a","hash":"xyz"}]}`, ext: ".json", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys"+tc.ext)
			if tc.file != "" {
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := &FileStore{Path: path}
			err := s.Open()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			list, err := s.List(context.Background())
			if err != nil || len(list) != tc.wantKeys {
				t.Errorf("List = %d keys, %v; want %d", len(list), err, tc.wantKeys)
			}
		})
	}
	if _, err := (&FileStore{Path: "x.json"}).Lookup(context.Background(), validKeyTemplate); err == nil ||
		errors.Is(err, ErrKeyInvalid) {
		t.Errorf("Lookup on an unopened store: err = %v, want a store error", err)
	}
	if err := (&FileStore{}).Open(); err == nil {
		t.Error("Open without Path succeeded")
	}
}

func TestFileStoreWritesAtomically(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, ext := range []string{".json", ".yaml"} {
		t.Run(ext, func(t *testing.T) {
			path := filepath.Join(dir, "keys"+ext)
			s := &FileStore{Path: path}
			if err := s.Open(); err != nil {
				t.Fatal(err)
			}
			plain, rec, err := NewAPIKey("alice", WithExpiry(time.Now().Add(time.Hour)), WithProjects("p"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode = %v, want 0600", fi.Mode().Perm())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), plain[17:]) || !strings.Contains(string(b), rec.Hash) {
				t.Error("the file holds the secret, or not the hash")
			}
			// Another process (a second store) reads what the first wrote.
			other := &FileStore{Path: path}
			if err := other.Open(); err != nil {
				t.Fatalf("reopening: %v", err)
			}
			if got, err := other.Lookup(ctx, plain); err != nil || !reflect.DeepEqual(got.Projects, []string{"p"}) {
				t.Errorf("Lookup in a reopened store = %+v, %v", got, err)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the 2 key files and no leftovers", len(entries))
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	clk := newKeyTestClock()
	s := &FileStore{Path: filepath.Join(t.TempDir(), "keys.json"), Now: clk.Now}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if got, err := s.Lookup(ctx, plain); err != nil || got.ID != rec.ID {
					t.Errorf("Lookup = %v, %v", got, err)
					return
				}
				clk.Advance(10 * time.Millisecond) // crosses the reload interval regularly
			}
		})
	}
	ids := make(chan string, 20)
	for range 2 {
		wg.Go(func() {
			for range 10 {
				_, r, err := NewAPIKey("bob")
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Create(ctx, r); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				ids <- r.ID
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := s.Revoke(ctx, <-ids); err != nil {
				t.Errorf("Revoke: %v", err)
			}
			_, _ = s.List(ctx)
		}
	})
	wg.Wait()
	list, err := s.List(ctx)
	if err != nil || len(list) != 21 {
		t.Fatalf("List = %d keys, %v; want 21", len(list), err)
	}
	revoked := 0
	for _, k := range list {
		if k.Revoked {
			revoked++
		}
	}
	if revoked != 20 {
		t.Errorf("%d keys revoked, want 20", revoked)
	}
}

// ---- RedisStore ----

// redisCountHook counts the commands a client sends.
type redisCountHook struct{ n atomic.Int64 }

func (h *redisCountHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *redisCountHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *redisCountHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestRedisStoreRevocationAcrossInstances is the requirement: a key revoked on one instance is
// rejected by every instance within one second, even one that has the record cached.
func TestRedisStoreRevocationAcrossInstances(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	newClient := newTestRedis(t)

	tests := []struct {
		name     string
		cacheTTL time.Duration
		start    bool
	}{
		// CacheTTL of an hour: only the pub/sub message can make B reject in time.
		{name: "pubsub", cacheTTL: time.Hour, start: true},
		// No subscription: the default cache TTL (500 ms) is the bound.
		{name: "cache ttl without pubsub", start: false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := fmt.Sprintf("rev%d:", i)
			a := &RedisStore{Client: newClient(), Prefix: prefix}
			hook := &redisCountHook{}
			cb := newClient()
			cb.AddHook(hook)
			b := &RedisStore{Client: cb, Prefix: prefix, CacheTTL: tc.cacheTTL}
			if tc.start {
				if err := b.Start(ctx); err != nil {
					t.Fatalf("Start: %v", err)
				}
			}
			plain, rec, err := NewAPIKey("alice")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Lookup(ctx, plain); err != nil {
				t.Fatalf("B Lookup: %v", err)
			}
			before := hook.n.Load()
			if _, err := b.Lookup(ctx, plain); err != nil {
				t.Fatalf("B warm Lookup: %v", err)
			}
			if n := hook.n.Load() - before; n != 0 {
				t.Errorf("a warm Lookup sent %d Redis commands, want 0", n)
			}

			revokedAt := time.Now()
			if err := a.Revoke(ctx, rec.ID); err != nil {
				t.Fatalf("A Revoke: %v", err)
			}
			for {
				_, err := b.Lookup(ctx, plain)
				if errors.Is(err, ErrKeyRevoked) {
					break
				}
				if err != nil {
					t.Fatalf("B Lookup: %v", err)
				}
				if time.Since(revokedAt) > time.Second {
					t.Fatalf("B still accepts the key %s after the revocation", time.Since(revokedAt))
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("B rejected the key %s after A revoked it", time.Since(revokedAt))
		})
	}
}

func TestRedisStoreCache(t *testing.T) {
	ctx := context.Background()
	newClient := newTestRedis(t)
	clk := newKeyTestClock()
	hook := &redisCountHook{}
	c := newClient()
	c.AddHook(hook)
	s := &RedisStore{Client: c, Prefix: "cache:", Now: clk.Now, CacheSize: 4}
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	unknown := "fd2_ffffffffffff_" + plain[17:]

	steps := []struct {
		name      string
		key       string
		advance   time.Duration
		wantCmds  int64
		wantValid bool
	}{
		{name: "cold", key: plain, wantCmds: 1, wantValid: true},
		{name: "warm", key: plain, advance: DefaultKeyCacheTTL - time.Millisecond, wantCmds: 0, wantValid: true},
		{name: "ttl passed", key: plain, advance: time.Millisecond, wantCmds: 1, wantValid: true},
		{name: "unknown cold", key: unknown, wantCmds: 1},
		{name: "unknown cached as a miss", key: unknown, wantCmds: 0},
		{name: "garbage never reaches redis", key: "garbage", wantCmds: 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Advance(st.advance)
			before := hook.n.Load()
			_, err := s.Lookup(ctx, st.key)
			if (err == nil) != st.wantValid {
				t.Errorf("Lookup err = %v, want valid %v", err, st.wantValid)
			}
			if n := hook.n.Load() - before; n != st.wantCmds {
				t.Errorf("Lookup sent %d commands, want %d", n, st.wantCmds)
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		for i := range 20 {
			_, _ = s.Lookup(ctx, fmt.Sprintf("fd2_%012x_%s", i, plain[17:]))
		}
		s.mu.RLock()
		n := len(s.cache)
		s.mu.RUnlock()
		if n > 4 {
			t.Errorf("cache holds %d entries, want at most CacheSize 4", n)
		}
	})

	t.Run("a lookup racing a revocation does not cache the stale record", func(t *testing.T) {
		e, err := newAPIKeyEntry(rec)
		if err != nil {
			t.Fatal(err)
		}
		epoch := s.epoch.Load()
		s.forget(rec.ID) // the revocation arrives while the lookup is reading Redis
		s.remember(rec.ID, e, clk.Now(), epoch)
		s.mu.RLock()
		_, cached := s.cache[rec.ID]
		s.mu.RUnlock()
		if cached {
			t.Error("the record read before the revocation was cached")
		}
	})

	t.Run("new key is not hidden by a cached miss on its own instance", func(t *testing.T) {
		p2, r2, err := NewAPIKey("bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(ctx, p2); !errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("Lookup before Create: %v", err)
		}
		if err := s.Create(ctx, r2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(ctx, p2); err != nil {
			t.Errorf("Lookup right after Create: %v", err)
		}
	})
}

func TestRedisStoreErrors(t *testing.T) {
	ctx := context.Background()
	newClient := newTestRedis(t)
	c := newClient()
	s := &RedisStore{Client: c, Prefix: "err:"}
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("corrupt record is a store error", func(t *testing.T) {
		if err := c.Set(ctx, "err:apikey:"+rec.ID, "{not json", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lookup(ctx, plain); err == nil || errors.Is(err, ErrKeyInvalid) {
			t.Errorf("Lookup of a corrupt record: err = %v, want a store error", err)
		}
		if err := c.Del(ctx, "err:apikey:"+rec.ID).Err(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("dangling index entries are skipped by List", func(t *testing.T) {
		if err := s.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := c.SAdd(ctx, "err:apikeys", "aaaaaaaaaaaa").Err(); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 1 || list[0].ID != rec.ID {
			t.Errorf("List = %+v, %v; want only %s", list, err, rec.ID)
		}
	})

	t.Run("revoke keeps fields it does not know", func(t *testing.T) {
		if err := c.Set(ctx, "err:apikey:bbbbbbbbbbbb",
			`{"id":"bbbbbbbbbbbb","owner":"x","hash":"`+rec.Hash+`","future_field":{"a":1}}`, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, "bbbbbbbbbbbb"); err != nil {
			t.Fatal(err)
		}
		b, err := c.Get(ctx, "err:apikey:bbbbbbbbbbbb").Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["revoked"] != true || m["future_field"] == nil {
			t.Errorf("record after Revoke = %s", b)
		}
	})

	t.Run("redis down is not an invalid key", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		dead := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = dead.Close() })
		ds := &RedisStore{Client: dead}
		if _, err := ds.Lookup(ctx, plain); err == nil || errors.Is(err, ErrKeyInvalid) {
			t.Errorf("Lookup with Redis down: err = %v, want a store error", err)
		}
		if err := ds.Start(ctx); err == nil {
			t.Error("Start with Redis down succeeded")
		}
		if err := ds.Create(ctx, rec); err == nil {
			t.Error("Create with Redis down succeeded")
		}
	})
}

// ---- Benchmarks ----

func BenchmarkLookupFileWarm(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "keys.json")
	keys := make([]APIKey, 1000)
	var plain string
	for i := range keys {
		p, rec, err := NewAPIKey(fmt.Sprint("owner-", i), WithProjects("p"), WithRateLimit(10))
		if err != nil {
			b.Fatal(err)
		}
		keys[i], plain = rec, p
	}
	writeJSONFile(b, path, keys)
	s := &FileStore{Path: path}
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupRedisWarm(b *testing.B) {
	ctx := context.Background()
	addr := redistest.Start(b)
	c := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = c.Close() })
	s := &RedisStore{Client: c}
	plain, rec, err := NewAPIKey("alice")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(ctx, rec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(ctx, plain); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupGarbage(b *testing.B) {
	s := &FileStore{Path: filepath.Join(b.TempDir(), "keys.json")}
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	garbage := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	b.ReportAllocs()
	for b.Loop() {
		_, _ = s.Lookup(context.Background(), garbage)
	}
}
