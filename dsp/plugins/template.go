// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// PromptTemplate is the ai-prompt-template plugin: the client sends {"template_name": …, <vars>…}; the named
// template is rendered with {{var}} replaced by the body's fields and the rendered JSON becomes the request
// body. Unlike the original (which inserted values textually, so the caller had to pre-escape newlines),
// values are inserted into the decoded template and re-encoded, so any text is escaped correctly; a string
// that is exactly "{{var}}" takes the variable's JSON value whatever its type.
type PromptTemplate struct {
	templates map[string]any
}

// ErrTemplate is wrapped by every client-side ai-prompt-template error (the request answers 400).
var ErrTemplate = errors.New("ai-prompt-template")

func compilePromptTemplate(raw json.RawMessage) (*PromptTemplate, error) {
	var c struct {
		Templates []struct {
			Name     string          `json:"name"`
			Template json.RawMessage `json:"template"`
		} `json:"templates"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	if len(c.Templates) == 0 {
		return nil, errors.New("templates is required")
	}
	pt := &PromptTemplate{templates: make(map[string]any, len(c.Templates))}
	for _, t := range c.Templates {
		if t.Name == "" {
			return nil, errors.New("template name is required")
		}
		var v any
		if err := json.Unmarshal(t.Template, &v); err != nil {
			return nil, fmt.Errorf("template %q: %w", t.Name, err)
		}
		pt.templates[t.Name] = v
	}
	return pt, nil
}

var reMustache = regexp.MustCompile(`\{\{\s*([a-zA-Z0-9_.-]+)\s*\}\}`)

// Render returns the new body for a request body.
func (pt *PromptTemplate) Render(body []byte) ([]byte, error) {
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: request body must be a JSON object: %v", ErrTemplate, err)
	}
	name, _ := in["template_name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%w: template_name is required", ErrTemplate)
	}
	tmpl, ok := pt.templates[name]
	if !ok {
		return nil, fmt.Errorf("%w: unknown template %q", ErrTemplate, name)
	}
	out, err := json.Marshal(render(tmpl, in))
	if err != nil {
		return nil, fmt.Errorf("%w: encoding rendered template: %v", ErrTemplate, err)
	}
	return out, nil
}

func render(v any, vars map[string]any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[k] = render(val, vars)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = render(t[i], vars)
		}
		return out
	case string:
		if m := reMustache.FindStringSubmatchIndex(t); m != nil && m[0] == 0 && m[1] == len(t) {
			if val, ok := vars[t[m[2]:m[3]]]; ok {
				return val
			}
			return ""
		}
		return reMustache.ReplaceAllStringFunc(t, func(s string) string {
			key := reMustache.FindStringSubmatch(s)[1]
			switch val := vars[key].(type) {
			case nil:
				return ""
			case string:
				return val
			default:
				b, _ := json.Marshal(val)
				return string(b)
			}
		})
	default:
		return v
	}
}
