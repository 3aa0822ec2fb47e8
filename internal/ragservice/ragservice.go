// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package ragservice is a test double of the DSP RAG service (dsp_ai_rag2) and of its model server, for
// FD2's RAG module tests and the README demo. It has RAG2's request and response shapes and reproduces its
// quirks, so that FD2 is tested against what the real service does rather than against what it should do.
//
// Everything is deterministic and in memory: "retrieval" is the cosine similarity of lowercase word-count
// vectors (stopwords dropped) between the query and each chunk, and "generation" builds the answer from the
// retrieved chunks ("Based on 2 document(s): <first sentence of the top chunk>"), so a test can tell which
// documents an answer came from.
//
// # RAG2 API (under /api/v1)
//
//	GET  /health                      {"status":"healthy","version":"1.0.0","timestamp","services":{…}}
//	POST /query                       answer + sources; every error, 401 included, is a 500 (see Quirks)
//	POST /retrieve                    documents; configuration_names + fusion_method rrf|simple, use_reranking
//	POST /upload                      multipart file (≤10 MB, pdf|txt|docx|pptx); .txt is chunked and indexed
//	POST /upload/text                 {"documents":[{content, filename?, metadata}], configuration_name}
//	GET|DELETE /documents?configuration_name=…[&confirm=true]
//	GET|DELETE /documents/{id}/chunks?configuration_name=…
//	POST|GET /configurations[?names_only=true], GET|DELETE /configurations/{name}
//	POST /configurations/duplicate, POST /configurations/reload
//
// The OpenAI-compatible API is at the root: POST /v1/chat/completions (model = configuration name), GET
// /v1/models and GET /v1/models/{id}. The model server is under /api/v1/models (embeddings, rerank, classify,
// health, list) and also answers GET /health; its paths do not collide with the RAG API's, so New serves both
// and RAGHandler / ModelHandler serve one each (sharing state and the request record) for separate ports.
//
// # Quirks reproduced
//
//   - RAG2 errors are {"error": <detail>, "detail": <detail>, "timestamp": <naive ISO time>}; request
//     validation errors are FastAPI's 422 {"detail":[{type, loc, msg, input}]}; the model server answers
//     FastAPI's {"detail": "..."}.
//   - POST /query re-wraps every error as 500 "Internal server error: <status>: <detail>" (an unknown
//     configuration as `Internal server error: "Configuration 'x' not found"`, Python's str of a KeyError).
//   - A token's metadata_filter claim is AND-merged into the request filter as {"$and":[request, jwt]}.
//   - Streaming is simulated: the whole answer is generated first (Options.GenerationDelay), then sent one
//     word per chunk with Python's json.dumps spacing, then a delta:{} chunk with finish_reason "stop" and
//     data: [DONE]. No role chunk. An error after the stream started, 401 included, is a 200 stream holding
//     data: {"error":{"message","type":"internal_error","code":"internal_error"}}.
//   - A non-streamed chat 401 keeps its status but loses WWW-Authenticate (RAG2's error handler drops it).
//   - A query or last user message containing "raise-internal-error" makes the service fail with a Python
//     traceback naming internal file paths in the detail, so a gateway can prove it never forwards one.
//   - A similarity threshold or k of 0 falls back to the configuration's (Python's `x or default`).
//   - Chat history (earlier non-system messages) and context_items come back in sources with score 1.0.
//
// Where this double deliberately differs from RAG2 at c6f7d40 (to keep tests meaningful), the difference is
// documented on the endpoint: an unknown filter operator is an error (RAG2 silently matches nothing), an
// unknown configuration is 404 on every endpoint but /query (RAG2 500-wraps several), and /query without a
// similarity_threshold uses the configuration's (RAG2's pydantic default is 0.7).
//
// # Test hooks
//
// The server records the last Options.RecordLimit requests (Requests, Last, Reset), can fail the next n
// requests to a path (Fail) and delay or hang a path (Delay). This package never imports Caddy.
package ragservice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default option values.
const (
	// DefaultGenerationDelay is the simulated LLM latency before an answer exists.
	DefaultGenerationDelay = 30 * time.Millisecond
	// DefaultRecordLimit is how many requests the server remembers.
	DefaultRecordLimit = 200
	// DefaultEmbeddingDimensions is the size of an embedding vector of a model without its own size.
	DefaultEmbeddingDimensions = 8
	// MaxFileSize is RAG2's MAX_FILE_SIZE for /upload (10 MB).
	MaxFileSize = 10 << 20
)

