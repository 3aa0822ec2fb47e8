// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// ErrInvalidJSON is returned by SetModel for a body that is not a JSON object.
var ErrInvalidJSON = errors.New("request body is not a JSON object")

// SetModel returns body with its top-level "model" value replaced (or added). Every other byte is
// kept as is: bodies are edited in place rather than decoded and re-encoded, so vendor fields FD2 does
// not know, key order and number precision all survive the rewrite.
func SetModel(body []byte, model string) ([]byte, error) {
	// sjson does not validate its input, and on a malformed body it would produce something that is
	// neither the client's body nor valid JSON; refuse instead so the caller answers 400.
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, ErrInvalidJSON
	}
	return setValidModel(body, model)
}

// setValidModel is SetModel for a body already known to be one valid JSON object: no second pass over it.
func setValidModel(body []byte, model string) ([]byte, error) {
	out, err := sjson.SetBytes(body, "model", model)
	if err != nil {
		return nil, fmt.Errorf("setting model: %w", err)
	}
	return out, nil
}

// GetString returns the top-level string value of key in a JSON body, or "" when the body is not JSON,
// the key is missing or its value is not a string. It does not decode the rest of the body.
func GetString(body []byte, key string) string {
	// Escape gjson path syntax so that a key such as "a.b" is looked up literally.
	r := gjson.GetBytes(body, gjson.Escape(key))
	if r.Type != gjson.String {
		return ""
	}
	return r.Str
}
