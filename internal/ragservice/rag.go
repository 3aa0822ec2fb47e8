// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// InternalErrorTrigger in a query (or the last user message of a chat) makes the double fail as RAG2 does on
// an unexpected exception, with a Python traceback in the detail.
const InternalErrorTrigger = "raise-internal-error"

// InternalTraceback is the traceback the double puts in the detail of a triggered internal error. Its file
// paths are what a gateway must never forward.
const InternalTraceback = "Traceback (most recent call last):\n" +
	"  File \"/app/src/services/rag_service.py\", line 212, in query\n" +
	"    results = vector_store.similarity_search(\n" +
	"  File \"/app/src/services/vector_store.py\", line 148, in similarity_search\n" +
	"    store = self.stores[config['vector_store']]\n" +
	"KeyError: 'vector_store'"

// NoAnswer is the answer when no document was retrieved.
const NoAnswer = "I could not find relevant information."

// keyError is Python's KeyError: str() of one is the repr of its message, quotes included.
type keyError string

func (e keyError) Error() string {
	s := string(e)
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// detailError is an error whose text is RAG2's own wording, sent to the client as it is.
type detailError string

func (e detailError) Error() string { return string(e) }

// internalError is the triggered internal failure; its Error is the traceback.
type internalError struct{}

func (internalError) Error() string { return InternalTraceback }

// get returns a configuration's config and a snapshot of its chunks.
func (s *Server) get(name string) (map[string]any, []chunk, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.configs[name]
	if !ok {
		return nil, nil, false
	}
	return c.config, c.chunks, true
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "healthy", "version": "1.0.0", "timestamp": s.timestamp(),
		"services": map[string]string{"rag_service": "running", "vector_store": "faiss", "embedding": "sentence-transformers", "generation": "groq"},
	})
}

// ragRequest holds what /query and the chat API share.
type ragRequest struct {
	configuration string
	query         string
	k             int
	threshold     float64
	filter        map[string]any
	authorization string
	contextItems  []map[string]any
	filterAfterRR bool
	noMetadata    bool
}

// source is one entry of /query's sources, in RAG2's key order.
type source struct {
	Content         string         `json:"content"`
	Metadata        map[string]any `json:"metadata"`
	SimilarityScore float64        `json:"similarity_score"`
	SourceQuery     *string        `json:"source_query"`
	RerankScore     *float64       `json:"rerank_score,omitempty"`
}

// answer runs retrieval and the deterministic generation; errors are *httpError (401, 404), keyError
// (unknown configuration), internalError or a filter error.
func (s *Server) answer(ctx context.Context, req ragRequest) (string, []any, error) {
	cfg, chunks, ok := s.get(req.configuration)
	if !ok {
		return "", nil, keyError(fmt.Sprintf("Configuration '%s' not found", req.configuration))
	}
	merged, err := s.authorize(cfg, req.authorization, req.filter)
	if err != nil {
		return "", nil, err
	}
	f, err := compileFilter(merged)
	if err != nil {
		return "", nil, err
	}
	if strings.Contains(req.query, InternalErrorTrigger) {
		return "", nil, internalError{}
	}
	hits := s.searchChunks(cfg, chunks, req.query, req.k, req.threshold, f, req.filterAfterRR, true)
	if !sleep(ctx, max(s.opts.GenerationDelay, 0)) {
		return "", nil, ctx.Err()
	}
	sources := make([]any, 0, len(hits)+len(req.contextItems))
	for _, h := range hits {
		sources = append(sources, h.source(req.noMetadata))
	}
	for _, item := range req.contextItems {
		if _, ok := item["similarity_score"]; !ok {
			item["similarity_score"] = 1.0
		}
		sources = append(sources, item)
	}
	return generate(hits), sources, nil
}

