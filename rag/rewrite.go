// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// maxQueryK is RAG2's bound on a query's k (a retrieve's is 50, as default_k's).
const maxQueryK = 20

// Rewrite applies the module's defaults and the enforced filter to a query, retrieve or chat body; other
// ops' bodies are returned unchanged. The body is decoded and re-encoded, so a duplicated member (two
// "filter" keys, of which FD2 and RAG2's Python would otherwise read different ones) reaches RAG2 once.
// The filter sent is ComposeFilter(request filter, default_metadata_filter, claim).
//
// A caller cannot switch RAG2's own checks off: config.security (query, retrieve) and rag_config.security
// (chat) are refused. A caller may still name other configurations (retrieve's configuration_names, chat's
// model): RAG2 applies the one filter to every configuration it searches, so the claim binds them all.
func (s *Service) Rewrite(op Op, body []byte, claim json.RawMessage) ([]byte, *apierr.Error) {
	if op != OpQuery && op != OpRetrieve && op != OpChat {
		return body, nil
	}
	var m map[string]json.RawMessage
	if b := bytes.TrimSpace(body); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &m) != nil {
		return nil, apierr.New(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object")
	}
	overrides := "config"
	if op == OpChat {
		overrides = "rag_config"
	}
	if hasMember(m[overrides], "security") {
		return nil, apierr.New(http.StatusBadRequest, "invalid_request",
			overrides+".security may not be overridden through the gateway")
	}
	c := &s.cfg
	k := c.DefaultK
	if op != OpRetrieve {
		k = min(k, maxQueryK)
	}
	setDefault(m, "k", k)
	setDefault(m, "similarity_threshold", c.DefaultSimilarityThreshold)
	setDefault(m, "filter_after_reranking", c.FilterAfterReranking)
	switch op {
	case OpChat:
		setDefault(m, "model", c.ConfigurationName)
	case OpRetrieve:
		setDefault(m, "configuration_name", c.ConfigurationName)
		setDefault(m, "use_reranking", c.UseReranking)
	case OpQuery:
		setDefault(m, "configuration_name", c.ConfigurationName)
	}
	if op != OpChat && c.QueryExpansionEnabled {
		setDefault(m, "query_expansion", map[string]any{
			"enabled":         true,
			"strategy":        c.QueryExpansionStrategy,
			"llm_config_name": c.QueryExpansionLLMConfig,
			"num_queries":     c.QueryExpansionNumQueries,
		})
	}
	f, err := ComposeFilter(m["filter"], c.DefaultMetadataFilter, claim)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, apierr.Wrap(http.StatusBadRequest, "invalid_filter", "the metadata filter is invalid", err)
	}
	if f != nil {
		m["filter"] = f
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, apierr.Wrap(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON", err)
	}
	return out, nil
}

// setDefault sets key when the request leaves it absent or null.
func setDefault(m map[string]json.RawMessage, key string, v any) {
	if cur := bytes.TrimSpace(m[key]); len(cur) != 0 && !bytes.Equal(cur, []byte("null")) {
		return
	}
	b, _ := json.Marshal(v)
	m[key] = b
}

// hasMember reports whether raw is an object with the member key (under any duplicate).
func hasMember(raw json.RawMessage, key string) bool {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return false
	}
	_, ok := o[key]
	return ok
}
