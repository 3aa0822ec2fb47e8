// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "your-secret-key-here"

// newTest starts the double with the demo corpus and a JWT-secured configuration "secure" holding the same
// documents.
func newTest(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.GenerationDelay == 0 {
		opts.GenerationDelay = -1
	}
	opts.Configurations = append(opts.Configurations, Configuration{
		Name:      "secure",
		Config:    map[string]any{"similarity_threshold": 0.1, "security": map[string]any{"enabled": true, "type": "jwt_bearer", "jwt_secret_key": secret}},
		Documents: DefaultCorpus(),
	})
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path string, body any, header ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, out, resp.Header
}

func token(t *testing.T, claims jwt.MapClaims, key string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(t *testing.T, list any) []string {
	t.Helper()
	var out []string
	for _, d := range list.([]any) {
		out = append(out, d.(map[string]any)["metadata"].(map[string]any)["document_id"].(string))
	}
	return out
}

func TestFilter(t *testing.T) {
	meta := map[string]any{"tenant": "acme", "year": 2024.0, "tags": []any{"a"}, "status": "published"}
	cases := []struct {
		name    string
		filter  string
		want    bool
		wantErr string
	}{
		{"empty", `{}`, true, ""},
		{"equality", `{"tenant":"acme"}`, true, ""},
		{"equality other", `{"tenant":"globex"}`, false, ""},
		{"missing field never equals", `{"region":"eu"}`, false, ""},
		{"missing field fails $ne", `{"region":{"$ne":"eu"}}`, false, ""},
		{"missing field fails $nin", `{"region":{"$nin":["eu"]}}`, false, ""},
		{"$eq", `{"tenant":{"$eq":"acme"}}`, true, ""},
		{"$ne", `{"tenant":{"$ne":"acme"}}`, false, ""},
		{"$neq alias", `{"tenant":{"$neq":"globex"}}`, true, ""},
		{"$in", `{"tenant":{"$in":["globex","acme"]}}`, true, ""},
		{"$nin", `{"tenant":{"$nin":["globex","acme"]}}`, false, ""},
		{"$gt", `{"year":{"$gt":2023}}`, true, ""},
		{"$gte", `{"year":{"$gte":2024}}`, true, ""},
		{"$lt", `{"year":{"$lt":2024}}`, false, ""},
		{"$lte range", `{"year":{"$gte":2020,"$lte":2024}}`, true, ""},
		{"$gt on a string", `{"tenant":{"$gt":1}}`, false, ""},
		{"list equality", `{"tags":["a"]}`, true, ""},
		{"$and", `{"$and":[{"tenant":"acme"},{"status":"published"}]}`, true, ""},
		{"$and one false", `{"$and":[{"tenant":"acme"},{"status":"draft"}]}`, false, ""},
		{"$or", `{"$or":[{"tenant":"globex"},{"status":"published"}]}`, true, ""},
		{"$or none", `{"$or":[{"tenant":"globex"},{"status":"draft"}]}`, false, ""},
		{"nested", `{"$and":[{"$or":[{"tenant":"globex"},{"year":{"$gt":2000}}]},{"status":{"$in":["published"]}}]}`, true, ""},
		{"$not", `{"$not":{"tenant":"acme"}}`, false, ""},
		{"fields and operators together", `{"tenant":"acme","$or":[{"year":1}]}`, false, ""},
		{"unknown operator", `{"tenant":{"$regex":"ac.*"}}`, false, "Unsupported filter operator: $regex"},
		{"unknown top-level operator", `{"$nor":[]}`, false, "Unsupported filter operator: $nor"},
		{"unknown operator deep", `{"$or":[{"tenant":"acme"},{"x":{"$like":1}}]}`, false, "Unsupported filter operator: $like"},
		{"$and not a list", `{"$and":{"tenant":"acme"}}`, false, "expects a list"},
		{"$in not a list", `{"tenant":{"$in":"acme"}}`, false, "expects a list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal([]byte(tc.filter), &m); err != nil {
				t.Fatal(err)
			}
			f, err := compileFilter(m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f == nil || f.match(meta); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeFilters(t *testing.T) {
	a, b := map[string]any{"x": 1.0}, map[string]any{"tenant": "acme"}
	cases := []struct {
		name       string
		req, claim map[string]any
		want       map[string]any
	}{
		{"none", nil, nil, nil},
		{"request only", a, nil, a},
		{"claim only", nil, b, b},
		{"both", a, b, map[string]any{"$and": []any{a, b}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeFilters(tc.req, tc.claim); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestSimilarity(t *testing.T) {
	cases := []struct {
		name, q, text string
		want          float64
	}{
		{"identical", "vacation days", "vacation days", 1},
		{"stopwords ignored", "what is the vacation policy", "vacation policy", 1},
		{"case and punctuation", "VACATION, Days!", "vacation days", 1},
		{"disjoint", "rocket", "vacation", 0},
		{"only stopwords", "what is the", "what is the", 0},
		{"half", "vacation rocket", "vacation", math.Round(1/math.Sqrt2*1e6) / 1e6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Similarity(tc.q, tc.text); got != tc.want {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestChunkText(t *testing.T) {
	cases := []struct {
		name string
		text string
		size int
		want []string
	}{
		{"fits", "a b c", 10, []string{"a b c"}},
		{"split on words", "aaa bbb ccc", 7, []string{"aaa bbb", "ccc"}},
		{"long word alone", "aaaaaaaaaa b", 4, []string{"aaaaaaaaaa", "b"}},
		{"empty", "  ", 10, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := chunkText(tc.text, tc.size); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	_, ts := newTest(t, Options{})
	cases := []struct {
		name       string
		body       map[string]any
		wantStatus int
		wantIDs    []string
		wantAnswer string
	}{
		{"both tenants, ordered by score then id", map[string]any{"query": "vacation days policy", "configuration_name": "demo-kb"}, 200,
			[]string{"acme-001", "globex-001"}, "Based on 2 document(s): Acme employees receive 25 vacation days per year."},
		{"tenant filter keeps the other tenant out", map[string]any{"query": "vacation days policy", "configuration_name": "demo-kb", "filter": map[string]any{"tenant": "globex"}}, 200,
			[]string{"globex-001"}, "Based on 1 document(s): Globex employees receive 30 vacation days per year."},
		{"k", map[string]any{"query": "vacation days policy", "configuration_name": "demo-kb", "k": 1}, 200,
			[]string{"acme-001"}, "Based on 1 document(s): Acme employees receive 25 vacation days per year."},
		{"threshold", map[string]any{"query": "vacation days policy", "configuration_name": "demo-kb", "similarity_threshold": 0.99}, 200,
			nil, NoAnswer},
		{"nothing relevant", map[string]any{"query": "zebra", "configuration_name": "demo-kb"}, 200, nil, NoAnswer},
		{"$or over departments", map[string]any{"query": "globex", "configuration_name": "demo-kb",
			"filter": map[string]any{"$or": []any{map[string]any{"department": "hr"}, map[string]any{"access_level": "internal"}}}}, 200,
			[]string{"globex-003", "globex-002", "globex-001"}, "Based on 3 document(s): Globex plans to acquire Initech next quarter."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", "/api/v1/query", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d: %v", status, body)
			}
			if got := ids(t, body["sources"]); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Fatalf("sources %v, want %v", got, tc.wantIDs)
			}
			if body["answer"] != tc.wantAnswer {
				t.Fatalf("answer %q, want %q", body["answer"], tc.wantAnswer)
			}
			for _, k := range []string{"query", "processing_time", "configuration_name", "query_expansion_metadata"} {
				if _, ok := body[k]; !ok {
					t.Fatalf("no %s in %v", k, body)
				}
			}
		})
	}
}

func TestQuerySourcesShape(t *testing.T) {
	_, ts := newTest(t, Options{})
	_, body, _ := do(t, ts, "POST", "/api/v1/query", map[string]any{"query": "badge lab", "configuration_name": "demo-kb", "include_metadata": false,
		"context_items": []any{map[string]any{"content": "earlier turn", "role": "user"}}})
	sources := body["sources"].([]any)
	if len(sources) != 2 {
		t.Fatalf("sources %v", sources)
	}
	first := sources[0].(map[string]any)
	if !strings.HasPrefix(first["content"].(string), "Globex security requires badge access") || len(first["metadata"].(map[string]any)) != 0 ||
		first["source_query"] != nil || first["similarity_score"].(float64) <= 0 {
		t.Fatalf("first source %v", first)
	}
	if ctx := sources[1].(map[string]any); ctx["content"] != "earlier turn" || ctx["similarity_score"] != 1.0 {
		t.Fatalf("context item %v", ctx)
	}
}

func TestQueryErrorsAreWrappedAs500(t *testing.T) {
	_, ts := newTest(t, Options{})
	expired := token(t, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(-time.Hour).Unix()}, secret)
	cases := []struct {
		name       string
		body       map[string]any
		header     []string
		wantStatus int
		wantDetail string
	}{
		{"unknown configuration", map[string]any{"query": "x", "configuration_name": "nope"}, nil, 500, `Internal server error: "Configuration 'nope' not found"`},
		{"default configuration does not exist", map[string]any{"query": "x"}, nil, 500, `Internal server error: "Configuration 'default' not found"`},
		{"no authorization", map[string]any{"query": "x", "configuration_name": "secure"}, nil, 500, "Internal server error: 401: Authorization header is required"},
		{"wrong scheme", map[string]any{"query": "x", "configuration_name": "secure"}, []string{"Authorization", "Basic abc"}, 500, "Internal server error: 401: Invalid authentication scheme. Expected 'Bearer'"},
		{"no token", map[string]any{"query": "x", "configuration_name": "secure"}, []string{"Authorization", "Bearer"}, 500, "Internal server error: 401: Invalid authorization header format. Expected 'Bearer <token>'"},
		{"expired", map[string]any{"query": "x", "configuration_name": "secure"}, []string{"Authorization", "Bearer " + expired}, 500, "Internal server error: 401: Token has expired"},
		{"bad signature", map[string]any{"query": "x", "configuration_name": "secure"}, []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"sub": "u"}, "other")}, 500, "Internal server error: 401: Invalid token: Signature verification failed"},
		{"garbage token", map[string]any{"query": "x", "configuration_name": "secure"}, []string{"Authorization", "Bearer abc"}, 500, "Internal server error: 401: Invalid token: Not enough segments"},
		{"unknown filter operator", map[string]any{"query": "x", "configuration_name": "demo-kb", "filter": map[string]any{"tenant": map[string]any{"$regex": "a"}}}, nil, 500, "Internal server error: Unsupported filter operator: $regex"},
		{"internal error with traceback", map[string]any{"query": "please raise-internal-error", "configuration_name": "demo-kb"}, nil, 500, "Internal server error: " + InternalTraceback},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", "/api/v1/query", tc.body, tc.header...)
			if status != tc.wantStatus || body["detail"] != tc.wantDetail || body["error"] != tc.wantDetail {
				t.Fatalf("%d %v, want %d %q", status, body, tc.wantStatus, tc.wantDetail)
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000000", body["timestamp"].(string)); err != nil {
				t.Fatalf("timestamp: %v", err)
			}
		})
	}
	if _, body, _ := do(t, ts, "POST", "/api/v1/query", map[string]any{"query": "raise-internal-error", "configuration_name": "demo-kb"}); !strings.Contains(body["detail"].(string), `File "/app/src/services/rag_service.py"`) {
		t.Fatalf("traceback lacks internal paths: %v", body)
	}
}

func TestValidation(t *testing.T) {
	_, ts := newTest(t, Options{})
	cases := []struct {
		name, path string
		body       any
		wantLoc    string
	}{
		{"query missing", "/api/v1/query", map[string]any{}, "body.query"},
		{"query empty", "/api/v1/query", map[string]any{"query": ""}, "body.query"},
		{"query too long", "/api/v1/query", map[string]any{"query": strings.Repeat("a", 1001)}, "body.query"},
		{"k too large", "/api/v1/query", map[string]any{"query": "a", "k": 21}, "body.k"},
		{"k wrong type", "/api/v1/query", map[string]any{"query": "a", "k": "five"}, "body.k"},
		{"retrieve k too large", "/api/v1/retrieve", map[string]any{"query": "a", "k": 51}, "body.k"},
		{"bad json", "/api/v1/query", "{", "body.0"},
		{"chat messages missing", "/v1/chat/completions", map[string]any{"model": "demo-kb"}, "body.messages"},
		{"chat content not a string", "/v1/chat/completions", map[string]any{"model": "demo-kb", "messages": []any{map[string]any{"role": "user", "content": []any{}}}}, "body.messages.0.content"},
		{"chat bad role", "/v1/chat/completions", map[string]any{"model": "demo-kb", "messages": []any{map[string]any{"role": "robot", "content": "x"}}}, "body.messages.0.role"},
		{"upload text empty", "/api/v1/upload/text", map[string]any{"documents": []any{}}, "body.documents"},
		{"upload text no content", "/api/v1/upload/text", map[string]any{"documents": []any{map[string]any{}}}, "body.documents.0.content"},
		{"embeddings texts missing", "/api/v1/models/embeddings", map[string]any{}, "body.texts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", tc.path, tc.body)
			if status != 422 {
				t.Fatalf("status %d: %v", status, body)
			}
			first := body["detail"].([]any)[0].(map[string]any)
			var loc []string
			for _, l := range first["loc"].([]any) {
				b, _ := json.Marshal(l)
				loc = append(loc, strings.Trim(string(b), `"`))
			}
			if got := strings.Join(loc, "."); got != tc.wantLoc {
				t.Fatalf("loc %s, want %s (%v)", got, tc.wantLoc, body)
			}
		})
	}
}

func TestSecurityMergesTokenFilter(t *testing.T) {
	s, ts := newTest(t, Options{})
	cases := []struct {
		name    string
		claims  jwt.MapClaims
		filter  map[string]any
		wantIDs []string
	}{
		{"no claim filter", jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}, nil, []string{"acme-001", "globex-001"}},
		{"claim filter alone", jwt.MapClaims{"sub": "u", "metadata_filter": map[string]any{"tenant": "acme"}}, nil, []string{"acme-001"}},
		{"claim filter AND request filter", jwt.MapClaims{"sub": "u", "metadata_filter": map[string]any{"tenant": "acme"}}, map[string]any{"tenant": "globex"}, nil},
		{"request filter cannot widen the claim", jwt.MapClaims{"sub": "u", "metadata_filter": map[string]any{"tenant": "globex"}},
			map[string]any{"$or": []any{map[string]any{"tenant": "acme"}, map[string]any{"tenant": "globex"}}}, []string{"globex-001"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"query": "vacation days policy", "configuration_name": "secure"}
			if tc.filter != nil {
				body["filter"] = tc.filter
			}
			status, resp, _ := do(t, ts, "POST", "/api/v1/retrieve", body, "Authorization", "Bearer "+token(t, tc.claims, secret))
			if status != 200 {
				t.Fatalf("status %d: %v", status, resp)
			}
			if got := ids(t, resp["documents"]); !reflect.DeepEqual(got, tc.wantIDs) {
				t.Fatalf("documents %v, want %v", got, tc.wantIDs)
			}
		})
	}
	rec, ok := s.Last("/api/v1/retrieve")
	if !ok || !strings.HasPrefix(rec.Header.Get("Authorization"), "Bearer ") {
		t.Fatalf("recorded %+v", rec)
	}
}

