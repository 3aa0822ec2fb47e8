// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Defaults are the request defaults of a manifest inference_endpoint module (model_name, system_prompt,
// max_tokens, temperature, top_p). They fill in only what the client left out: the client may override
// any of them.
type Defaults struct {
	// Model is used when the request names no model.
	Model string
	// SystemPrompt is prepended as the first chat message when the client sent no system or developer
	// message of its own.
	SystemPrompt string
	// MaxTokens, Temperature and TopP are set on chat requests that do not carry them.
	MaxTokens   *int64
	Temperature *float64
	TopP        *float64
}

// applyChatDefaults applies d to a chat/completions body by minimal edits: every byte the client sent
// is kept, so vendor fields FD2 does not know and number precision survive.
func applyChatDefaults(body []byte, d Defaults) ([]byte, error) {
	var err error
	if d.SystemPrompt != "" {
		if body, err = prependSystemPrompt(body, d.SystemPrompt); err != nil {
			return nil, err
		}
	}
	// max_completion_tokens replaces max_tokens for newer OpenAI models (o-series reject max_tokens), so
	// a client that sent it has already chosen its limit.
	if d.MaxTokens != nil && !gjson.GetBytes(body, "max_tokens").Exists() &&
		!gjson.GetBytes(body, "max_completion_tokens").Exists() {
		if body, err = sjson.SetBytes(body, "max_tokens", *d.MaxTokens); err != nil {
			return nil, fmt.Errorf("setting max_tokens: %w", err)
		}
	}
	if d.Temperature != nil && !gjson.GetBytes(body, "temperature").Exists() {
		if body, err = sjson.SetBytes(body, "temperature", *d.Temperature); err != nil {
			return nil, fmt.Errorf("setting temperature: %w", err)
		}
	}
	if d.TopP != nil && !gjson.GetBytes(body, "top_p").Exists() {
		if body, err = sjson.SetBytes(body, "top_p", *d.TopP); err != nil {
			return nil, fmt.Errorf("setting top_p: %w", err)
		}
	}
	return body, nil
}

// prependSystemPrompt inserts {"role":"system","content":prompt} as the first message unless the client
// sent a system or developer message (developer is the o-series name for system; two system prompts
// would contradict each other).
func prependSystemPrompt(body []byte, prompt string) ([]byte, error) {
	msgs := gjson.GetBytes(body, "messages")
	if !msgs.IsArray() {
		// Nothing to prepend to; the provider reports the missing messages to the client.
		return body, nil
	}
	hasSystem := false
	empty := true
	msgs.ForEach(func(_, m gjson.Result) bool {
		empty = false
		switch m.Get("role").String() {
		case "system", "developer":
			hasSystem = true
			return false
		}
		return true
	})
	if hasSystem {
		return body, nil
	}
	content, err := json.Marshal(prompt)
	if err != nil {
		return nil, fmt.Errorf("encoding system prompt: %w", err)
	}
	msg := make([]byte, 0, len(content)+40)
	msg = append(msg, `{"role":"system","content":`...)
	msg = append(msg, content...)
	msg = append(msg, '}')
	if !empty {
		msg = append(msg, ',')
	}
	// gjson reports where the raw array starts in body; splice right after its '[' so the client's
	// messages stay byte-for-byte. Index is 0 when unknown, then rebuild the array value instead.
	if i := msgs.Index; i > 0 && i < len(body) && body[i] == '[' {
		out := make([]byte, 0, len(body)+len(msg))
		out = append(out, body[:i+1]...)
		out = append(out, msg...)
		return append(out, body[i+1:]...), nil
	}
	raw := append([]byte{'['}, msg...)
	raw = append(raw, msgs.Raw[1:]...)
	out, err := sjson.SetRawBytes(body, "messages", raw)
	if err != nil {
		return nil, fmt.Errorf("setting messages: %w", err)
	}
	return out, nil
}

// applyMessagesDefaults applies d to an Anthropic Messages body: the system prompt becomes the top-level
// system field when the client sent none, and max_tokens (which the Messages API requires), temperature
// and top_p fill in what the client left out.
func applyMessagesDefaults(body []byte, d Defaults) ([]byte, error) {
	var err error
	set := func(field string, v any) {
		if err == nil && !gjson.GetBytes(body, field).Exists() {
			if body, err = sjson.SetBytes(body, field, v); err != nil {
				err = fmt.Errorf("setting %s: %w", field, err)
			}
		}
	}
	if d.SystemPrompt != "" {
		set("system", d.SystemPrompt)
	}
	if d.MaxTokens != nil {
		set("max_tokens", *d.MaxTokens)
	}
	if d.Temperature != nil {
		set("temperature", *d.Temperature)
	}
	if d.TopP != nil {
		set("top_p", *d.TopP)
	}
	return body, err
}
