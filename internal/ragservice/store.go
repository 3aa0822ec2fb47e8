// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragservice

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"unicode"
)

// Configuration is a RAG2 configuration preloaded into the double, with its documents.
type Configuration struct {
	// Name is the configuration name (the chat API's model).
	Name string
	// Config is a partial RAGConfig (chunking, retrieval_k, similarity_threshold, reranking, security, …),
	// merged over DefaultRAGConfig one section deep, as RAG2 fills pydantic defaults.
	Config map[string]any
	// Documents are indexed at once, chunked by the configuration's chunking.chunk_size.
	Documents []Document
}

// Document is one document of a corpus.
type Document struct {
	// ID is the document_id; empty means a generated one.
	ID string `json:"id,omitempty"`
	// Filename defaults to "<id>.txt".
	Filename string `json:"filename,omitempty"`
	// Content is the text that is chunked and searched.
	Content string `json:"content"`
	// Metadata is what filters match against; document_id, filename and chunk_index are added per chunk.
	Metadata map[string]any `json:"metadata,omitempty"`
}

type configuration struct {
	config map[string]any
	chunks []chunk
}

type chunk struct {
	docID    string
	index    int
	content  string
	metadata map[string]any
	counts   map[string]float64
}

// DefaultRAGConfig returns RAG2's RAGConfig defaults (security_config_example.json's sections).
func DefaultRAGConfig() map[string]any {
	return map[string]any{
		"chunking":     map[string]any{"strategy": "recursive_text", "chunk_size": 1000.0, "chunk_overlap": 200.0, "separators": nil},
		"vector_store": map[string]any{"type": "faiss", "index_path": "./storage/faiss_index", "dimension": 384.0, "normalize_similarity_scores": false},
		"embedding":    map[string]any{"model": "sentence-transformers/all-MiniLM-L6-v2", "batch_size": 32.0, "server_url": nil},
		"generation": map[string]any{"provider": "groq", "model": "llama3-8b-8192", "api_key": nil, "temperature": 0.7,
			"max_tokens": 1024.0, "top_p": 0.9, "top_k": nil, "server_url": nil, "system_prompt": nil},
		"retrieval_k":          5.0,
		"similarity_threshold": 0.7,
		"reranking":            map[string]any{"enabled": false, "model": "none", "top_n": 10.0, "score_threshold": 0.1, "server_url": nil},
		"security": map[string]any{"enabled": false, "type": "jwt_bearer", "jwt_secret_key": nil, "jwt_algorithm": "HS256",
			"jwt_issuer": nil, "jwt_audience": nil, "jwt_require_exp": true, "jwt_require_iat": true, "jwt_leeway": 0.0,
			"api_key_header": "X-API-Key", "api_keys": []any{}},
	}
}

// mergeConfig lays a partial config over the defaults, one section deep, after a JSON round trip so that
// numbers are float64 like decoded requests.
func mergeConfig(partial map[string]any) (map[string]any, error) {
	if partial == nil {
		partial = map[string]any{} // a configuration without overrides
	}
	norm, err := normalize(partial)
	if err != nil {
		return nil, err
	}
	out := DefaultRAGConfig()
	for k, v := range norm.(map[string]any) {
		if sub, ok := v.(map[string]any); ok {
			if base, ok := out[k].(map[string]any); ok {
				for kk, vv := range sub {
					base[kk] = vv
				}
				continue
			}
		}
		out[k] = v
	}
	if _, err := securityOf(out); err != nil {
		return nil, err
	}
	return out, nil
}

// normalize gives Go-built values the types encoding/json decodes to (float64, []any, map[string]any).
func normalize(v any) (any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return out, nil
}

func number(m map[string]any, section, key string, def float64) float64 {
	if section != "" {
		sub, ok := m[section].(map[string]any)
		if !ok {
			return def
		}
		m = sub
	}
	if f, ok := m[key].(float64); ok {
		return f
	}
	return def
}

