// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"sort"
)

// DefaultEmbeddingModels are the embedding models the model server knows by default, all of
// DefaultEmbeddingDimensions.
func DefaultEmbeddingModels() map[string]int {
	return map[string]int{"all-MiniLM-L6-v2": 0, "sentence-transformers/all-MiniLM-L6-v2": 0, "all-mpnet-base-v2": 0}
}

// DefaultRerankerModels are the cross-encoders the model server knows by default (RAG2's default spelling
// and the one its loader uses).
func DefaultRerankerModels() []string {
	return []string{"cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder/ms-marco-MiniLM-L6-v2"}
}

// DefaultClassifierModels are the models /classify accepts besides the rerankers (RAG2 classifies with
// cross-encoders too).
func DefaultClassifierModels() []string { return []string{"cross-encoder/nli-deberta-v3-small"} }

func (s *Server) routeModels(m *http.ServeMux) {
	m.HandleFunc("GET /health", s.modelHealth)
	m.HandleFunc("GET /api/v1/models/health", s.modelHealth)
	m.HandleFunc("GET /api/v1/models/list", s.modelList)
	m.HandleFunc("POST /api/v1/models/embeddings", s.embeddings)
	m.HandleFunc("POST /api/v1/models/rerank", s.rerank)
	m.HandleFunc("POST /api/v1/models/classify", s.classify)
}

func (s *Server) useModel(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !contains(s.loaded, name) {
		s.loaded = append(s.loaded, name)
	}
}

func (s *Server) modelHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	loaded := append([]string{}, s.loaded...)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "loaded_models": loaded})
}

// modelList is GET /api/v1/models/list: RAG2's available_models and loaded_models, plus the models by kind.
func (s *Server) modelList(w http.ResponseWriter, _ *http.Request) {
	var embedding []string
	for n := range s.opts.EmbeddingModels {
		embedding = append(embedding, n)
	}
	sort.Strings(embedding)
	all := append(append(append([]string{}, embedding...), s.opts.RerankerModels...), s.opts.ClassifierModels...)
	s.mu.RLock()
	loaded := append([]string{}, s.loaded...)
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"available_models": all, "loaded_models": loaded, "embedding_models": embedding,
		"reranker_models": s.opts.RerankerModels, "classifier_models": s.opts.ClassifierModels,
	})
}

func modelNotFound(w http.ResponseWriter, kind, name string) {
	writeJSON(w, http.StatusNotFound, map[string]any{"detail": fmt.Sprintf("%s model '%s' not available locally. Please download it first.", kind, name)})
}

// embeddings is POST /api/v1/models/embeddings. Each vector is a unit vector of the model's dimensions,
// the sum of one signed hashed component per word (stopwords included), so equal texts embed equally and
// texts sharing words are close.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Texts     []string `json:"texts"`
		ModelName *string  `json:"model_name"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Texts == nil {
		writeValidation(w, missing("body", "texts"))
		return
	}
	model := deref(req.ModelName, "all-MiniLM-L6-v2")
	dims, ok := s.opts.EmbeddingModels[model]
	if !ok {
		modelNotFound(w, "Embedding", model)
		return
	}
	if dims <= 0 {
		dims = DefaultEmbeddingDimensions
	}
	s.useModel(model)
	vecs := make([][]float64, len(req.Texts))
	for i, t := range req.Texts {
		vecs[i] = Embed(t, dims)
	}
	out := 0
	if len(vecs) > 0 {
		out = dims
	}
	writeJSON(w, http.StatusOK, map[string]any{"embeddings": vecs, "dimensions": out, "model": model})
}

// Embed is the double's embedding of text: a deterministic unit vector of dims components.
func Embed(text string, dims int) []float64 {
	v := make([]float64, dims)
	for _, word := range splitWords(text) {
		sum := sha256.Sum256([]byte(word))
		i := binary.BigEndian.Uint32(sum[:4]) % uint32(dims)
		if sum[4]&1 == 0 {
			v[i]++
		} else {
			v[i]--
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if norm == 0 {
		v[0] = 1
		return v
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = math.Round(v[i]/norm*1e6) / 1e6
	}
	return v
}

func (s *Server) rerankerKnown(name string) bool { return contains(s.opts.RerankerModels, name) }

// rerank is POST /api/v1/models/rerank: scores are Similarity(query, text).
func (s *Server) rerank(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     *string  `json:"query"`
		Texts     []string `json:"texts"`
		ModelName *string  `json:"model_name"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	var errs []validationError
	if req.Query == nil {
		errs = append(errs, missing("body", "query"))
	}
	if req.Texts == nil {
		errs = append(errs, missing("body", "texts"))
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	model := deref(req.ModelName, "cross-encoder/ms-marco-MiniLM-L-6-v2")
	if !s.rerankerKnown(model) {
		modelNotFound(w, "Reranker", model)
		return
	}
	s.useModel(model)
	scores := make([]float64, len(req.Texts))
	for i, t := range req.Texts {
		scores[i] = Similarity(*req.Query, t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"scores": scores, "model": model})
}

type labelScore struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// classify is POST /api/v1/models/classify: each label is scored with Similarity(label, text), sorted by
// score (stable, so ties keep the labels' order); results are left out unless include_results.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Texts          []string `json:"texts"`
		Labels         []string `json:"labels"`
		ModelName      *string  `json:"model_name"`
		IncludeResults *bool    `json:"include_results"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	var errs []validationError
	if req.Texts == nil {
		errs = append(errs, missing("body", "texts"))
	}
	if req.Labels == nil {
		errs = append(errs, missing("body", "labels"))
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	model := deref(req.ModelName, "cross-encoder/ms-marco-MiniLM-L-6-v2")
	if !s.rerankerKnown(model) && !contains(s.opts.ClassifierModels, model) {
		modelNotFound(w, "Reranker", model)
		return
	}
	s.useModel(model)
	results := make([]map[string]any, len(req.Texts))
	for i, t := range req.Texts {
		scored := make([]labelScore, len(req.Labels))
		for j, l := range req.Labels {
			scored[j] = labelScore{Label: l, Score: Similarity(l, t)}
		}
		sort.SliceStable(scored, func(a, b int) bool { return scored[a].Score > scored[b].Score })
		res := map[string]any{"top_label": "", "top_score": 0.0}
		if len(scored) > 0 {
			res["top_label"], res["top_score"] = scored[0].Label, scored[0].Score
		}
		if deref(req.IncludeResults, true) {
			res["results"] = scored
		} else {
			res["results"] = nil
		}
		results[i] = res
	}
	writeJSON(w, http.StatusOK, map[string]any{"text_results": results, "model": model})
}