func TestJWTClaimChecks(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv := New(Options{NoDemo: true, Now: func() time.Time { return now }})
	base := securityConfig{Enabled: true, Type: "jwt_bearer", JWTSecretKey: secret, JWTAlgorithm: "HS256", JWTRequireExp: true, JWTRequireIat: true}
	cases := []struct {
		name    string
		mod     func(*securityConfig)
		claims  jwt.MapClaims
		method  jwt.SigningMethod
		wantErr string
	}{
		{"valid", nil, jwt.MapClaims{"exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}, nil, ""},
		{"expired", nil, jwt.MapClaims{"exp": now.Add(-time.Second).Unix()}, nil, "Token has expired"},
		{"leeway keeps it", func(c *securityConfig) { c.JWTLeeway = 10 }, jwt.MapClaims{"exp": now.Add(-time.Second).Unix()}, nil, ""},
		{"exp not checked", func(c *securityConfig) { c.JWTRequireExp = false }, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}, nil, ""},
		{"iat in the future", nil, jwt.MapClaims{"iat": now.Add(time.Hour).Unix()}, nil, "Invalid token: The token is not yet valid (iat)"},
		{"nbf in the future", nil, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}, nil, "Invalid token: The token is not yet valid (nbf)"},
		{"issuer", func(c *securityConfig) { c.JWTIssuer = "jwt-service" }, jwt.MapClaims{"iss": "other"}, nil, "Invalid token: Invalid issuer"},
		{"issuer ok", func(c *securityConfig) { c.JWTIssuer = "jwt-service" }, jwt.MapClaims{"iss": "jwt-service"}, nil, ""},
		{"audience missing", func(c *securityConfig) { c.JWTAudience = "rag" }, jwt.MapClaims{}, nil, `Invalid token: Token is missing the "aud" claim`},
		{"audience ok", func(c *securityConfig) { c.JWTAudience = "rag" }, jwt.MapClaims{"aud": []string{"x", "rag"}}, nil, ""},
		{"wrong algorithm", nil, jwt.MapClaims{}, jwt.SigningMethodHS512, "Invalid token: The specified alg value is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := base
			if tc.mod != nil {
				tc.mod(&sc)
			}
			m := tc.method
			if m == nil {
				m = jwt.SigningMethodHS256
			}
			tok, err := jwt.NewWithClaims(m, tc.claims).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			_, err = srv.validateJWT(sc, tok)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var he *httpError
			if err == nil || !asHTTP(err, &he) || he.status != 401 || he.detail != tc.wantErr {
				t.Fatalf("err %v, want 401 %q", err, tc.wantErr)
			}
		})
	}
}