// searchChunks applies the configuration's defaults (Python's `x or default`) and its reranking.
func (s *Server) searchChunks(cfg map[string]any, chunks []chunk, query string, k int, threshold float64, f *filter, filterAfterRR, configReranking bool) []rankedHit {
	if k == 0 {
		k = int(number(cfg, "", "retrieval_k", 5))
	}
	if threshold == 0 {
		threshold = number(cfg, "", "similarity_threshold", 0)
	}
	conf := &configuration{config: cfg, chunks: chunks}
	var out []rankedHit
	for _, h := range conf.search(query, k, threshold, f) {
		out = append(out, rankedHit{hit: h})
	}
	if rr, _ := cfg["reranking"].(map[string]any); configReranking && rr != nil && rr["enabled"] == true {
		minScore := number(cfg, "reranking", "score_threshold", 0)
		kept := out[:0]
		for _, h := range out {
			score := h.score
			h.rerank = &score
			if filterAfterRR && score < minScore {
				continue
			}
			kept = append(kept, h)
		}
		out = kept
	}
	return out
}

type rankedHit struct {
	hit
	rerank *float64
}

func (h rankedHit) source(noMetadata bool) source {
	meta := h.c.metadata
	if noMetadata {
		meta = map[string]any{}
	}
	return source{Content: h.c.content, Metadata: meta, SimilarityScore: h.score, RerankScore: h.rerank}
}

// generate is the deterministic "LLM": it names how many documents it used and quotes the first sentence of
// the best one.
func generate(hits []rankedHit) string {
	if len(hits) == 0 {
		return NoAnswer
	}
	return fmt.Sprintf("Based on %d document(s): %s", len(hits), firstSentence(hits[0].c.content))
}

func firstSentence(text string) string {
	text = strings.TrimSpace(text)
	for i, r := range text {
		if r == '.' || r == '!' || r == '?' {
			if i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\n' {
				return text[:i+1]
			}
		}
	}
	return text
}

type queryRequest struct {
	Query                *string          `json:"query"`
	ConfigurationName    *string          `json:"configuration_name"`
	K                    *int             `json:"k"`
	SimilarityThreshold  *float64         `json:"similarity_threshold"`
	IncludeMetadata      *bool            `json:"include_metadata"`
	ContextItems         []map[string]any `json:"context_items"`
	Config               map[string]any   `json:"config"`
	FilterAfterReranking *bool            `json:"filter_after_reranking"`
	Filter               map[string]any   `json:"filter"`
}

// validateQuery checks QueryRequest's and RetrieveRequest's pydantic constraints.
func validateQuery(q *string, k *int, maxK int, threshold *float64) []validationError {
	var errs []validationError
	switch {
	case q == nil:
		errs = append(errs, missing("body", "query"))
	case utf8.RuneCountInString(*q) < 1:
		errs = append(errs, validationError{Type: "string_too_short", Loc: []any{"body", "query"}, Msg: "String should have at least 1 character", Input: *q})
	case utf8.RuneCountInString(*q) > 1000:
		errs = append(errs, validationError{Type: "string_too_long", Loc: []any{"body", "query"}, Msg: "String should have at most 1000 characters", Input: *q})
	}
	if k != nil && *k < 1 {
		errs = append(errs, validationError{Type: "greater_than_equal", Loc: []any{"body", "k"}, Msg: "Input should be greater than or equal to 1", Input: *k})
	}
	if k != nil && *k > maxK {
		errs = append(errs, validationError{Type: "less_than_equal", Loc: []any{"body", "k"}, Msg: fmt.Sprintf("Input should be less than or equal to %d", maxK), Input: *k})
	}
	if threshold != nil && *threshold < 0 {
		errs = append(errs, validationError{Type: "greater_than_equal", Loc: []any{"body", "similarity_threshold"}, Msg: "Input should be greater than or equal to 0", Input: *threshold})
	}
	return errs
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// query is POST /api/v1/query. Every failure, a 401 included, is re-wrapped as 500 "Internal server error:
// <str(exception)>", as RAG2's blanket except does. Deviation: without a similarity_threshold the
// configuration's applies (RAG2's pydantic default 0.7 would hide most of the double's scores).
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	var req queryRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if errs := validateQuery(req.Query, req.K, 20, req.SimilarityThreshold); errs != nil {
		writeValidation(w, errs...)
		return
	}
	name := deref(req.ConfigurationName, "default")
	start := time.Now()
	answer, sources, err := s.answer(r.Context(), ragRequest{
		configuration: name, query: *req.Query, k: deref(req.K, 5), threshold: deref(req.SimilarityThreshold, 0),
		filter: req.Filter, authorization: r.Header.Get("Authorization"), contextItems: req.ContextItems,
		filterAfterRR: deref(req.FilterAfterReranking, true), noMetadata: !deref(req.IncludeMetadata, true),
	})
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		s.writeError(w, http.StatusInternalServerError, "Internal server error: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"query": *req.Query, "answer": answer, "sources": sources, "processing_time": time.Since(start).Seconds(),
		"configuration_name": name, "query_expansion_metadata": nil,
	})
}

