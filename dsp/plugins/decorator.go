// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// PromptDecorator is the ai-prompt-decorator plugin: it prepends and appends messages to a chat request's
// messages. Only "messages" is rewritten; every other field of the body survives as sent.
type PromptDecorator struct {
	prepend []json.RawMessage
	append  []json.RawMessage
}

func compilePromptDecorator(raw json.RawMessage) (*PromptDecorator, error) {
	var c struct {
		Prepend []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"prepend"`
		Append []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"append"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	if len(c.Prepend) == 0 && len(c.Append) == 0 {
		return nil, errors.New("prepend or append is required")
	}
	pd := &PromptDecorator{}
	for _, m := range c.Prepend {
		b, _ := json.Marshal(map[string]string{"role": m.Role, "content": m.Content})
		pd.prepend = append(pd.prepend, b)
	}
	for _, m := range c.Append {
		b, _ := json.Marshal(map[string]string{"role": m.Role, "content": m.Content})
		pd.append = append(pd.append, b)
	}
	return pd, nil
}

// Apply returns the body with the messages decorated.
func (pd *PromptDecorator) Apply(body []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: request body must be a JSON object: %v", ErrTemplate, err)
	}
	var msgs []json.RawMessage
	if raw, ok := doc["messages"]; ok {
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, fmt.Errorf("%w: messages must be an array", ErrTemplate)
		}
	}
	out := make([]json.RawMessage, 0, len(pd.prepend)+len(msgs)+len(pd.append))
	out = append(append(append(out, pd.prepend...), msgs...), pd.append...)
	m, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	doc["messages"] = m
	return json.Marshal(doc)
}