func asHTTP(err error, dst **httpError) bool {
	he, ok := err.(*httpError) //nolint:errorlint // validateJWT returns it unwrapped
	*dst = he
	return ok
}

func TestRetrieve(t *testing.T) {
	s, ts := newTest(t, Options{Configurations: []Configuration{
		{Name: "kb2", Config: map[string]any{"similarity_threshold": 0.1}, Documents: []Document{
			{ID: "b-1", Content: "Vacation days policy for contractors.", Metadata: map[string]any{"tenant": "acme"}},
			{ID: "b-2", Content: "Acme employees receive 25 vacation days per year. Vacation requests go to your manager two weeks ahead."},
		}},
		{Name: "rr", Config: map[string]any{"similarity_threshold": 0.1, "reranking": map[string]any{"enabled": true, "score_threshold": 0.5}}, Documents: DefaultCorpus()},
	}})
	_ = s
	t.Run("single", func(t *testing.T) {
		status, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "vacation days policy", "configuration_name": "demo-kb", "k": 1})
		if status != 200 || body["configuration_name"] != "demo-kb" || body["configuration_names"] != nil || body["fusion_method"] != nil || body["total_found"] != 1.0 {
			t.Fatalf("%d %v", status, body)
		}
		if doc := body["documents"].([]any)[0].(map[string]any); doc["source_configuration"] != "demo-kb" || doc["rrf_score"] != nil {
			t.Fatalf("doc %v", doc)
		}
	})
	fusionCases := []struct {
		method     string
		wantFusion string
		wantFirst  string
	}{
		{"rrf", "rrf", "Acme employees receive 25 vacation days per year. Vacation requests go to your manager two weeks ahead."},
		{"simple", "simple", "Vacation days policy for contractors."},
		{"other", "concatenate", "Vacation days policy for contractors."},
	}
	for _, tc := range fusionCases {
		t.Run("fusion "+tc.method, func(t *testing.T) {
			status, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "vacation days policy", "configuration_names": []string{"demo-kb", "kb2"}, "fusion_method": tc.method})
			if status != 200 || body["fusion_method"] != tc.wantFusion || body["configuration_name"] != nil {
				t.Fatalf("%d %v", status, body)
			}
			if !reflect.DeepEqual(body["configuration_names"], []any{"demo-kb", "kb2"}) {
				t.Fatalf("configuration_names %v", body["configuration_names"])
			}
			docs := body["documents"].([]any)
			first := docs[0].(map[string]any)
			if first["content"] != tc.wantFirst {
				t.Fatalf("first %v", first)
			}
			if _, has := first["rrf_score"]; has != (tc.method == "rrf") {
				t.Fatalf("rrf_score presence in %v", first)
			}
		})
	}
	t.Run("multi with one config empty is not fused", func(t *testing.T) {
		_, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "Hammock", "configuration_names": []string{"demo-kb", "kb2"}})
		if body["fusion_method"] != nil || !reflect.DeepEqual(body["configuration_names"], []any{"demo-kb"}) || body["total_found"] != 1.0 {
			t.Fatalf("%v", body)
		}
	})
	t.Run("unknown configuration", func(t *testing.T) {
		status, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "x", "configuration_names": []string{"demo-kb", "nope"}})
		if status != 404 || body["detail"] != "Configuration 'nope' not found" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("security of the first configuration, 401 not wrapped", func(t *testing.T) {
		status, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "x", "configuration_name": "secure"})
		if status != 401 || body["detail"] != "Authorization header is required" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("reranking filters below the score threshold", func(t *testing.T) {
		_, plain, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "acme vacation days", "configuration_name": "rr"})
		_, rr, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "acme vacation days", "configuration_name": "rr", "use_reranking": true})
		_, keep, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "acme vacation days", "configuration_name": "rr", "use_reranking": true, "filter_after_reranking": false})
		if len(rr["documents"].([]any)) >= len(plain["documents"].([]any)) || len(keep["documents"].([]any)) != len(plain["documents"].([]any)) {
			t.Fatalf("plain %v\nreranked %v\nkept %v", plain["documents"], rr["documents"], keep["documents"])
		}
		for _, d := range rr["documents"].([]any) {
			if d.(map[string]any)["rerank_score"].(float64) < 0.5 {
				t.Fatalf("kept %v", d)
			}
		}
	})
	t.Run("internal error", func(t *testing.T) {
		status, body, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": "raise-internal-error", "configuration_name": "demo-kb"})
		if status != 500 || !strings.Contains(body["detail"].(string), "Traceback (most recent call last)") {
			t.Fatalf("%d %v", status, body)
		}
	})
}