type retrieveRequest struct {
	Query                *string        `json:"query"`
	ConfigurationName    *string        `json:"configuration_name"`
	ConfigurationNames   []string       `json:"configuration_names"`
	K                    *int           `json:"k"`
	SimilarityThreshold  *float64       `json:"similarity_threshold"`
	IncludeMetadata      *bool          `json:"include_metadata"`
	UseReranking         bool           `json:"use_reranking"`
	FusionMethod         *string        `json:"fusion_method"`
	RRFKConstant         *int           `json:"rrf_k_constant"`
	FilterAfterReranking *bool          `json:"filter_after_reranking"`
	Filter               map[string]any `json:"filter"`
}

// retrievedDoc is one entry of /retrieve's documents, in RAG2's key order.
type retrievedDoc struct {
	source
	SourceConfiguration string   `json:"source_configuration"`
	RRFScore            *float64 `json:"rrf_score,omitempty"`
}

// retrieve is POST /api/v1/retrieve. Security is checked against the first configuration only, as in RAG2.
// Deviation: an unknown configuration is 404 even when it is the first (RAG2 500-wraps that one).
func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	var req retrieveRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if errs := validateQuery(req.Query, req.K, 50, req.SimilarityThreshold); errs != nil {
		writeValidation(w, errs...)
		return
	}
	start := time.Now()
	name := deref(req.ConfigurationName, "default")
	names := req.ConfigurationNames
	multi := len(names) > 0
	if !multi {
		names = []string{name}
	}
	cfgs := make([]map[string]any, len(names))
	chunkSets := make([][]chunk, len(names))
	for i, n := range names {
		cfg, chunks, ok := s.get(n)
		if !ok {
			s.writeError(w, http.StatusNotFound, notFoundConfig(n).detail)
			return
		}
		cfgs[i], chunkSets[i] = cfg, chunks
	}
	merged, err := s.authorize(cfgs[0], r.Header.Get("Authorization"), req.Filter)
	var he *httpError
	if errors.As(err, &he) {
		s.writeError(w, he.status, he.detail)
		return
	}
	var f *filter
	if err == nil {
		f, err = compileFilter(merged)
	}
	if err == nil && strings.Contains(*req.Query, InternalErrorTrigger) {
		err = internalError{}
	}
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal server error: "+err.Error())
		return
	}
	k := deref(req.K, 5)
	var lists [][]retrievedDoc
	var used []string
	for i, n := range names {
		hits := s.searchChunks(cfgs[i], chunkSets[i], *req.Query, k, deref(req.SimilarityThreshold, 0), f, deref(req.FilterAfterReranking, true), req.UseReranking)
		if len(hits) == 0 {
			continue
		}
		docs := make([]retrievedDoc, len(hits))
		for j, h := range hits {
			docs[j] = retrievedDoc{source: h.source(!deref(req.IncludeMetadata, true)), SourceConfiguration: n}
		}
		lists = append(lists, docs)
		used = append(used, n)
	}
	var docs []retrievedDoc
	var fusion any
	switch {
	case multi && len(lists) > 1:
		method := deref(req.FusionMethod, "rrf")
		docs, method = fuse(lists, method, deref(req.RRFKConstant, 60))
		fusion = method
	case len(lists) == 1:
		docs = lists[0]
	}
	if len(docs) > k {
		docs = docs[:k]
	}
	if docs == nil {
		docs = []retrievedDoc{}
	}
	resp := map[string]any{"query": *req.Query, "documents": docs, "processing_time": time.Since(start).Seconds(),
		"configuration_name": nil, "configuration_names": nil, "total_found": len(docs), "fusion_method": fusion, "query_expansion_metadata": nil}
	if multi {
		if used == nil {
			used = []string{}
		}
		resp["configuration_names"] = used
	} else {
		resp["configuration_name"] = name
	}
	writeJSON(w, http.StatusOK, resp)
}

