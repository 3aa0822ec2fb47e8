// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// fixtureEndpoints are the endpoints of the corpus manifest, written with the API prefix.
func fixtureEndpoints(c *Config) {
	c.EmbeddingsEndpoint = "/api/v1/models/embeddings"
	c.RerankEndpoint = "/api/v1/models/rerank"
	c.ClassifyEndpoint = "/api/v1/models/classify"
	c.HealthEndpoint = "/api/v1/models/health"
}

func newServer(t *testing.T, c Config, basePath string) *Server {
	t.Helper()
	if c.ServiceURL == "" {
		c.ServiceURL = "http://model-server:8000"
	}
	s, err := New(c, basePath)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolvePaths(t *testing.T) {
	// upstream paths of embeddings, rerank, classify, classify/eval, health, list, v1/embeddings.
	type paths [7]string
	std := func(api string) paths {
		return paths{api + "/embeddings", api + "/rerank", api + "/classify", api + "/classify/eval", api + "/health", api + "/list", api + "/embeddings"}
	}
	for _, tc := range []struct {
		name      string
		basePath  string
		endpoints func(*Config)
		want      paths
	}{
		{"root", "", nil, std("/api/v1/models")},
		{"root slash", "/", nil, std("/api/v1/models")},
		{"base path", "/ms", nil, std("/ms/api/v1/models")},
		{"base path slash", "/ms/", nil, std("/ms/api/v1/models")},
		{"base path is the prefix", "/api/v1/models", nil, std("/api/v1/models")},
		{"base path is the prefix, slash", "/api/v1/models/", nil, std("/api/v1/models")},
		{"base path ends with the prefix", "/ms/api/v1/models", nil, std("/ms/api/v1/models")},
		{"fixture endpoints", "", fixtureEndpoints, std("/api/v1/models")},
		{"fixture endpoints, base path is the prefix", "/api/v1/models", fixtureEndpoints, std("/api/v1/models")},
		{"fixture endpoints, base path", "/ms", fixtureEndpoints, std("/ms/api/v1/models")},
		{"fixture endpoints, base path ends with the prefix", "/ms/api/v1/models", fixtureEndpoints, std("/ms/api/v1/models")},
		{"custom endpoints", "/ms", func(c *Config) {
			c.EmbeddingsEndpoint, c.RerankEndpoint, c.ClassifyEndpoint, c.HealthEndpoint = "/embed", "/v2/rerank", "/cls", "/healthz"
		}, paths{"/ms/api/v1/models/embed", "/ms/api/v1/models/v2/rerank", "/ms/api/v1/models/cls", "/ms/api/v1/models/classify/eval",
			"/ms/api/v1/models/healthz", "/ms/api/v1/models/list", "/ms/api/v1/models/embed"}},
		// The prefix is a path segment: /api/v1/modelsX is not it.
		{"prefix lookalike", "/api/v1/modelsx", nil, std("/api/v1/modelsx/api/v1/models")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if tc.endpoints != nil {
				tc.endpoints(&c)
			}
			s := newServer(t, c, tc.basePath)
			for i, r := range []struct {
				method, rest string
				op           Op
			}{
				{http.MethodPost, "/embeddings", OpEmbeddings},
				{http.MethodPost, "/rerank", OpRerank},
				{http.MethodPost, "/classify", OpClassify},
				{http.MethodPost, "/classify/eval", OpClassifyEval},
				{http.MethodGet, "/health", OpHealth},
				{http.MethodGet, "/list", OpList},
				{http.MethodPost, "/v1/embeddings", OpEmbeddingsOpenAI},
			} {
				call, e := s.Resolve(r.method, r.rest)
				if e != nil {
					t.Fatalf("%s %s: %v", r.method, r.rest, e)
				}
				want := Call{Op: r.op, Path: tc.want[i], Idempotent: true}
				if call != want {
					t.Errorf("%s %s = %+v, want %+v", r.method, r.rest, call, want)
				}
				// One trailing slash is the same path.
				if again, e := s.Resolve(r.method, r.rest+"/"); e != nil || again != want {
					t.Errorf("%s %s/ = %+v, %v", r.method, r.rest, again, e)
				}
			}
			call, e := s.Resolve(http.MethodGet, "/v1/models")
			if e != nil || call != (Call{Op: OpModelsOpenAI, Idempotent: true}) {
				t.Errorf("GET /v1/models = %+v, %v; want no upstream path", call, e)
			}
		})
	}
}