// Options configure the double. The zero value serves the demo corpus with a short generation delay.
type Options struct {
	// GenerationDelay is the pause before an answer of /query or /v1/chat/completions exists (RAG2 waits for
	// its LLM before streaming anything). Zero means DefaultGenerationDelay; a negative value means none.
	GenerationDelay time.Duration
	// WordDelay is the pause after each streamed word chunk. Default 0.
	WordDelay time.Duration
	// Configurations are added after the demo configuration (same name replaces it).
	Configurations []Configuration
	// NoDemo leaves the demo configuration out, so only Configurations are served.
	NoDemo bool
	// EmbeddingModels maps the embedding models the model server knows to their dimensions (0 means
	// DefaultEmbeddingDimensions). Nil means DefaultEmbeddingModels.
	EmbeddingModels map[string]int
	// RerankerModels are the cross-encoders /rerank and /classify accept. Nil means DefaultRerankerModels.
	RerankerModels []string
	// ClassifierModels are further models /classify accepts. Nil means DefaultClassifierModels.
	ClassifierModels []string
	// RecordLimit is how many requests Requests keeps. Zero means DefaultRecordLimit.
	RecordLimit int
	// Now is the clock for timestamps and token checks. Nil means time.Now.
	Now func() time.Time
}

// Recorded is one request as the double received it.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	Time     time.Time
}

// Server is the double: an http.Handler serving the RAG2 API, its OpenAI-compatible API and the model
// server. Safe for concurrent use.
type Server struct {
	opts Options

	mu      sync.RWMutex
	configs map[string]*configuration
	order   []string // configuration names in creation order, as RAG2's dict keeps them
	loaded  []string // model server models used so far, in first-use order

	hookMu   sync.Mutex
	records  []Recorded
	failures map[string]*failure
	delays   map[string]time.Duration

	rag, models, all http.Handler
}

type failure struct {
	status, left int
}

// New returns a double serving both the RAG2 API and the model server API.
func New(opts Options) *Server {
	if opts.GenerationDelay == 0 {
		opts.GenerationDelay = DefaultGenerationDelay
	}
	if opts.RecordLimit <= 0 {
		opts.RecordLimit = DefaultRecordLimit
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EmbeddingModels == nil {
		opts.EmbeddingModels = DefaultEmbeddingModels()
	}
	if opts.RerankerModels == nil {
		opts.RerankerModels = DefaultRerankerModels()
	}
	if opts.ClassifierModels == nil {
		opts.ClassifierModels = DefaultClassifierModels()
	}
	s := &Server{opts: opts, configs: map[string]*configuration{}, failures: map[string]*failure{}, delays: map[string]time.Duration{}}
	var cfgs []Configuration
	if !opts.NoDemo {
		cfgs = append(cfgs, DefaultConfigurations()...)
	}
	cfgs = append(cfgs, opts.Configurations...)
	for _, c := range cfgs {
		if err := s.AddConfiguration(c); err != nil {
			// Preloaded configurations are written by the test author; failing loudly beats a half-built double.
			panic(fmt.Sprintf("ragservice: adding configuration %q: %v", c.Name, err))
		}
	}
	ragMux, modelMux, allMux := http.NewServeMux(), http.NewServeMux(), http.NewServeMux()
	s.routeRAG(ragMux)
	s.routeRAG(allMux)
	s.routeModels(modelMux)
	s.routeModels(allMux)
	s.rag, s.models, s.all = s.wrap(ragMux, false), s.wrap(modelMux, true), s.wrap(allMux, false)
	return s
}

// ServeHTTP serves the RAG2 API, the OpenAI-compatible API and the model server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.all.ServeHTTP(w, r) }

// RAGHandler serves only the RAG2 API and its OpenAI-compatible API (RAG2's port 9000).
func (s *Server) RAGHandler() http.Handler { return s.rag }

// ModelHandler serves only the model server (RAG2's port 9001).
func (s *Server) ModelHandler() http.Handler { return s.models }

func (s *Server) routeRAG(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/health", s.health)
	m.HandleFunc("POST /api/v1/query", s.query)
	m.HandleFunc("POST /api/v1/retrieve", s.retrieve)
	m.HandleFunc("POST /api/v1/upload", s.upload)
	m.HandleFunc("POST /api/v1/upload/text", s.uploadText)
	m.HandleFunc("GET /api/v1/documents", s.listDocuments)
	m.HandleFunc("DELETE /api/v1/documents", s.deleteDocuments)
	m.HandleFunc("GET /api/v1/documents/{id}/chunks", s.documentChunks)
	m.HandleFunc("DELETE /api/v1/documents/{id}/chunks", s.deleteDocumentChunks)
	m.HandleFunc("POST /api/v1/configurations", s.createConfiguration)
	m.HandleFunc("GET /api/v1/configurations", s.listConfigurations)
	m.HandleFunc("POST /api/v1/configurations/duplicate", s.duplicateConfiguration)
	m.HandleFunc("POST /api/v1/configurations/reload", s.reloadConfigurations)
	m.HandleFunc("GET /api/v1/configurations/{name}", s.getConfiguration)
	m.HandleFunc("DELETE /api/v1/configurations/{name}", s.deleteConfiguration)
	m.HandleFunc("POST /v1/chat/completions", s.chat)
	m.HandleFunc("GET /v1/models", s.listModels)
	m.HandleFunc("GET /v1/models/{id}", s.getModel)
}

// wrap records every request and applies the Fail and Delay hooks before routing. Paths no route takes get
// FastAPI's {"detail":"Not Found"}.
func (s *Server) wrap(mux *http.ServeMux, modelServer bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFileSize+1<<20))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"detail": "Request body too large"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.record(r, body)
		if d := s.delayFor(r.URL.Path); d != 0 {
			if !sleep(r.Context(), d) {
				return
			}
		}
		if status, ok := s.takeFailure(r.URL.Path); ok {
			if status == 0 {
				panic(http.ErrAbortHandler) // the connection drops without an answer
			}
			msg := fmt.Sprintf("Injected failure (%d) for %s", status, r.URL.Path)
			if modelServer || strings.HasPrefix(r.URL.Path, "/api/v1/models/") || r.URL.Path == "/health" {
				writeJSON(w, status, map[string]any{"detail": msg})
			} else {
				s.writeError(w, status, msg)
			}
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			if allowed := allowedMethods(mux, r); allowed != nil {
				w.Header().Set("Allow", strings.Join(allowed, ", "))
				writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
				return
			}
			writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods a route takes for r's path, so a wrong method gets FastAPI's 405 rather
// than a 404.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Time: s.opts.Now()}
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.records = append(s.records, rec)
	if over := len(s.records) - s.opts.RecordLimit; over > 0 {
		s.records = append([]Recorded(nil), s.records[over:]...)
	}
}