// fuse merges per-configuration lists keyed by content: rrf sums 1/(c+rank+1); simple averages the
// similarity scores; anything else concatenates and sorts by score ("concatenate").
func fuse(lists [][]retrievedDoc, method string, c int) ([]retrievedDoc, string) {
	type acc struct {
		doc   retrievedDoc
		sum   float64
		count int
		first int
	}
	byContent := map[string]*acc{}
	var order []*acc
	if method != "rrf" && method != "simple" {
		var all []retrievedDoc
		for _, l := range lists {
			all = append(all, l...)
		}
		sortStable(all, func(a, b retrievedDoc) bool { return a.SimilarityScore > b.SimilarityScore })
		return all, "concatenate"
	}
	for _, l := range lists {
		for rank, d := range l {
			a, ok := byContent[d.Content]
			if !ok {
				a = &acc{doc: d, first: len(order)}
				byContent[d.Content] = a
				order = append(order, a)
			}
			a.count++
			if method == "rrf" {
				a.sum += 1 / float64(c+rank+1)
			} else {
				a.sum += d.SimilarityScore
			}
		}
	}
	out := make([]retrievedDoc, len(order))
	for i, a := range order {
		d := a.doc
		if method == "rrf" {
			v := roundScore(a.sum)
			d.RRFScore = &v
		} else {
			d.SimilarityScore = roundScore(a.sum / float64(a.count))
		}
		out[i] = d
	}
	key := func(d retrievedDoc) float64 {
		if d.RRFScore != nil {
			return *d.RRFScore
		}
		return d.SimilarityScore
	}
	sortStable(out, func(a, b retrievedDoc) bool { return key(a) > key(b) })
	return out, method
}

func roundScore(f float64) float64 { return float64(int64(f*1e6+0.5)) / 1e6 }

func sortStable[T any](s []T, less func(a, b T) bool) {
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
}

// allowedFileTypes is RAG2's settings.ALLOWED_FILE_TYPES.
var allowedFileTypes = []string{"pdf", "txt", "docx", "pptx"}

// parseBool reads a FastAPI bool form or query value.
func parseBool(v string, def bool) (bool, bool) {
	switch strings.ToLower(v) {
	case "":
		return def, true
	case "true", "1", "yes", "on", "t", "y":
		return true, true
	case "false", "0", "no", "off", "f", "n":
		return false, true
	}
	return false, false
}

func boolError(loc ...any) validationError {
	return validationError{Type: "bool_parsing", Loc: loc, Msg: "Input should be a valid boolean, unable to interpret input"}
}

