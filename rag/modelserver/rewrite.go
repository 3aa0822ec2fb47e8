// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// Bounds on one request. The model server encodes (or scores) all of a request's texts in one call, and a
// classify request costs texts × labels cross-encoder passes, so both are bounded; 2048 is OpenAI's own
// bound on an embeddings input array.
const (
	MaxTexts  = 2048
	MaxLabels = 256
)

// Rewrite checks and re-encodes the body of an embeddings, rerank, classify or classify/eval request:
// model_name gets the module's default for the operation's kind, an allow-list is enforced, and the fields
// the model server requires are checked, so that the client hears a 400 naming the field rather than the
// model server's 422 or, for a missing model, its 500. Fields FD2 does not check pass through.
func (s *Server) Rewrite(op Op, body []byte) ([]byte, *apierr.Error) {
	var need []string
	switch op {
	case OpEmbeddings:
		need = []string{"texts"}
	case OpRerank:
		need = []string{"query", "texts"}
	case OpClassify:
		need = []string{"texts", "labels"}
	case OpClassifyEval:
		need = []string{"texts", "labels", "ground_truths"}
	default:
		return nil, apierr.New(http.StatusInternalServerError, "internal_error", "no body rewrite for the "+op.String()+" operation")
	}
	fields, e := object(body)
	if e != nil {
		return nil, e
	}
	counts := map[string]int{}
	for _, name := range need {
		if name == "query" {
			if _, e := requiredString(fields, name); e != nil {
				return nil, e
			}
			continue
		}
		max := MaxTexts
		if name == "labels" {
			max = MaxLabels
		}
		list, e := stringList(fields, name, max)
		if e != nil {
			return nil, e
		}
		counts[name] = len(list)
	}
	// The model server checks this too, but only after loading the model.
	if op == OpClassifyEval && counts["ground_truths"] != counts["texts"] {
		return nil, invalid(fmt.Sprintf("ground_truths has %d labels for %d texts: give one per text", counts["ground_truths"], counts["texts"]))
	}
	if op == OpClassify {
		if v, ok := fields["include_results"]; ok && !isNull(v) && !bytes.Equal(v, []byte("true")) && !bytes.Equal(v, []byte("false")) {
			return nil, invalid("include_results must be a boolean")
		}
	}
	requested, e := optionalString(fields, "model_name")
	if e != nil {
		return nil, e
	}
	model, e := s.model(op.Kind(), requested, "model_name")
	if e != nil {
		return nil, e
	}
	setModel(fields, "model_name", model)
	out, err := json.Marshal(fields)
	if err != nil { // every value is a RawMessage the decoder accepted
		return nil, apierr.Wrap(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON", err)
	}
	return out, nil
}

// model applies a kind's default and allow-list to the model a request names ("" for none). The result is
// "" only where the module has neither, and the model server's own default then applies.
func (s *Server) model(k Kind, requested, field string) (string, *apierr.Error) {
	def, list := s.cfg.models(k)
	m := requested
	if m == "" {
		m = def
	}
	if len(list) == 0 {
		return m, nil
	}
	allowed := strings.Join(list, ", ")
	if m == "" {
		return "", apierr.New(http.StatusBadRequest, "model_required",
			fmt.Sprintf("%s is required: this module has no default %s model; allowed: %s", field, k, allowed))
	}
	if !slices.Contains(list, m) {
		return "", apierr.New(http.StatusBadRequest, "model_not_allowed",
			fmt.Sprintf("%s model %s is not available on this module; allowed: %s", k, quoteBounded(m), allowed))
	}
	return m, nil
}

// object decodes a request body that must be a JSON object. Duplicate keys resolve to the last, as
// Python's json module (the model server's parser) resolves them, and keys are matched exactly.
func object(body []byte) (map[string]json.RawMessage, *apierr.Error) {
	t := bytes.TrimSpace(body)
	var fields map[string]json.RawMessage
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &fields) != nil {
		return nil, apierr.New(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object")
	}
	return fields, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(v, []byte("null")) }

func missing(field string) *apierr.Error {
	return apierr.New(http.StatusBadRequest, "missing_field", field+" is required")
}

// invalid is a field of the wrong type or value; msg names the field.
func invalid(msg string) *apierr.Error {
	return apierr.New(http.StatusBadRequest, "invalid_field", msg)
}

// optionalString reads a string field that may be absent or null ("").
func optionalString(fields map[string]json.RawMessage, name string) (string, *apierr.Error) {
	v, ok := fields[name]
	if !ok || isNull(v) {
		return "", nil
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", invalid(name + " must be a string")
	}
	return s, nil
}

// requiredString reads a non-empty string field.
func requiredString(fields map[string]json.RawMessage, name string) (string, *apierr.Error) {
	v, ok := fields[name]
	if !ok || isNull(v) {
		return "", missing(name)
	}
	s, e := optionalString(fields, name)
	if e != nil {
		return "", e
	}
	if s == "" {
		return "", invalid(name + " must not be empty")
	}
	return s, nil
}

// stringList reads a required, non-empty array of strings of at most max elements.
func stringList(fields map[string]json.RawMessage, name string, max int) ([]string, *apierr.Error) {
	v, ok := fields[name]
	if !ok || isNull(v) {
		return nil, missing(name)
	}
	var raw []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &raw) != nil {
		return nil, invalid(name + " must be an array of strings")
	}
	if len(raw) == 0 {
		return nil, invalid(name + " must not be empty")
	}
	if len(raw) > max {
		return nil, apierr.New(http.StatusBadRequest, "too_many_items",
			fmt.Sprintf("%s has %d items; at most %d are allowed in one request", name, len(raw), max))
	}
	out := make([]string, len(raw))
	for i, e := range raw {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &out[i]) != nil {
			return nil, invalid(fmt.Sprintf("%s[%d] must be a string", name, i))
		}
	}
	return out, nil
}

// setModel sets (or, for "", removes) the model field: a null model_name would reach the model server as
// None, which it cannot load, where an absent one means its default.
func setModel(fields map[string]json.RawMessage, name, model string) {
	if model == "" {
		delete(fields, name)
		return
	}
	b, _ := json.Marshal(model) // a string: cannot fail
	fields[name] = b
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
