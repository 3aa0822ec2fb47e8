// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
)

// thresholdArg parses a similarity threshold option (dsp_rag and retrieval).
func thresholdArg(d *caddyfile.Dispenser) (float64, error) {
	var v string
	if err := caddyfileopt.Args(d, &v); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, d.Errf("threshold: want a number, got %q", v)
	}
	return f, nil
}

// filterArg parses a metadata filter option: one JSON object (quote it as a Caddyfile token). null is
// refused too: it would unmarshal without error and silently mean no filter.
func filterArg(d *caddyfile.Dispenser) (json.RawMessage, error) {
	var v string
	if err := caddyfileopt.Args(d, &v); err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
		return nil, d.Errf("filter: want a JSON object, got %q", v)
	}
	return json.RawMessage(v), nil
}