// A manifest that spells its endpoints with the prefix had the original Front Door's clients call
// /{project}/models/{module}/api/v1/models/embeddings: those paths keep working beside the short ones.
func TestResolveEndpointAliases(t *testing.T) {
	var c Config
	fixtureEndpoints(&c)
	s := newServer(t, c, "")
	for rest, op := range map[string]Op{
		"/api/v1/models/embeddings": OpEmbeddings,
		"/api/v1/models/rerank":     OpRerank,
		"/api/v1/models/classify":   OpClassify,
		"/api/v1/models/health":     OpHealth,
	} {
		method := http.MethodPost
		if op == OpHealth {
			method = http.MethodGet
		}
		call, e := s.Resolve(method, rest)
		if e != nil || call.Op != op || call.Path != rest {
			t.Errorf("%s %s = %+v, %v", method, rest, call, e)
		}
	}
	// With the default endpoints there is no alias.
	d := newServer(t, Config{}, "")
	if _, e := d.Resolve(http.MethodPost, "/api/v1/models/embeddings"); e == nil || e.Status != http.StatusNotFound {
		t.Fatalf("default endpoints: the prefixed path resolved (%v)", e)
	}
	// A custom endpoint is served under its own name too, and a canonical path is never taken by one.
	c = Config{EmbeddingsEndpoint: "/embed", RerankEndpoint: "/classify"}
	s = newServer(t, c, "")
	if call, e := s.Resolve(http.MethodPost, "/embed"); e != nil || call.Op != OpEmbeddings {
		t.Errorf("/embed = %+v, %v", call, e)
	}
	if call, e := s.Resolve(http.MethodPost, "/classify"); e != nil || call.Op != OpClassify {
		t.Errorf("/classify = %+v, %v; the canonical path must win", call, e)
	}
}

