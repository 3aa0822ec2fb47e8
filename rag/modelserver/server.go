// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// APIPrefix is where the DSP model server mounts its API (spec §5).
const APIPrefix = "/api/v1/models"

// Op is what a client's request asks of the module.
type Op int

// The operations of a model_server module. Every one is a read: the model server keeps no state a repeated
// call could change, so each may be retried.
const (
	OpEmbeddings       Op = iota + 1 // POST /embeddings {texts, model_name}
	OpRerank                         // POST /rerank {query, texts, model_name}
	OpClassify                       // POST /classify {texts, labels, model_name, include_results}
	OpClassifyEval                   // POST /classify/eval {texts, labels, ground_truths, model_name}
	OpHealth                         // GET /health
	OpList                           // GET /list
	OpEmbeddingsOpenAI               // POST /v1/embeddings, OpenAI's shape, translated
	OpModelsOpenAI                   // GET /v1/models, answered by FD2 (Server.ModelsOpenAI)
)

var opNames = map[Op]string{
	OpEmbeddings: "embeddings", OpRerank: "rerank", OpClassify: "classify", OpClassifyEval: "classify_eval",
	OpHealth: "health", OpList: "list", OpEmbeddingsOpenAI: "openai_embeddings", OpModelsOpenAI: "openai_models",
}

// String returns a short snake_case name, bounded for metric labels.
func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Kind returns the kind of model an operation uses ("" for those that name none).
func (o Op) Kind() Kind {
	switch o {
	case OpEmbeddings, OpEmbeddingsOpenAI:
		return KindEmbedding
	case OpRerank:
		return KindReranker
	case OpClassify, OpClassifyEval:
		return KindClassifier
	}
	return ""
}

// Call is a resolved client request: the operation, the upstream path (below the service URL's host, the
// service URL's own path included; empty for OpModelsOpenAI, which makes no upstream call) and whether a
// failed attempt may be retried.
type Call struct {
	Op         Op
	Path       string
	Idempotent bool
}

// Server maps a model_server module's client requests to its model server. It is immutable after New and
// safe for concurrent use.
type Server struct {
	cfg    Config
	routes map[string]route // client path below /{project}/{module} → route
	served string           // the canonical client paths, for a 404's message
	models []byte           // the /v1/models answer, built once
}

type route struct {
	op     Op
	method string
	path   string
}

// New builds the server of a module. basePath is service_url's path ("" or "/" for a service at the root);
// the API prefix is added unless basePath already ends with it. cfg gets the platform defaults for the
// fields it leaves empty (DecodeConfig has already applied them).
func New(cfg Config, basePath string) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(basePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		return nil, configErr("service_url", "the base path %q does not start with /", basePath)
	}
	// root is the service's path outside the API: endpoints written with the prefix hang off it.
	root, api := base, base+APIPrefix
	if strings.HasSuffix(base, APIPrefix) {
		root, api = strings.TrimSuffix(base, APIPrefix), base
	}
	under := func(endpoint string) string {
		if endpoint == APIPrefix || strings.HasPrefix(endpoint, APIPrefix+"/") {
			return root + endpoint
		}
		return api + endpoint
	}
	s := &Server{cfg: cfg, routes: map[string]route{}}
	canonical := []struct {
		client string
		r      route
		alias  string // the configured endpoint, served too (below)
	}{
		{"/embeddings", route{OpEmbeddings, http.MethodPost, under(cfg.EmbeddingsEndpoint)}, cfg.EmbeddingsEndpoint},
		{"/rerank", route{OpRerank, http.MethodPost, under(cfg.RerankEndpoint)}, cfg.RerankEndpoint},
		{"/classify", route{OpClassify, http.MethodPost, under(cfg.ClassifyEndpoint)}, cfg.ClassifyEndpoint},
		// No field names these two: they are where the model server has them.
		{"/classify/eval", route{OpClassifyEval, http.MethodPost, api + "/classify/eval"}, ""},
		{"/health", route{OpHealth, http.MethodGet, under(cfg.HealthEndpoint)}, cfg.HealthEndpoint},
		{"/list", route{OpList, http.MethodGet, api + "/list"}, ""},
		{"/v1/embeddings", route{OpEmbeddingsOpenAI, http.MethodPost, under(cfg.EmbeddingsEndpoint)}, ""},
		{"/v1/models", route{OpModelsOpenAI, http.MethodGet, ""}, ""},
	}
	names := make([]string, 0, len(canonical))
	for _, c := range canonical {
		s.routes[c.client] = c.r
		names = append(names, c.client)
	}
	// The original Front Door served /{project}/models/{module}{endpoint}: a manifest that spells its
	// endpoints /api/v1/models/embeddings had its clients call that path, which keeps working. A canonical
	// path always wins over an alias.
	for _, c := range canonical {
		if _, taken := s.routes[c.alias]; c.alias != "" && !taken {
			s.routes[c.alias] = c.r
		}
	}
	s.served = strings.Join(names, ", ")
	s.models = modelList(cfg)
	return s, nil
}

