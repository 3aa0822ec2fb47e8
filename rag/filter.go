// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// ComposeFilter returns the $and of every non-empty part (in order: the request's filter, the module's
// default, the token's claim), so that no part can loosen another: a key merge would let the request's
// {"tenant":"globex"} overwrite the claim's {"tenant":"acme"}. A part that is exactly {"$and":[…]} gives
// its items, so nested compositions stay flat. One part is returned unchanged and none gives nil; null and
// {} count as absent. A part that is not a JSON object is a 400 invalid_filter.
func ComposeFilter(parts ...json.RawMessage) (json.RawMessage, error) {
	var present []json.RawMessage
	for _, p := range parts {
		p = bytes.TrimSpace(p)
		if len(p) == 0 || bytes.Equal(p, []byte("null")) {
			continue
		}
		var m map[string]json.RawMessage
		if p[0] != '{' || json.Unmarshal(p, &m) != nil {
			return nil, apierr.New(http.StatusBadRequest, "invalid_filter", "a metadata filter must be a JSON object")
		}
		if len(m) > 0 {
			present = append(present, p)
		}
	}
	switch len(present) {
	case 0:
		return nil, nil
	case 1:
		return present[0], nil
	}
	var items []json.RawMessage
	for _, p := range present {
		and, err := andItems(p)
		if err != nil {
			return nil, err
		}
		if and == nil {
			and = []json.RawMessage{p}
		}
		items = append(items, and...)
	}
	out, err := json.Marshal(struct {
		And []json.RawMessage `json:"$and"`
	}{items})
	if err != nil {
		return nil, apierr.Wrap(http.StatusBadRequest, "invalid_filter", "a metadata filter is not valid JSON", err)
	}
	return out, nil
}

// andItems returns the items of a part that is exactly {"$and":[…]}, or nil for any other part. Go keeps
// the last of duplicated keys, as RAG2's Python does, so both read the same $and.
func andItems(p json.RawMessage) ([]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil || len(m) != 1 {
		return nil, nil
	}
	raw := bytes.TrimSpace(m["$and"])
	if len(raw) == 0 || raw[0] != '[' {
		return nil, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, nil
	}
	for _, it := range items {
		it = bytes.TrimSpace(it)
		if len(it) == 0 || it[0] != '{' {
			return nil, apierr.New(http.StatusBadRequest, "invalid_filter", "every $and item of a metadata filter must be a JSON object")
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	return items, nil
}