func TestResolveErrors(t *testing.T) {
	s := newServer(t, Config{}, "")
	for _, tc := range []struct {
		name, method, rest string
		status             int
		code, text         string
	}{
		{"unknown", http.MethodPost, "/generate", 404, "not_found", `"/generate"`},
		{"empty", http.MethodGet, "", 404, "not_found", `""`},
		{"root", http.MethodGet, "/", 404, "not_found", "it serves /embeddings, /rerank, /classify, /classify/eval, /health, /list, /v1/embeddings, /v1/models"},
		{"double slash", http.MethodPost, "//embeddings", 404, "not_found", "no path"},
		{"two trailing slashes", http.MethodPost, "/embeddings//", 404, "not_found", "no path"},
		{"case", http.MethodPost, "/Embeddings", 404, "not_found", "no path"},
		{"legacy models list", http.MethodGet, "/models", 404, "not_found", "no path"},
		{"model id", http.MethodGet, "/v1/models/x", 404, "not_found", "no path"},
		{"get embeddings", http.MethodGet, "/embeddings", 405, "method_not_allowed", "/embeddings takes POST, not \"GET\""},
		{"post health", http.MethodPost, "/health", 405, "method_not_allowed", "takes GET"},
		{"post list", http.MethodPost, "/list", 405, "method_not_allowed", "takes GET"},
		{"put v1 embeddings", http.MethodPut, "/v1/embeddings", 405, "method_not_allowed", "takes POST"},
		{"post v1 models", http.MethodPost, "/v1/models", 405, "method_not_allowed", "takes GET"},
		{"head health", http.MethodHead, "/health", 405, "method_not_allowed", "takes GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, e := s.Resolve(tc.method, tc.rest)
			if e == nil {
				t.Fatalf("resolved to %+v", call)
			}
			if e.Status != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.text) {
				t.Fatalf("error %d %s %q, want %d %s containing %q", e.Status, e.Code, e.Message, tc.status, tc.code, tc.text)
			}
		})
	}
	long := "/" + strings.Repeat("a", 5000)
	if _, e := s.Resolve(http.MethodGet, long); e == nil || len(e.Message) > 400 {
		t.Fatalf("a long path's message is not bounded: %v", e)
	}
	for rest, want := range map[string]string{"/embeddings": "POST", "/health/": "GET", "/v1/models": "GET", "/nope": ""} {
		if got := s.Allow(rest); got != want {
			t.Errorf("Allow(%s) = %q, want %q", rest, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		basePath string
		field    string
	}{
		{"relative base path", Config{}, "ms", "service_url"},
		{"default outside list", Config{DefaultRerankerModel: "a", AvailableRerankerModels: []string{"b"}}, "", "default_reranker_model"},
		{"bad endpoint", Config{ClassifyEndpoint: "/a/./b"}, "", "classify_endpoint"},
		{"negative batch", Config{BatchSize: -1}, "", "batch_size"},
		{"negative timeout", Config{RequestTimeout: -1}, "", "request_timeout"},
		{"retries", Config{MaxRetries: 99}, "", "max_retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.basePath)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	// A Config built in Go gets the platform defaults.
	s := newServer(t, Config{}, "")
	c := s.Config()
	if c.EmbeddingsEndpoint != DefaultEmbeddingsEndpoint || c.BatchSize != DefaultBatchSize || c.RequestTimeout != DefaultRequestTimeout {
		t.Fatalf("defaults not applied: %+v", c)
	}
	// The Server's allow-list is its own: a caller's copy does not reach it.
	s = newServer(t, Config{AvailableEmbeddingModels: []string{"a"}}, "")
	s.Config().AvailableEmbeddingModels[0] = "evil"
	if _, e := s.Rewrite(OpEmbeddings, []byte(`{"texts":["x"],"model_name":"evil"}`)); e == nil || e.Code != "model_not_allowed" {
		t.Fatalf("the allow-list changed through Config(): %v", e)
	}
}

func TestModelsOpenAI(t *testing.T) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created *int64 `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	var list struct {
		Object string   `json:"object"`
		Data   *[]model `json:"data"`
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"allow-list with default", Config{DefaultEmbeddingModel: "large", AvailableEmbeddingModels: []string{"small", "large"},
			AvailableRerankerModels: []string{"rr"}}, []string{"large", "small"}},
		{"default only", Config{DefaultEmbeddingModel: "e", DefaultRerankerModel: "r"}, []string{"e"}},
		{"list only", Config{AvailableEmbeddingModels: []string{"a", "b"}}, []string{"a", "b"}},
		{"nothing", Config{DefaultClassifierModel: "c"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newServer(t, tc.cfg, "").ModelsOpenAI()
			list.Data = nil
			if err := json.Unmarshal(b, &list); err != nil {
				t.Fatal(err)
			}
			if list.Object != "list" || list.Data == nil {
				t.Fatalf("not an OpenAI list: %s", b)
			}
			ids := []string{}
			for _, m := range *list.Data {
				if m.Object != "model" || m.Created == nil || m.OwnedBy == "" {
					t.Fatalf("not an OpenAI model: %s", b)
				}
				ids = append(ids, m.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestOpNamesAndKinds(t *testing.T) {
	for op, want := range map[Op]struct {
		name string
		kind Kind
	}{
		OpEmbeddings: {"embeddings", KindEmbedding}, OpRerank: {"rerank", KindReranker}, OpClassify: {"classify", KindClassifier},
		OpClassifyEval: {"classify_eval", KindClassifier}, OpHealth: {"health", ""}, OpList: {"list", ""},
		OpEmbeddingsOpenAI: {"openai_embeddings", KindEmbedding}, OpModelsOpenAI: {"openai_models", ""}, Op(0): {"op(0)", ""},
	} {
		if op.String() != want.name || op.Kind() != want.kind {
			t.Errorf("op %d: %q %q, want %q %q", int(op), op.String(), op.Kind(), want.name, want.kind)
		}
	}
}