// Config returns a copy of the module's config, defaults applied (the lists are copied too, so that a
// caller cannot change the Server's allow-lists under it).
func (s *Server) Config() Config {
	c := s.cfg
	c.AvailableEmbeddingModels = slices.Clone(c.AvailableEmbeddingModels)
	c.AvailableRerankerModels = slices.Clone(c.AvailableRerankerModels)
	c.AvailableClassifierModels = slices.Clone(c.AvailableClassifierModels)
	return c
}

// Resolve maps a client's method and path below /{project}/{module} to a Call: an unknown path is 404
// naming the served paths, a known one with another method 405 (Allow tells the method to advertise).
// One trailing slash is tolerated, as FastAPI redirects it.
func (s *Server) Resolve(method, rest string) (Call, *apierr.Error) {
	r, ok := s.lookup(rest)
	if !ok {
		return Call{}, apierr.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("the model server module has no path %s; it serves %s", quoteBounded(rest), s.served))
	}
	if method != r.method {
		return Call{}, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s takes %s, not %s", strings.TrimSuffix(rest, "/"), r.method, quoteBounded(method)))
	}
	return Call{Op: r.op, Path: r.path, Idempotent: true}, nil
}

// Allow returns the method a client path takes, for a 405's Allow header ("" for an unknown path).
func (s *Server) Allow(rest string) string {
	r, _ := s.lookup(rest)
	return r.method
}

func (s *Server) lookup(rest string) (route, bool) {
	if len(rest) > 1 {
		rest = strings.TrimSuffix(rest, "/")
	}
	r, ok := s.routes[rest]
	return r, ok
}

// ModelsOpenAI is the answer to GET /v1/models: the module's embedding models (its allow-list, and its
// default if the list lacks it) in OpenAI's list shape. Only embedding models are listed, since the
// OpenAI-compatible surface is /v1/embeddings: a reranker listed there would be refused by it. The list is
// empty when the module names none (any model is then allowed, and the model server's /list tells which
// it has).
func (s *Server) ModelsOpenAI() []byte { return s.models }

func modelList(cfg Config) []byte {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	def, list := cfg.models(KindEmbedding)
	seen := map[string]bool{}
	for _, id := range append([]string{def}, list...) {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		// created is unknown (the model server does not report it); 0 keeps the field an integer, as
		// the SDKs require.
		out.Data = append(out.Data, model{ID: id, Object: "model", OwnedBy: "model-server"})
	}
	b, _ := json.Marshal(out) // strings only: cannot fail
	return b
}

// quoteBounded quotes client-supplied text for an error message, cut to a length a message can carry.
func quoteBounded(s string) string {
	const max = 80
	if len(s) > max {
		s = truncateUTF8(s, max) + "…"
	}
	return fmt.Sprintf("%q", s)
}