// Requests returns the recorded requests, oldest first (at most Options.RecordLimit).
func (s *Server) Requests() []Recorded {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	out := make([]Recorded, len(s.records))
	copy(out, s.records)
	return out
}

// Last returns the most recent request to path (exact URL path, without the query).
func (s *Server) Last(path string) (Recorded, bool) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	for i := len(s.records) - 1; i >= 0; i-- {
		if s.records[i].Path == path {
			return s.records[i], true
		}
	}
	return Recorded{}, false
}

// Reset forgets the recorded requests and clears every Fail and Delay hook. Configurations and documents
// are kept.
func (s *Server) Reset() {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.records = nil
	s.failures = map[string]*failure{}
	s.delays = map[string]time.Duration{}
}

// Fail makes the next times requests to path (exact URL path) answer status with the endpoint's error
// shape, before any other processing (the request is still recorded); status 0 drops the connection
// without an answer instead. times <= 0 clears the hook.
func (s *Server) Fail(path string, status, times int) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if times <= 0 {
		delete(s.failures, path)
		return
	}
	s.failures[path] = &failure{status: status, left: times}
}

func (s *Server) takeFailure(path string) (int, bool) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	f, ok := s.failures[path]
	if !ok {
		return 0, false
	}
	f.left--
	if f.left <= 0 {
		delete(s.failures, path)
	}
	return f.status, true
}

// Delay makes every request to path wait d before it is handled, until cleared with d == 0. A negative d
// hangs the request until the client goes away, for timeout tests. Waits end early when the client leaves.
func (s *Server) Delay(path string, d time.Duration) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	if d == 0 {
		delete(s.delays, path)
		return
	}
	s.delays[path] = d
}

func (s *Server) delayFor(path string) time.Duration {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	return s.delays[path]
}

// sleep waits d (forever when negative) and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d < 0 {
		<-ctx.Done()
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timestamp renders Python's naive datetime.now().isoformat().
func (s *Server) timestamp() string {
	return s.opts.Now().UTC().Format("2006-01-02T15:04:05.000000")
}

// writeError answers RAG2's HTTPException shape.
func (s *Server) writeError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]any{"error": detail, "detail": detail, "timestamp": s.timestamp()})
}

// httpError is a FastAPI HTTPException: Error renders it as Starlette's str() does, "401: detail".
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.detail) }

func notFoundConfig(name string) *httpError {
	return &httpError{status: http.StatusNotFound, detail: fmt.Sprintf("Configuration '%s' not found", name)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"detail":"encoding response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// validationError is one entry of FastAPI's 422 body.
type validationError struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

func writeValidation(w http.ResponseWriter, errs ...validationError) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
}

// decodeBody decodes a JSON request body into dst, answering FastAPI's 422 and reporting false on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeValidation(w, validationError{Type: "json_invalid", Loc: []any{"body"}, Msg: "JSON decode error", Input: map[string]any{}})
		return false
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok {
			writeValidation(w, validationError{Type: te.Value + "_type", Loc: []any{"body", te.Field}, Msg: "Input should be a valid " + te.Type.String(), Input: nil})
			return false
		}
		writeValidation(w, validationError{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error", Input: map[string]any{}})
		return false
	}
	return true
}

func asTypeError(err error, dst **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError) //nolint:errorlint // json.Unmarshal returns it unwrapped
	if ok {
		*dst = te
	}
	return ok
}

func missing(loc ...any) validationError {
	return validationError{Type: "missing", Loc: loc, Msg: "Field required", Input: nil}
}
