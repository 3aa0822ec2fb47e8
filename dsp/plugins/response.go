// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ResponseRewrite is the header and status part of the response-rewrite plugin. Rewriting the body would
// mean buffering every response (and breaking streams), so a body in the config is a warning and ignored.
type ResponseRewrite struct {
	Set    map[string]string
	Add    map[string]string
	Remove []string
	Status int
}

func compileResponseRewrite(raw json.RawMessage) (*ResponseRewrite, []string, error) {
	var c struct {
		StatusCode int             `json:"status_code"`
		Body       *string         `json:"body"`
		Headers    json.RawMessage `json:"headers"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, nil, err
	}
	var warns []string
	if c.Body != nil {
		warns = append(warns, "response-rewrite body is not supported (it would buffer streams) and is ignored")
	}
	if c.StatusCode != 0 && (c.StatusCode < 200 || c.StatusCode > 598) {
		return nil, warns, fmt.Errorf("status_code %d out of range", c.StatusCode)
	}
	set, add, del, err := decodeHeaders(c.Headers)
	if err != nil {
		return nil, warns, err
	}
	return &ResponseRewrite{Status: c.StatusCode, Set: set, Add: add, Remove: del}, warns, nil
}

// Apply edits response headers just before they are written.
func (rr *ResponseRewrite) Apply(h http.Header) {
	for _, k := range rr.Remove {
		h.Del(k)
	}
	for k, v := range rr.Set {
		h.Set(k, v)
	}
	for k, v := range rr.Add {
		h.Add(k, v)
	}
}
