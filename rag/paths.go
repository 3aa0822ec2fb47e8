// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// APIPrefix is where RAG2 serves its own API; its OpenAI-compatible API is at the service root instead.
const APIPrefix = "/api/v1"

// Op is the kind of RAG2 call a client path maps to.
type Op int

// The operations a rag_service module serves.
const (
	OpQuery Op = iota + 1
	OpRetrieve
	OpChat
	OpModels
	OpUpload
	OpDocuments
	OpConfigurations
	OpLLMConfigs
	OpHealth
)

var opNames = [...]string{"", "query", "retrieve", "chat", "models", "upload", "documents", "configurations", "llm_configs", "health"}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Call is where a client call goes upstream.
type Call struct {
	Op Op
	// Path is the upstream path, unescaped (set it as URL.Path), below the service URL's host.
	Path string
	// Idempotent calls change nothing at RAG2 and may be retried.
	Idempotent bool
	// Allow lists the methods the path accepts, for the Allow header of a 405.
	Allow []string
}

// Service maps a rag_service module's client paths to RAG2's.
type Service struct {
	cfg      ServiceConfig
	root     string // service_url's path without the API prefix
	apiBase  string // root + APIPrefix
	query    string
	retrieve string
}

// NewService returns the mapper of a module. basePath is the path of service_url: "" for
// http://rag-service:8080, "/api/v1" when the URL already names the API, or "/rag" behind a path proxy.
// FD v1 forwarded to {service_url}/query and so missed RAG2's /api/v1 prefix; FD2 adds it.
func NewService(cfg ServiceConfig, basePath string) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(basePath, "?#") {
		return nil, fmt.Errorf("creating rag service: service_url path %q has a query or fragment", basePath)
	}
	s := &Service{cfg: cfg}
	base := strings.TrimRight(basePath, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		base = "/" + base
	}
	s.root, s.apiBase = base, base+APIPrefix
	if root, ok := strings.CutSuffix(base, APIPrefix); ok {
		s.root, s.apiBase = root, base
	}
	var err error
	if s.query, err = s.endpoint("query_endpoint", cfg.QueryEndpoint); err != nil {
		return nil, err
	}
	if s.retrieve, err = s.endpoint("retrieve_endpoint", cfg.RetrieveEndpoint); err != nil {
		return nil, err
	}
	return s, nil
}

// endpoint resolves an *_endpoint field: a path under the API prefix, except that one already starting
// with it (FD2's own fixture writes /api/v1/query) is not prefixed twice.
func (s *Service) endpoint(field, p string) (string, error) {
	if p == "" || strings.ContainsAny(p, "?#") || hasDotSegment(p) {
		return "", fmt.Errorf("creating rag service: %s %q is not a plain path", field, p)
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.HasPrefix(p, APIPrefix+"/") {
		return s.root + p, nil
	}
	return s.apiBase + p, nil
}

// Config returns the module's config.
func (s *Service) Config() ServiceConfig { return s.cfg }

// Served names the paths a module serves, for the 404 that lists them.
const Served = "/query, /retrieve, /upload, /upload/text, /documents, /configurations, /llm-configs, /health, /v1/chat/completions, /v1/models"

var (
	post      = []string{http.MethodPost}
	get       = []string{http.MethodGet, http.MethodHead}
	getPost   = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	getDelete = []string{http.MethodGet, http.MethodHead, http.MethodDelete}
)

// Resolve maps the client's path below /{project}/{module} (rest, unescaped, without the query) and method
// to the upstream call. An unknown path is a 404 naming the served paths, a known one with the wrong method a
// 405 (the returned Call still carries Allow).
func (s *Service) Resolve(method, rest string) (Call, *apierr.Error) {
	if rest == "" || rest[0] != '/' || hasDotSegment(rest) || strings.Contains(rest, "//") || strings.HasSuffix(rest, "/") {
		return Call{}, notFound(rest)
	}
	c, ok := s.route(rest)
	if !ok {
		// The original's auto-routes forwarded the path as is, so its clients wrote the API prefix
		// themselves (/{project}/{module}/api/v1/query): such a path means the same operation.
		if tail, cut := strings.CutPrefix(rest, APIPrefix); cut && strings.HasPrefix(tail, "/") && !strings.HasPrefix(tail, "/v1/") {
			c, ok = s.route(tail)
		}
	}
	if !ok {
		return Call{}, notFound(rest)
	}
	if !slices.Contains(c.Allow, method) {
		return c, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s (allowed: %s)", method, rest, strings.Join(c.Allow, ", ")))
	}
	// Query, retrieve and chat are POSTs that only read.
	c.Idempotent = method == http.MethodGet || method == http.MethodHead ||
		c.Op == OpQuery || c.Op == OpRetrieve || c.Op == OpChat
	return c, nil
}

func (s *Service) route(rest string) (Call, bool) {
	api := s.apiBase + rest
	switch {
	case rest == "/query":
		return Call{Op: OpQuery, Path: s.query, Allow: post}, true
	case rest == "/retrieve":
		return Call{Op: OpRetrieve, Path: s.retrieve, Allow: post}, true
	case rest == "/upload" || rest == "/upload/text":
		return Call{Op: OpUpload, Path: api, Allow: post}, true
	case rest == "/documents" || strings.HasPrefix(rest, "/documents/"):
		return Call{Op: OpDocuments, Path: api, Allow: getDelete}, true
	case rest == "/configurations":
		return Call{Op: OpConfigurations, Path: api, Allow: getPost}, true
	case rest == "/configurations/duplicate" || rest == "/configurations/reload":
		return Call{Op: OpConfigurations, Path: api, Allow: post}, true
	case strings.HasPrefix(rest, "/configurations/"):
		return Call{Op: OpConfigurations, Path: api, Allow: getDelete}, true
	case rest == "/llm-configs":
		return Call{Op: OpLLMConfigs, Path: api, Allow: getPost}, true
	case rest == "/llm-configs/reload":
		return Call{Op: OpLLMConfigs, Path: api, Allow: post}, true
	case strings.HasPrefix(rest, "/llm-configs/"):
		return Call{Op: OpLLMConfigs, Path: api, Allow: getDelete}, true
	case rest == "/health":
		return Call{Op: OpHealth, Path: api, Allow: get}, true
	case rest == "/v1/chat/completions":
		return Call{Op: OpChat, Path: s.root + rest, Allow: post}, true
	case rest == "/v1/models" || strings.HasPrefix(rest, "/v1/models/") && !strings.Contains(rest[len("/v1/models/"):], "/"):
		return Call{Op: OpModels, Path: s.root + rest, Allow: get}, true
	}
	return Call{}, false
}

func notFound(rest string) *apierr.Error {
	return apierr.New(http.StatusNotFound, "not_found",
		fmt.Sprintf("no RAG route %q; this module serves %s", truncate(rest, 100), Served))
}

// hasDotSegment refuses . and .. segments, which a proxy or RAG2 might resolve to a path of another
// operation than the one checked here.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