// upload is POST /api/v1/upload. Only .txt files are read (chunked and indexed when process_immediately);
// pdf, docx and pptx are accepted and answered "uploaded" without being indexed.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		writeValidation(w, missing("body", "file"))
		return
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		writeValidation(w, missing("body", "file"))
		return
	}
	defer file.Close()
	name := r.FormValue("configuration_name")
	if name == "" {
		name = "default"
	}
	immediate, ok := parseBool(r.FormValue("process_immediately"), true)
	if !ok {
		writeValidation(w, boolError("body", "process_immediately"))
		return
	}
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(header.Filename), "."))
	if !contains(allowedFileTypes, ext) {
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("Unsupported file type: %s. Allowed types: ['pdf', 'txt', 'docx', 'pptx']", ext))
		return
	}
	if header.Size > MaxFileSize {
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("File size exceeds maximum allowed size of %d bytes", MaxFileSize))
		return
	}
	var meta map[string]any
	if m := r.FormValue("metadata"); m != "" {
		if err := json.Unmarshal([]byte(m), &meta); err != nil {
			s.writeError(w, http.StatusBadRequest, "Invalid metadata JSON format")
			return
		}
	}
	content, err := io.ReadAll(file)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Error processing document: "+err.Error())
		return
	}
	doc := Document{ID: newID(), Filename: header.Filename, Content: string(content), Metadata: meta}
	status, err := s.store(name, doc, immediate && ext == "txt")
	if err != nil {
		s.writeError(w, http.StatusNotFound, notFoundConfig(name).detail)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"document_id": doc.ID, "filename": doc.Filename, "status": status,
		// RAG2's message is a plain string with the braces left in (a missing f prefix).
		"message": "Document uploaded successfully to configuration '{configuration_name}", "configuration_name": name,
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// store indexes doc into configuration name when index is set, and reports the document status.
func (s *Server) store(name string, doc Document, index bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.configs[name]
	if !ok {
		return "", notFoundConfig(name)
	}
	if !index {
		return "uploaded", nil
	}
	// Chunks are replaced, not appended in place, so snapshots handed to running searches stay valid.
	next := &configuration{config: c.config, chunks: append([]chunk(nil), c.chunks...)}
	if _, err := next.add(doc); err != nil {
		return "failed", nil //nolint:nilerr // RAG2 reports an indexing failure as status "failed"
	}
	s.configs[name] = next
	return "indexed", nil
}

type textUploadRequest struct {
	Documents []struct {
		Content  *string        `json:"content"`
		Filename string         `json:"filename"`
		Metadata map[string]any `json:"metadata"`
	} `json:"documents"`
	ConfigurationName  *string `json:"configuration_name"`
	ProcessImmediately *bool   `json:"process_immediately"`
}

// uploadText is POST /api/v1/upload/text. An unknown configuration is 404.
func (s *Server) uploadText(w http.ResponseWriter, r *http.Request) {
	var req textUploadRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var errs []validationError
	if req.Documents == nil {
		errs = append(errs, missing("body", "documents"))
	} else if len(req.Documents) == 0 {
		errs = append(errs, validationError{Type: "too_short", Loc: []any{"body", "documents"}, Msg: "List should have at least 1 item after validation, not 0", Input: []any{}})
	}
	for i, d := range req.Documents {
		if d.Content == nil {
			errs = append(errs, missing("body", "documents", i, "content"))
		} else if *d.Content == "" {
			errs = append(errs, validationError{Type: "string_too_short", Loc: []any{"body", "documents", i, "content"}, Msg: "String should have at least 1 character", Input: ""})
		}
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	name := deref(req.ConfigurationName, "default")
	if _, _, ok := s.get(name); !ok {
		s.writeError(w, http.StatusNotFound, notFoundConfig(name).detail)
		return
	}
	results := make([]map[string]any, 0, len(req.Documents))
	for _, d := range req.Documents {
		doc := Document{ID: newID(), Filename: d.Filename, Content: *d.Content, Metadata: d.Metadata}
		if doc.Filename == "" {
			doc.Filename = "text_doc_" + doc.ID[:8] + ".txt"
		}
		status, err := s.store(name, doc, deref(req.ProcessImmediately, true))
		res := map[string]any{"document_id": doc.ID, "filename": doc.Filename, "status": status, "message": "Document uploaded successfully", "configuration_name": name}
		if err != nil {
			res["document_id"], res["status"], res["message"] = "", "failed", "Error: "+keyError(notFoundConfig(name).detail).Error()
		}
		results = append(results, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": results, "total_count": len(results), "configuration_name": name,
		"message": fmt.Sprintf("Processed %d text documents", len(results))})
}

// configFromQuery reads the required configuration_name query parameter and resolves it, answering 422 or
// 404 itself.
func (s *Server) configFromQuery(w http.ResponseWriter, r *http.Request) (string, []chunk, bool) {
	name, ok := r.URL.Query()["configuration_name"]
	if !ok || len(name) == 0 {
		writeValidation(w, missing("query", "configuration_name"))
		return "", nil, false
	}
	_, chunks, found := s.get(name[0])
	if !found {
		s.writeError(w, http.StatusNotFound, notFoundConfig(name[0]).detail)
		return "", nil, false
	}
	return name[0], chunks, true
}

func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) {
	name, chunks, ok := s.configFromQuery(w, r)
	if !ok {
		return
	}
	withMeta, valid := parseBool(r.URL.Query().Get("include_metadata"), true)
	if !valid {
		writeValidation(w, boolError("query", "include_metadata"))
		return
	}
	byID := map[string]map[string]any{}
	docs := []map[string]any{}
	for _, c := range chunks {
		if d, ok := byID[c.docID]; ok {
			d["chunk_count"] = d["chunk_count"].(int) + 1
			continue
		}
		d := map[string]any{"document_id": c.docID, "filename": c.metadata["filename"], "chunk_count": 1}
		if withMeta {
			for k, v := range c.metadata {
				if k != "document_id" && k != "chunk_index" {
					d[k] = v
				}
			}
		}
		byID[c.docID] = d
		docs = append(docs, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"configuration_name": name, "document_count": len(docs), "documents": docs})
}

func (s *Server) deleteDocuments(w http.ResponseWriter, r *http.Request) {
	name, _, ok := s.configFromQuery(w, r)
	if !ok {
		return
	}
	confirm, valid := parseBool(r.URL.Query().Get("confirm"), false)
	if !valid {
		writeValidation(w, boolError("query", "confirm"))
		return
	}
	if !confirm {
		s.writeError(w, http.StatusBadRequest, "Deletion requires confirmation. Set confirm=true query parameter.")
		return
	}
	n := s.removeChunks(name, func(chunk) bool { return true })
	writeJSON(w, http.StatusOK, map[string]any{
		"message":       fmt.Sprintf("Successfully deleted all documents (%d) from configuration '%s'", n, name),
		"deleted_count": n, "configuration_name": name,
	})
}

// removeChunks drops the chunks of configuration name that match, returning how many.
func (s *Server) removeChunks(name string, drop func(chunk) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.configs[name]
	if !ok {
		return 0
	}
	next := &configuration{config: c.config}
	for _, ch := range c.chunks {
		if !drop(ch) {
			next.chunks = append(next.chunks, ch)
		}
	}
	s.configs[name] = next
	return len(c.chunks) - len(next.chunks)
}

func (s *Server) documentChunks(w http.ResponseWriter, r *http.Request) {
	name, chunks, ok := s.configFromQuery(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	out := []map[string]any{}
	for _, c := range chunks {
		if c.docID == id {
			out = append(out, map[string]any{"content": c.content, "metadata": c.metadata})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"document_id": id, "configuration_name": name, "chunk_count": len(out), "chunks": out})
}

func (s *Server) deleteDocumentChunks(w http.ResponseWriter, r *http.Request) {
	name, _, ok := s.configFromQuery(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	n := s.removeChunks(name, func(c chunk) bool { return c.docID == id })
	if n == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"message": "No chunks found for document ID: " + id, "deleted": 0})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": fmt.Sprintf("Successfully deleted %d chunks for document ID: %s", n, id), "deleted": n})
}

func (s *Server) createConfiguration(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ConfigurationName *string         `json:"configuration_name"`
		Config            *map[string]any `json:"config"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Config == nil {
		writeValidation(w, missing("body", "config"))
		return
	}
	name := deref(req.ConfigurationName, "default")
	cfg, err := mergeConfig(*req.Config)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Configuration error: "+err.Error())
		return
	}
	s.mu.Lock()
	if old, ok := s.configs[name]; ok {
		s.configs[name] = &configuration{config: cfg, chunks: old.chunks}
	} else {
		s.configs[name] = &configuration{config: cfg}
		s.order = append(s.order, name)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"configuration_name": name, "config": cfg,
		"message": fmt.Sprintf("Configuration '%s' created/updated successfully", name)})
}

// names returns the configuration names in creation order.
func (s *Server) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string{}, s.order...)
}

// listConfigurations is GET /api/v1/configurations. document_count is always 0, as in RAG2, which does
// not open the vector stores to list them.
func (s *Server) listConfigurations(w http.ResponseWriter, r *http.Request) {
	namesOnly, ok := parseBool(r.URL.Query().Get("names_only"), false)
	if !ok {
		writeValidation(w, boolError("query", "names_only"))
		return
	}
	names := s.names()
	if namesOnly {
		writeJSON(w, http.StatusOK, map[string]any{"names": names, "total_count": len(names)})
		return
	}
	list := []map[string]any{}
	for _, n := range names {
		if cfg, _, ok := s.get(n); ok {
			list = append(list, map[string]any{"configuration_name": n, "document_count": 0, "created_at": nil, "last_updated": nil, "config": cfg})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"configurations": list, "total_count": len(list)})
}

func (s *Server) getConfiguration(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cfg, _, ok := s.get(name)
	if !ok {
		s.writeError(w, http.StatusNotFound, notFoundConfig(name).detail)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"configuration_name": name, "config": cfg})
}

// deleteConfiguration is DELETE /api/v1/configurations/{name}. Deviation: an unknown name is 404 (RAG2
// answers success for it).
func (s *Server) deleteConfiguration(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.mu.Lock()
	_, ok := s.configs[name]
	if ok {
		delete(s.configs, name)
		for i, n := range s.order {
			if n == name {
				s.order = append(s.order[:i:i], s.order[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, notFoundConfig(name).detail)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Configuration '%s' deleted successfully", name), "configuration_name": name})
}

func (s *Server) duplicateConfiguration(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source           *string `json:"source_configuration_name"`
		Target           *string `json:"target_configuration_name"`
		IncludeDocuments bool    `json:"include_documents"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	var errs []validationError
	if req.Source == nil {
		errs = append(errs, missing("body", "source_configuration_name"))
	}
	if req.Target == nil {
		errs = append(errs, missing("body", "target_configuration_name"))
	}
	if errs != nil {
		writeValidation(w, errs...)
		return
	}
	s.mu.Lock()
	src, ok := s.configs[*req.Source]
	_, exists := s.configs[*req.Target]
	var copied int
	if ok && !exists {
		cfg, _ := normalize(src.config)
		next := &configuration{config: cfg.(map[string]any)}
		if req.IncludeDocuments {
			next.chunks = append([]chunk(nil), src.chunks...)
			copied = len(next.chunks)
		}
		s.configs[*req.Target] = next
		s.order = append(s.order, *req.Target)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.writeError(w, http.StatusNotFound, keyError(fmt.Sprintf("Source configuration '%s' not found", *req.Source)).Error())
	case exists:
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("Target configuration '%s' already exists", *req.Target))
	default:
		cfg, _, _ := s.get(*req.Target)
		writeJSON(w, http.StatusOK, map[string]any{"source_configuration_name": *req.Source, "target_configuration_name": *req.Target,
			"config": cfg, "documents_copied": copied,
			"message": fmt.Sprintf("Configuration '%s' duplicated to '%s' successfully", *req.Source, *req.Target)})
	}
}

// reloadConfigurations is POST /api/v1/configurations/reload: RAG2 rereads configurations.json, which it
// rewrites on every change, so in memory it changes nothing.
func (s *Server) reloadConfigurations(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"message": "Configurations reloaded successfully", "status": "success"})
}

func modelObject(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 1677610602, "owned_by": "rag-system", "permission": []any{}, "root": id, "parent": nil}
}

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request) {
	data := []map[string]any{}
	for _, n := range s.names() {
		data = append(data, modelObject(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, _, ok := s.get(id); !ok {
		s.writeError(w, http.StatusNotFound, fmt.Sprintf("Model '%s' not found", id))
		return
	}
	writeJSON(w, http.StatusOK, modelObject(id))
}