func multipartBody(t *testing.T, fields map[string]string, filename string, content []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if filename != "" {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestUpload(t *testing.T) {
	_, ts := newTest(t, Options{})
	cases := []struct {
		name       string
		fields     map[string]string
		filename   string
		content    []byte
		wantStatus int
		wantState  string
		wantDetail string
		searchable bool
	}{
		{"txt indexed", map[string]string{"configuration_name": "demo-kb", "metadata": `{"tenant":"initech"}`}, "tps.txt", []byte("Initech TPS reports need a cover sheet."), 200, "indexed", "", true},
		{"txt not processed", map[string]string{"configuration_name": "demo-kb", "process_immediately": "false"}, "later.txt", []byte("Zorblax unprocessed text."), 200, "uploaded", "", false},
		{"pdf accepted, not indexed", map[string]string{"configuration_name": "demo-kb"}, "doc.pdf", []byte("%PDF-1.4 Quuxly"), 200, "uploaded", "", false},
		{"unsupported type", map[string]string{"configuration_name": "demo-kb"}, "run.exe", []byte("MZ"), 400, "", "Unsupported file type: exe. Allowed types: ['pdf', 'txt', 'docx', 'pptx']", false},
		{"bad metadata", map[string]string{"configuration_name": "demo-kb", "metadata": "{"}, "a.txt", []byte("x"), 400, "", "Invalid metadata JSON format", false},
		{"unknown configuration", map[string]string{"configuration_name": "nope"}, "a.txt", []byte("x"), 404, "", "Configuration 'nope' not found", false},
		{"too large", map[string]string{"configuration_name": "demo-kb"}, "big.txt", bytes.Repeat([]byte("a "), MaxFileSize/2+1), 400, "", "File size exceeds maximum allowed size of 10485760 bytes", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := multipartBody(t, tc.fields, tc.filename, tc.content)
			resp, err := ts.Client().Post(ts.URL+"/api/v1/upload", ctype, body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d: %v", resp.StatusCode, out)
			}
			if tc.wantDetail != "" {
				if out["detail"] != tc.wantDetail {
					t.Fatalf("detail %v", out)
				}
				return
			}
			if out["status"] != tc.wantState || out["filename"] != tc.filename || out["document_id"] == "" || out["configuration_name"] != "demo-kb" ||
				out["message"] != "Document uploaded successfully to configuration '{configuration_name}" {
				t.Fatalf("%v", out)
			}
			_, q, _ := do(t, ts, "POST", "/api/v1/retrieve", map[string]any{"query": strings.Fields(string(tc.content))[1], "configuration_name": "demo-kb"})
			if found := q["total_found"] != 0.0; found != tc.searchable {
				t.Fatalf("searchable %v, want %v: %v", found, tc.searchable, q)
			}
			if tc.searchable {
				meta := q["documents"].([]any)[0].(map[string]any)["metadata"].(map[string]any)
				if meta["tenant"] != "initech" || meta["document_id"] != out["document_id"] || meta["filename"] != tc.filename {
					t.Fatalf("metadata %v", meta)
				}
			}
		})
	}
	t.Run("no file", func(t *testing.T) {
		body, ctype := multipartBody(t, map[string]string{"configuration_name": "demo-kb"}, "", nil)
		resp, err := ts.Client().Post(ts.URL+"/api/v1/upload", ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 422 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestUploadTextAndDocuments(t *testing.T) {
	_, ts := newTest(t, Options{NoDemo: true, Configurations: []Configuration{{Name: "kb", Config: map[string]any{"similarity_threshold": 0.1, "chunking": map[string]any{"chunk_size": 40}}}}})
	status, body, _ := do(t, ts, "POST", "/api/v1/upload/text", map[string]any{"configuration_name": "nope", "documents": []any{map[string]any{"content": "x"}}})
	if status != 404 || body["detail"] != "Configuration 'nope' not found" {
		t.Fatalf("%d %v", status, body)
	}
	status, body, _ = do(t, ts, "POST", "/api/v1/upload/text", map[string]any{"configuration_name": "kb", "documents": []any{
		map[string]any{"content": "Penguins live in the southern hemisphere. They cannot fly but swim very well indeed.", "filename": "penguins.txt", "metadata": map[string]any{"tenant": "zoo"}},
		map[string]any{"content": "Owls hunt at night."},
	}})
	if status != 200 || body["total_count"] != 2.0 || body["message"] != "Processed 2 text documents" {
		t.Fatalf("%d %v", status, body)
	}
	docs := body["documents"].([]any)
	penguin := docs[0].(map[string]any)
	owl := docs[1].(map[string]any)
	if penguin["status"] != "indexed" || !strings.HasPrefix(owl["filename"].(string), "text_doc_") {
		t.Fatalf("%v", docs)
	}
	pid := penguin["document_id"].(string)

	_, list, _ := do(t, ts, "GET", "/api/v1/documents?configuration_name=kb", nil)
	if list["document_count"] != 2.0 {
		t.Fatalf("%v", list)
	}
	first := list["documents"].([]any)[0].(map[string]any)
	if first["document_id"] != pid || first["chunk_count"] != 3.0 || first["tenant"] != "zoo" || first["filename"] != "penguins.txt" {
		t.Fatalf("first document %v", first)
	}
	_, chunks, _ := do(t, ts, "GET", "/api/v1/documents/"+pid+"/chunks?configuration_name=kb", nil)
	if chunks["chunk_count"] != 3.0 || chunks["document_id"] != pid {
		t.Fatalf("%v", chunks)
	}
	cases := []struct {
		name, method, path string
		wantStatus         int
		wantKey            string
		wantValue          any
	}{
		{"list needs configuration_name", "GET", "/api/v1/documents", 422, "", nil},
		{"list unknown configuration", "GET", "/api/v1/documents?configuration_name=nope", 404, "detail", "Configuration 'nope' not found"},
		{"chunks unknown configuration", "GET", "/api/v1/documents/x/chunks?configuration_name=nope", 404, "detail", "Configuration 'nope' not found"},
		{"chunks of unknown document", "GET", "/api/v1/documents/x/chunks?configuration_name=kb", 200, "chunk_count", 0.0},
		{"delete all without confirm", "DELETE", "/api/v1/documents?configuration_name=kb", 400, "detail", "Deletion requires confirmation. Set confirm=true query parameter."},
		{"delete all confirm=false", "DELETE", "/api/v1/documents?configuration_name=kb&confirm=false", 400, "detail", "Deletion requires confirmation. Set confirm=true query parameter."},
		{"delete chunks of unknown document", "DELETE", "/api/v1/documents/x/chunks?configuration_name=kb", 200, "deleted", 0.0},
		{"delete penguin chunks", "DELETE", "/api/v1/documents/" + pid + "/chunks?configuration_name=kb", 200, "deleted", 3.0},
		{"penguin gone", "GET", "/api/v1/documents/" + pid + "/chunks?configuration_name=kb", 200, "chunk_count", 0.0},
		{"delete all", "DELETE", "/api/v1/documents?configuration_name=kb&confirm=true", 200, "deleted_count", 1.0},
		{"empty", "GET", "/api/v1/documents?configuration_name=kb", 200, "document_count", 0.0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, tc.method, tc.path, nil)
			if status != tc.wantStatus || (tc.wantKey != "" && body[tc.wantKey] != tc.wantValue) {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}

func TestConfigurations(t *testing.T) {
	_, ts := newTest(t, Options{})
	cases := []struct {
		name, method, path string
		body               any
		wantStatus         int
		check              func(t *testing.T, body map[string]any)
	}{
		{"create", "POST", "/api/v1/configurations", map[string]any{"configuration_name": "new", "config": map[string]any{"retrieval_k": 3, "chunking": map[string]any{"chunk_size": 500}}}, 200,
			func(t *testing.T, b map[string]any) {
				cfg := b["config"].(map[string]any)
				if b["message"] != "Configuration 'new' created/updated successfully" || cfg["retrieval_k"] != 3.0 ||
					cfg["chunking"].(map[string]any)["chunk_size"] != 500.0 || cfg["chunking"].(map[string]any)["chunk_overlap"] != 200.0 {
					t.Fatalf("%v", b)
				}
			}},
		{"create without config", "POST", "/api/v1/configurations", map[string]any{"configuration_name": "x"}, 422, nil},
		{"create secured without secret", "POST", "/api/v1/configurations", map[string]any{"configuration_name": "x", "config": map[string]any{"security": map[string]any{"enabled": true}}}, 400,
			func(t *testing.T, b map[string]any) {
				if !strings.HasPrefix(b["detail"].(string), "Configuration error: ") {
					t.Fatalf("%v", b)
				}
			}},
		{"get", "GET", "/api/v1/configurations/new", nil, 200, func(t *testing.T, b map[string]any) {
			if b["configuration_name"] != "new" || b["config"].(map[string]any)["retrieval_k"] != 3.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"get unknown", "GET", "/api/v1/configurations/nope", nil, 404, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Configuration 'nope' not found" || b["error"] != b["detail"] {
				t.Fatalf("%v", b)
			}
		}},
		{"names only", "GET", "/api/v1/configurations?names_only=true", nil, 200, func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["names"], []any{"demo-kb", "secure", "new"}) || b["total_count"] != 3.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"list", "GET", "/api/v1/configurations", nil, 200, func(t *testing.T, b map[string]any) {
			first := b["configurations"].([]any)[0].(map[string]any)
			if b["total_count"] != 3.0 || first["configuration_name"] != "demo-kb" || first["document_count"] != 0.0 || first["config"] == nil {
				t.Fatalf("%v", b)
			}
		}},
		{"duplicate", "POST", "/api/v1/configurations/duplicate", map[string]any{"source_configuration_name": "demo-kb", "target_configuration_name": "copy", "include_documents": true}, 200,
			func(t *testing.T, b map[string]any) {
				if b["documents_copied"] != 8.0 || b["message"] != "Configuration 'demo-kb' duplicated to 'copy' successfully" {
					t.Fatalf("%v", b)
				}
			}},
		{"duplicate is searchable", "POST", "/api/v1/retrieve", map[string]any{"query": "Hammock", "configuration_name": "copy"}, 200, func(t *testing.T, b map[string]any) {
			if b["total_found"] != 1.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"duplicate onto existing", "POST", "/api/v1/configurations/duplicate", map[string]any{"source_configuration_name": "demo-kb", "target_configuration_name": "copy"}, 400,
			func(t *testing.T, b map[string]any) {
				if b["detail"] != "Target configuration 'copy' already exists" {
					t.Fatalf("%v", b)
				}
			}},
		{"duplicate unknown source", "POST", "/api/v1/configurations/duplicate", map[string]any{"source_configuration_name": "nope", "target_configuration_name": "c2"}, 404,
			func(t *testing.T, b map[string]any) {
				if b["detail"] != `"Source configuration 'nope' not found"` {
					t.Fatalf("%v", b)
				}
			}},
		{"reload", "POST", "/api/v1/configurations/reload", nil, 200, func(t *testing.T, b map[string]any) {
			if b["status"] != "success" {
				t.Fatalf("%v", b)
			}
		}},
		{"delete", "DELETE", "/api/v1/configurations/copy", nil, 200, func(t *testing.T, b map[string]any) {
			if b["success"] != true || b["configuration_name"] != "copy" {
				t.Fatalf("%v", b)
			}
		}},
		{"delete unknown", "DELETE", "/api/v1/configurations/copy", nil, 404, nil},
		{"openai models", "GET", "/v1/models", nil, 200, func(t *testing.T, b map[string]any) {
			data := b["data"].([]any)
			want := map[string]any{"id": "demo-kb", "object": "model", "created": 1677610602.0, "owned_by": "rag-system", "permission": []any{}, "root": "demo-kb", "parent": nil}
			if b["object"] != "list" || len(data) != 3 || !reflect.DeepEqual(data[0], want) {
				t.Fatalf("%v", b)
			}
		}},
		{"openai model", "GET", "/v1/models/new", nil, 200, func(t *testing.T, b map[string]any) {
			if b["id"] != "new" || b["root"] != "new" {
				t.Fatalf("%v", b)
			}
		}},
		{"openai model unknown", "GET", "/v1/models/nope", nil, 404, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Model 'nope' not found" {
				t.Fatalf("%v", b)
			}
		}},
		{"health", "GET", "/api/v1/health", nil, 200, func(t *testing.T, b map[string]any) {
			if b["status"] != "healthy" || b["version"] != "1.0.0" || b["timestamp"] == nil || b["services"].(map[string]any)["rag_service"] != "running" {
				t.Fatalf("%v", b)
			}
		}},
		{"unknown path", "GET", "/api/v1/nothing", nil, 404, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Not Found" {
				t.Fatalf("%v", b)
			}
		}},
		{"wrong method", "PUT", "/api/v1/configurations/demo-kb", nil, 405, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Method Not Allowed" {
				t.Fatalf("%v", b)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, tc.method, tc.path, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d: %v", status, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func TestChat(t *testing.T) {
	_, ts := newTest(t, Options{})
	good := token(t, jwt.MapClaims{"sub": "u", "metadata_filter": map[string]any{"tenant": "globex"}}, secret)
	cases := []struct {
		name       string
		body       map[string]any
		header     []string
		wantStatus int
		check      func(t *testing.T, b map[string]any)
	}{
		{"answer and sources", map[string]any{"model": "demo-kb", "messages": []any{
			map[string]any{"role": "system", "content": "Be brief."},
			map[string]any{"role": "user", "content": "hello"},
			map[string]any{"role": "assistant", "content": "hi"},
			map[string]any{"role": "user", "content": "vacation days policy"},
		}, "filter": map[string]any{"tenant": "acme"}}, nil, 200, func(t *testing.T, b map[string]any) {
			msg := b["choices"].([]any)[0].(map[string]any)
			if !strings.HasPrefix(b["id"].(string), "chatcmpl-") || len(b["id"].(string)) != len("chatcmpl-")+24 || b["object"] != "chat.completion" || b["model"] != "demo-kb" ||
				msg["finish_reason"] != "stop" || msg["message"].(map[string]any)["content"] != "Based on 1 document(s): Acme employees receive 25 vacation days per year." {
				t.Fatalf("%v", b)
			}
			prompt := len("Be brief. hello hi vacation days policy") / 4
			completion := len("Based on 1 document(s): Acme employees receive 25 vacation days per year.") / 4
			if u := b["usage"].(map[string]any); u["prompt_tokens"] != float64(prompt) || u["completion_tokens"] != float64(completion) || u["total_tokens"] != float64(prompt+completion) {
				t.Fatalf("usage %v", u)
			}
			// The retrieved document, then the history (system messages left out, the last message too).
			sources := b["sources"].([]any)
			if len(sources) != 3 || sources[1].(map[string]any)["content"] != "hello" || sources[2].(map[string]any)["content"] != "hi" {
				t.Fatalf("sources %v", sources)
			}
			if _, ok := b["processing_time"].(float64); !ok {
				t.Fatalf("processing_time %v", b)
			}
		}},
		{"include_sources false", map[string]any{"model": "demo-kb", "include_sources": false, "messages": []any{map[string]any{"role": "user", "content": "Hammock"}}}, nil, 200,
			func(t *testing.T, b map[string]any) {
				if b["sources"] != nil {
					t.Fatalf("%v", b)
				}
			}},
		{"k extension", map[string]any{"model": "demo-kb", "k": 1, "messages": []any{map[string]any{"role": "user", "content": "vacation days policy"}}}, nil, 200,
			func(t *testing.T, b map[string]any) {
				if len(b["sources"].([]any)) != 1 {
					t.Fatalf("%v", b)
				}
			}},
		{"unknown model", map[string]any{"model": "nope", "messages": []any{map[string]any{"role": "user", "content": "x"}}}, nil, 404, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Model (configuration) 'nope' not found. Use GET /v1/models to see available models." {
				t.Fatalf("%v", b)
			}
		}},
		{"empty model", map[string]any{"model": "", "messages": []any{map[string]any{"role": "user", "content": "x"}}}, nil, 400, nil},
		{"401 keeps its status", map[string]any{"model": "secure", "messages": []any{map[string]any{"role": "user", "content": "x"}}}, nil, 401, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Authorization header is required" {
				t.Fatalf("%v", b)
			}
		}},
		{"token filter applies", map[string]any{"model": "secure", "messages": []any{map[string]any{"role": "user", "content": "vacation days policy"}}}, []string{"Authorization", "Bearer " + good}, 200,
			func(t *testing.T, b map[string]any) {
				if got := ids(t, b["sources"]); !reflect.DeepEqual(got, []string{"globex-001"}) {
					t.Fatalf("%v", got)
				}
			}},
		{"internal error", map[string]any{"model": "demo-kb", "messages": []any{map[string]any{"role": "user", "content": "raise-internal-error"}}}, nil, 500, func(t *testing.T, b map[string]any) {
			if b["detail"] != InternalTraceback {
				t.Fatalf("%v", b)
			}
		}},
		{"no messages", map[string]any{"model": "demo-kb", "messages": []any{}}, nil, 500, func(t *testing.T, b map[string]any) {
			if b["detail"] != "No user message found in the conversation" {
				t.Fatalf("%v", b)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := do(t, ts, "POST", "/v1/chat/completions", tc.body, tc.header...)
			if status != tc.wantStatus {
				t.Fatalf("status %d: %v", status, body)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") != "" {
				t.Fatalf("RAG2's handler drops WWW-Authenticate, got %q", hdr.Get("WWW-Authenticate"))
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func readStream(t *testing.T, ts *httptest.Server, body map[string]any, header ...string) (int, []string) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == 200 && ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	all, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range strings.Split(strings.TrimSuffix(string(all), "\n\n"), "\n\n") {
		events = append(events, strings.TrimPrefix(e, "data: "))
	}
	return resp.StatusCode, events
}

func TestChatStream(t *testing.T) {
	_, ts := newTest(t, Options{})
	status, events := readStream(t, ts, map[string]any{"model": "demo-kb", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "Hammock"}}})
	want := "Based on 1 document(s): Globex security requires badge access to every lab."
	if status != 200 || len(events) != len(strings.Fields(want))+2 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("%d %q", status, events)
	}
	// Python's json.dumps spacing, key order as RAG2 builds the dicts.
	if !strings.HasPrefix(events[0], `{"id": "chatcmpl-`) || !strings.Contains(events[0], `"object": "chat.completion.chunk", "created": `) ||
		!strings.HasSuffix(events[0], `"model": "demo-kb", "choices": [{"index": 0, "delta": {"content": "Based "}, "finish_reason": null}]}`) {
		t.Fatalf("first event %s", events[0])
	}
	var text strings.Builder
	var id string
	for i, e := range events[:len(events)-1] {
		var c struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta        map[string]any `json:"delta"`
				FinishReason *string        `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %d %q: %v", i, e, err)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			t.Fatalf("ids differ: %s %s", id, c.ID)
		}
		if i == len(events)-2 {
			if len(c.Choices[0].Delta) != 0 || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "stop" {
				t.Fatalf("final chunk %s", e)
			}
			continue
		}
		if c.Choices[0].FinishReason != nil {
			t.Fatalf("finish_reason early in %s", e)
		}
		text.WriteString(c.Choices[0].Delta["content"].(string))
	}
	if text.String() != want {
		t.Fatalf("streamed %q, want %q", text.String(), want)
	}

	errCases := []struct {
		name, content, model string
		header               []string
		wantMessage          string
	}{
		{"401 mid-stream", "x", "secure", nil, "401: Authorization header is required"},
		{"internal error mid-stream", "raise-internal-error", "demo-kb", nil, InternalTraceback},
		{"bad filter mid-stream", "x", "secure", []string{"Authorization", "Bearer " + token(t, jwt.MapClaims{"metadata_filter": map[string]any{"a": map[string]any{"$x": 1}}}, secret)}, "Unsupported filter operator: $x"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			status, events := readStream(t, ts, map[string]any{"model": tc.model, "stream": true, "messages": []any{map[string]any{"role": "user", "content": tc.content}}}, tc.header...)
			if status != 200 || len(events) != 1 {
				t.Fatalf("%d %q", status, events)
			}
			var e struct {
				Error struct{ Message, Type, Code string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(events[0]), &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Message != tc.wantMessage || e.Error.Type != "internal_error" || e.Error.Code != "internal_error" {
				t.Fatalf("%s", events[0])
			}
		})
	}
	t.Run("unknown model is a plain 404 before streaming", func(t *testing.T) {
		status, _ := readStream(t, ts, map[string]any{"model": "nope", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "x"}}})
		if status != 404 {
			t.Fatalf("status %d", status)
		}
	})
}

func TestStreamTiming(t *testing.T) {
	_, ts := newTest(t, Options{GenerationDelay: 150 * time.Millisecond, WordDelay: 20 * time.Millisecond})
	raw, _ := json.Marshal(map[string]any{"model": "demo-kb", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "Hammock"}}})
	start := time.Now()
	resp, err := ts.Client().Post(ts.URL+"/v1/chat/completions", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	total := time.Since(start)
	// 13 words: the generation delay comes before the first byte, the word delays after it.
	if first < 150*time.Millisecond || total-first < 12*20*time.Millisecond {
		t.Fatalf("first byte after %v, stream took %v", first, total)
	}
}

func TestModelServer(t *testing.T) {
	s, ts := newTest(t, Options{EmbeddingModels: map[string]int{"all-MiniLM-L6-v2": 0, "big": 16}})
	cases := []struct {
		name, method, path string
		body               any
		wantStatus         int
		check              func(t *testing.T, b map[string]any)
	}{
		{"embeddings default model", "POST", "/api/v1/models/embeddings", map[string]any{"texts": []string{"hello world", "hello world", "other"}}, 200, func(t *testing.T, b map[string]any) {
			e := b["embeddings"].([]any)
			if b["dimensions"] != 8.0 || b["model"] != "all-MiniLM-L6-v2" || len(e) != 3 || !reflect.DeepEqual(e[0], e[1]) || reflect.DeepEqual(e[0], e[2]) {
				t.Fatalf("%v", b)
			}
			var norm float64
			for _, x := range e[0].([]any) {
				norm += x.(float64) * x.(float64)
			}
			if math.Abs(norm-1) > 1e-4 {
				t.Fatalf("norm %v", norm)
			}
		}},
		{"embeddings configured dimensions", "POST", "/api/v1/models/embeddings", map[string]any{"texts": []string{"x"}, "model_name": "big"}, 200, func(t *testing.T, b map[string]any) {
			if b["dimensions"] != 16.0 || len(b["embeddings"].([]any)[0].([]any)) != 16 {
				t.Fatalf("%v", b)
			}
		}},
		{"embeddings unknown model", "POST", "/api/v1/models/embeddings", map[string]any{"texts": []string{"x"}, "model_name": "nope"}, 404, func(t *testing.T, b map[string]any) {
			if b["detail"] != "Embedding model 'nope' not available locally. Please download it first." || len(b) != 1 {
				t.Fatalf("%v", b)
			}
		}},
		{"rerank", "POST", "/api/v1/models/rerank", map[string]any{"query": "vacation days", "texts": []string{"rocket", "vacation days", "vacation"}}, 200, func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["scores"], []any{0.0, 1.0, Similarity("vacation days", "vacation")}) || b["model"] != "cross-encoder/ms-marco-MiniLM-L-6-v2" {
				t.Fatalf("%v", b)
			}
		}},
		{"rerank unknown model", "POST", "/api/v1/models/rerank", map[string]any{"query": "q", "texts": []string{}, "model_name": "nope"}, 404, nil},
		{"rerank missing query", "POST", "/api/v1/models/rerank", map[string]any{"texts": []string{}}, 422, nil},
		{"classify", "POST", "/api/v1/models/classify", map[string]any{"texts": []string{"the invoice is overdue", "a new password"}, "labels": []string{"password reset", "billing invoice"}}, 200,
			func(t *testing.T, b map[string]any) {
				r := b["text_results"].([]any)
				r0, r1 := r[0].(map[string]any), r[1].(map[string]any)
				if r0["top_label"] != "billing invoice" || r1["top_label"] != "password reset" || len(r0["results"].([]any)) != 2 ||
					r0["results"].([]any)[0].(map[string]any)["label"] != "billing invoice" || r0["top_score"] != Similarity("billing invoice", "the invoice is overdue") {
					t.Fatalf("%v", b)
				}
			}},
		{"classify without results", "POST", "/api/v1/models/classify", map[string]any{"texts": []string{"x"}, "labels": []string{"a"}, "include_results": false}, 200, func(t *testing.T, b map[string]any) {
			if r := b["text_results"].([]any)[0].(map[string]any); r["results"] != nil || r["top_label"] != "a" {
				t.Fatalf("%v", b)
			}
		}},
		{"classify no labels", "POST", "/api/v1/models/classify", map[string]any{"texts": []string{"x"}, "labels": []string{}}, 200, func(t *testing.T, b map[string]any) {
			if r := b["text_results"].([]any)[0].(map[string]any); r["top_label"] != "" || r["top_score"] != 0.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"classify classifier model", "POST", "/api/v1/models/classify", map[string]any{"texts": []string{"x"}, "labels": []string{"a"}, "model_name": "cross-encoder/nli-deberta-v3-small"}, 200, nil},
		{"health", "GET", "/api/v1/models/health", nil, 200, func(t *testing.T, b map[string]any) {
			if b["status"] != "ok" || !reflect.DeepEqual(b["loaded_models"], []any{"all-MiniLM-L6-v2", "big", "cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder/nli-deberta-v3-small"}) {
				t.Fatalf("%v", b)
			}
		}},
		{"root health", "GET", "/health", nil, 200, func(t *testing.T, b map[string]any) {
			if b["status"] != "ok" {
				t.Fatalf("%v", b)
			}
		}},
		{"list", "GET", "/api/v1/models/list", nil, 200, func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["embedding_models"], []any{"all-MiniLM-L6-v2", "big"}) || len(b["available_models"].([]any)) != 5 ||
				!reflect.DeepEqual(b["classifier_models"], []any{"cross-encoder/nli-deberta-v3-small"}) {
				t.Fatalf("%v", b)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := do(t, ts, tc.method, tc.path, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d: %v", status, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	_ = s
}

func TestSeparateHandlers(t *testing.T) {
	s := New(Options{GenerationDelay: -1})
	rag, models := httptest.NewServer(s.RAGHandler()), httptest.NewServer(s.ModelHandler())
	t.Cleanup(rag.Close)
	t.Cleanup(models.Close)
	cases := []struct {
		name       string
		ts         *httptest.Server
		method     string
		path       string
		wantStatus int
	}{
		{"rag health", rag, "GET", "/api/v1/health", 200},
		{"rag has no model server", rag, "GET", "/api/v1/models/health", 404},
		{"rag has no root health", rag, "GET", "/health", 404},
		{"model health", models, "GET", "/api/v1/models/health", 200},
		{"model root health", models, "GET", "/health", 200},
		{"model server has no rag", models, "GET", "/api/v1/health", 404},
		{"model server has no chat", models, "GET", "/v1/models", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, _ := do(t, tc.ts, tc.method, tc.path, nil); status != tc.wantStatus {
				t.Fatalf("status %d: %v", status, body)
			}
		})
	}
	// Both handlers share one record.
	if len(s.Requests()) != len(cases) {
		t.Fatalf("recorded %d requests", len(s.Requests()))
	}
}

func TestRecording(t *testing.T) {
	s, ts := newTest(t, Options{RecordLimit: 3})
	do(t, ts, "POST", "/api/v1/query?x=1", map[string]any{"query": "first", "configuration_name": "demo-kb"}, "X-Api-Key", "k1")
	do(t, ts, "GET", "/api/v1/health", nil)
	rec, ok := s.Last("/api/v1/query")
	if !ok || rec.Method != "POST" || rec.RawQuery != "x=1" || rec.Header.Get("X-Api-Key") != "k1" || !strings.Contains(string(rec.Body), `"query":"first"`) {
		t.Fatalf("%+v %v", rec, ok)
	}
	if _, ok := s.Last("/api/v1/retrieve"); ok {
		t.Fatal("Last found a request never made")
	}
	do(t, ts, "GET", "/v1/models", nil)
	do(t, ts, "GET", "/v1/models/demo-kb", nil)
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Path != "/api/v1/health" || reqs[2].Path != "/v1/models/demo-kb" {
		t.Fatalf("%+v", reqs)
	}
	if _, ok := s.Last("/api/v1/query"); ok {
		t.Fatal("the limit did not drop the oldest request")
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Fatal("Reset kept requests")
	}
	if status, _, _ := do(t, ts, "GET", "/api/v1/configurations/demo-kb", nil); status != 200 {
		t.Fatal("Reset dropped configurations")
	}
}

func TestFailAndDelay(t *testing.T) {
	s, ts := newTest(t, Options{})
	s.Fail("/api/v1/retrieve", 503, 2)
	s.Fail("/api/v1/models/rerank", 500, 1)
	body := map[string]any{"query": "Hammock", "configuration_name": "demo-kb"}
	cases := []struct {
		name, path string
		body       any
		wantStatus int
		wantKeys   []string
	}{
		{"first failure", "/api/v1/retrieve", body, 503, []string{"error", "detail", "timestamp"}},
		{"second failure", "/api/v1/retrieve", body, 503, []string{"error", "detail", "timestamp"}},
		{"then success", "/api/v1/retrieve", body, 200, []string{"documents"}},
		{"model server failure shape", "/api/v1/models/rerank", map[string]any{"query": "q", "texts": []string{}}, 500, []string{"detail"}},
		{"model server recovers", "/api/v1/models/rerank", map[string]any{"query": "q", "texts": []string{}}, 200, []string{"scores"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b, _ := do(t, ts, "POST", tc.path, tc.body)
			if status != tc.wantStatus || len(b) != len(tc.wantKeys) && tc.wantStatus != 200 {
				t.Fatalf("%d %v", status, b)
			}
			for _, k := range tc.wantKeys {
				if _, ok := b[k]; !ok {
					t.Fatalf("no %s in %v", k, b)
				}
			}
		})
	}
	if n := len(s.Requests()); n != len(cases) {
		t.Fatalf("failed requests are recorded too: %d", n)
	}

	t.Run("status 0 drops the connection", func(t *testing.T) {
		s.Fail("/api/v1/health", 0, 1)
		if _, err := http.Get(ts.URL + "/api/v1/health"); err == nil {
			t.Fatal("the first request got an answer")
		}
		if status, _, _ := do(t, ts, "GET", "/api/v1/health", nil); status != 200 {
			t.Fatalf("status %d after the drop", status)
		}
	})

	t.Run("delay", func(t *testing.T) {
		s.Delay("/api/v1/health", 100*time.Millisecond)
		start := time.Now()
		if status, _, _ := do(t, ts, "GET", "/api/v1/health", nil); status != 200 || time.Since(start) < 100*time.Millisecond {
			t.Fatalf("status %d after %v", status, time.Since(start))
		}
		s.Delay("/api/v1/health", 0)
		if d := s.delayFor("/api/v1/health"); d != 0 {
			t.Fatalf("delay not cleared: %v", d)
		}
		if status, _, _ := do(t, ts, "GET", "/api/v1/health", nil); status != 200 {
			t.Fatalf("status %d", status)
		}
	})
	t.Run("hang ends with the client", func(t *testing.T) {
		s.Delay("/api/v1/query", -1)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/api/v1/query", strings.NewReader(`{"query":"x"}`))
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("hung request answered %d", resp.StatusCode)
		}
		s.Reset()
		if status, _, _ := do(t, ts, "POST", "/api/v1/query", map[string]any{"query": "Hammock", "configuration_name": "demo-kb"}); status != 200 {
			t.Fatalf("Reset did not clear the hang: %d", status)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	s, ts := newTest(t, Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				switch (i + j) % 4 {
				case 0:
					do(t, ts, "POST", "/api/v1/upload/text", map[string]any{"configuration_name": "demo-kb", "documents": []any{map[string]any{"content": "concurrent vacation note"}}})
				case 1:
					do(t, ts, "POST", "/api/v1/query", map[string]any{"query": "vacation", "configuration_name": "demo-kb"})
				case 2:
					do(t, ts, "POST", "/v1/chat/completions", map[string]any{"model": "demo-kb", "stream": true, "messages": []any{map[string]any{"role": "user", "content": "vacation"}}})
				default:
					s.Requests()
					do(t, ts, "GET", "/api/v1/documents?configuration_name=demo-kb", nil)
				}
			}
		}()
	}
	wg.Wait()
	_, list, _ := do(t, ts, "GET", "/api/v1/documents?configuration_name=demo-kb", nil)
	if list["document_count"] != 8.0+10 {
		t.Fatalf("documents %v", list["document_count"])
	}
}

func TestPyJSON(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"separators", ordered{{"a", 1}, {"b", []any{1, "x,y: z"}}}, `{"a": 1, "b": [1, "x,y: z"]}`},
		{"ensure_ascii", map[string]any{"k": "café 😀"}, `{"k": "caf\u00e9 \ud83d\ude00"}`},
		{"escaped quote", map[string]any{"k": `a"b,c`}, `{"k": "a\"b,c"}`},
		{"empty delta", ordered{{"delta", ordered{}}}, `{"delta": {}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(pyJSON(tc.in)); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
		})
	}
}

func TestAddConfigurationErrors(t *testing.T) {
	s := New(Options{NoDemo: true})
	cases := []struct {
		name string
		c    Configuration
		want string
	}{
		{"no name", Configuration{}, "configuration name is empty"},
		{"secured without secret", Configuration{Name: "x", Config: map[string]any{"security": map[string]any{"enabled": true}}}, "jwt_secret_key is required"},
		{"unknown security type", Configuration{Name: "x", Config: map[string]any{"security": map[string]any{"enabled": true, "type": "oauth"}}}, "unsupported security type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.AddConfiguration(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