// AddConfiguration adds or replaces a configuration with its documents, as POST /configurations followed by
// /upload/text would.
func (s *Server) AddConfiguration(c Configuration) error {
	if c.Name == "" {
		return errors.New("configuration name is empty")
	}
	cfg, err := mergeConfig(c.Config)
	if err != nil {
		return fmt.Errorf("merging config: %w", err)
	}
	conf := &configuration{config: cfg}
	for _, d := range c.Documents {
		if _, err := conf.add(d); err != nil {
			return fmt.Errorf("adding document %q: %w", d.ID, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.configs[c.Name]; !ok {
		s.order = append(s.order, c.Name)
	}
	s.configs[c.Name] = conf
	return nil
}

// add chunks and indexes a document, returning its id.
func (c *configuration) add(d Document) (string, error) {
	if d.ID == "" {
		d.ID = newID()
	}
	if d.Filename == "" {
		d.Filename = d.ID + ".txt"
	}
	meta, err := normalize(d.Metadata)
	if err != nil {
		return "", err
	}
	base, _ := meta.(map[string]any)
	parts := chunkText(d.Content, int(number(c.config, "chunking", "chunk_size", 1000)))
	for i, p := range parts {
		m := make(map[string]any, len(base)+3)
		for k, v := range base {
			m[k] = v
		}
		m["document_id"], m["filename"], m["chunk_index"] = d.ID, d.Filename, float64(i)
		c.chunks = append(c.chunks, chunk{docID: d.ID, index: i, content: p, metadata: m, counts: wordCounts(p)})
	}
	return d.ID, nil
}

// chunkText splits text on word boundaries into pieces of at most size bytes (a longer word is its own
// piece). Whitespace-only text is one empty chunk, so every document has at least one.
func chunkText(text string, size int) []string {
	if size <= 0 {
		size = 1000
	}
	words := strings.Fields(text)
	var out []string
	var cur strings.Builder
	for _, w := range words {
		if cur.Len() > 0 && cur.Len()+1+len(w) > size {
			out = append(out, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 || len(out) == 0 {
		out = append(out, cur.String())
	}
	return out
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// stopwords are left out of similarity, so "what is the …" does not match every document.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a about an and are as at be by can do does for from has have how i in is it
		its me my of on or our tell that the their this to us was we what when where which who why will with you your`) {
		stopwords[w] = true
	}
}

// splitWords lowercases text and splits it into letter/digit runs.
func splitWords(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// words is splitWords without stopwords.
func words(text string) []string {
	var out []string
	for _, w := range splitWords(text) {
		if !stopwords[w] {
			out = append(out, w)
		}
	}
	return out
}

func wordCounts(text string) map[string]float64 {
	m := map[string]float64{}
	for _, w := range words(text) {
		m[w]++
	}
	return m
}

// cosine is the cosine similarity of two word-count vectors, in [0,1]; 0 when either is empty.
func cosine(a, b map[string]float64) float64 {
	var dot, na, nb float64
	for w, x := range a {
		na += x * x
		dot += x * b[w]
	}
	for _, y := range b {
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return math.Round(dot/math.Sqrt(na*nb)*1e6) / 1e6
}

// Similarity is the score the double gives text for query: the cosine similarity of their lowercase
// word-count vectors without stopwords, rounded to 6 decimals. Retrieval, /rerank and /classify all use it.
func Similarity(query, text string) float64 { return cosine(wordCounts(query), wordCounts(text)) }

// hit is one retrieved chunk.
type hit struct {
	c     *chunk
	score float64
}

// search returns the chunks matching filter with a score above zero and at least threshold, best first
// (ties by document id, then chunk index), at most k.
func (c *configuration) search(query string, k int, threshold float64, f *filter) []hit {
	q := wordCounts(query)
	var hits []hit
	for i := range c.chunks {
		ch := &c.chunks[i]
		if f != nil && !f.match(ch.metadata) {
			continue
		}
		score := cosine(q, ch.counts)
		if score <= 0 || score < threshold {
			continue
		}
		hits = append(hits, hit{c: ch, score: score})
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		if hits[i].c.docID != hits[j].c.docID {
			return hits[i].c.docID < hits[j].c.docID
		}
		return hits[i].c.index < hits[j].c.index
	})
	if k > 0 && len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// filter is a compiled LangChain-style metadata filter.
type filter struct {
	op    string // "$and", "$or", "$not", or "" for a field condition
	subs  []*filter
	field string
	conds []cond
}

type cond struct {
	op    string
	value any
}

var fieldOps = map[string]bool{"$eq": true, "$ne": true, "$neq": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true, "$in": true, "$nin": true}

// compileFilter checks a filter once, so an unknown operator fails the request whatever the corpus holds.
// Nil or empty means no filter.
func compileFilter(m map[string]any) (*filter, error) {
	if len(m) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	all := &filter{op: "$and"}
	for _, k := range keys {
		v := m[k]
		switch k {
		case "$and", "$or":
			list, ok := v.([]any)
			if !ok {
				return nil, detailError(fmt.Sprintf("Filter operator %s expects a list", k))
			}
			g := &filter{op: k}
			for _, item := range list {
				sub, ok := item.(map[string]any)
				if !ok {
					return nil, detailError(fmt.Sprintf("Filter operator %s expects a list of objects", k))
				}
				f, err := compileFilter(sub)
				if err != nil {
					return nil, err
				}
				if f == nil {
					f = &filter{op: "$and"}
				}
				g.subs = append(g.subs, f)
			}
			all.subs = append(all.subs, g)
		case "$not":
			sub, ok := v.(map[string]any)
			if !ok {
				return nil, detailError("Filter operator $not expects an object")
			}
			f, err := compileFilter(sub)
			if err != nil {
				return nil, err
			}
			if f == nil {
				f = &filter{op: "$and"}
			}
			all.subs = append(all.subs, &filter{op: "$not", subs: []*filter{f}})
		default:
			if strings.HasPrefix(k, "$") {
				return nil, detailError(fmt.Sprintf("Unsupported filter operator: %s", k))
			}
			fc := &filter{field: k}
			if ops, ok := v.(map[string]any); ok {
				opKeys := make([]string, 0, len(ops))
				for op := range ops {
					opKeys = append(opKeys, op)
				}
				sort.Strings(opKeys)
				for _, op := range opKeys {
					if !fieldOps[op] {
						return nil, detailError(fmt.Sprintf("Unsupported filter operator: %s", op))
					}
					if (op == "$in" || op == "$nin") && !isList(ops[op]) {
						return nil, detailError(fmt.Sprintf("Filter operator %s expects a list", op))
					}
					fc.conds = append(fc.conds, cond{op: op, value: ops[op]})
				}
			} else {
				fc.conds = []cond{{op: "$eq", value: v}}
			}
			all.subs = append(all.subs, fc)
		}
	}
	return all, nil
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// match follows RAG2's _matches_filter: a field missing from the metadata fails every condition on it,
// $ne and $nin included, and order comparisons need a number on both sides.
func (f *filter) match(meta map[string]any) bool {
	switch f.op {
	case "$and":
		for _, s := range f.subs {
			if !s.match(meta) {
				return false
			}
		}
		return true
	case "$or":
		for _, s := range f.subs {
			if s.match(meta) {
				return true
			}
		}
		return false
	case "$not":
		return !f.subs[0].match(meta)
	}
	v, ok := meta[f.field]
	if !ok {
		return false
	}
	for _, c := range f.conds {
		if !c.holds(v) {
			return false
		}
	}
	return true
}

func (c cond) holds(v any) bool {
	switch c.op {
	case "$eq":
		return reflect.DeepEqual(v, c.value)
	case "$ne", "$neq":
		return !reflect.DeepEqual(v, c.value)
	case "$in", "$nin":
		in := false
		for _, x := range c.value.([]any) {
			if reflect.DeepEqual(v, x) {
				in = true
				break
			}
		}
		return in == (c.op == "$in")
	}
	a, ok1 := v.(float64)
	b, ok2 := c.value.(float64)
	if !ok1 || !ok2 {
		return false
	}
	switch c.op {
	case "$gt":
		return a > b
	case "$gte":
		return a >= b
	case "$lt":
		return a < b
	default: // $lte
		return a <= b
	}
}

// mergeFilters is RAG2's SecurityService.merge_filters.
func mergeFilters(request, jwt map[string]any) map[string]any {
	switch {
	case len(request) == 0 && len(jwt) == 0:
		return nil
	case len(request) == 0:
		return jwt
	case len(jwt) == 0:
		return request
	}
	return map[string]any{"$and": []any{request, jwt}}
}
