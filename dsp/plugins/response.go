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
	rr := &ResponseRewrite{Status: c.StatusCode}
	if len(c.Headers) > 0 && string(c.Headers) != "null" {
		var generic map[string]json.RawMessage
		if err := json.Unmarshal(c.Headers, &generic); err != nil {
			return nil, warns, fmt.Errorf("decoding headers: %w", err)
		}
		_, hasSet := generic["set"]
		_, hasAdd := generic["add"]
		_, hasRemove := generic["remove"]
		if hasSet || hasAdd || hasRemove {
			var s struct {
				Set    map[string]string `json:"set"`
				Add    []string          `json:"add"`
				Remove []string          `json:"remove"`
			}
			if err := json.Unmarshal(c.Headers, &s); err != nil {
				return nil, warns, fmt.Errorf("decoding headers set/add/remove: %w", err)
			}
			rr.Set = canonMap(s.Set)
			rr.Add = map[string]string{}
			for _, kv := range s.Add { // APISIX add is a list of "Name: value"
				for i := 0; i < len(kv); i++ {
					if kv[i] == ':' {
						rr.Add[http.CanonicalHeaderKey(kv[:i])] = trimSpace(kv[i+1:])
						break
					}
				}
			}
			for _, h := range s.Remove {
				rr.Remove = append(rr.Remove, http.CanonicalHeaderKey(h))
			}
		} else {
			var flat map[string]string
			if err := json.Unmarshal(c.Headers, &flat); err != nil {
				return nil, warns, fmt.Errorf("decoding headers: %w", err)
			}
			rr.Set = canonMap(flat)
		}
	}
	return rr, warns, nil
}

func canonMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
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
