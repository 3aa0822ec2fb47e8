// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFromErrorNeverLeaks(t *testing.T) {
	internal := errors.New("dial tcp 10.1.2.3:443: connect: connection refused")
	cases := []struct {
		name     string
		status   int
		err      error
		wantCode string
	}{
		{"generic 502", 502, internal, "upstream_unavailable"},
		{"generic 504", 504, internal, "upstream_timeout"},
		{"own error kept", 404, fmt.Errorf("wrapped: %w", Wrap(404, "route_not_found", "no route", internal)), "route_not_found"},
		{"own error with other status", 502, New(404, "route_not_found", "no route"), "upstream_unavailable"},
		{"nil error", 500, nil, "internal_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := FromError(tc.status, tc.err)
			if e.Code != tc.wantCode || e.Status != tc.status {
				t.Fatalf("got %+v", e)
			}
			rec := httptest.NewRecorder()
			e.Write(rec, "rid-1")
			if strings.Contains(rec.Body.String(), "10.1.2.3") {
				t.Fatalf("internal detail leaked: %s", rec.Body)
			}
			var body struct {
				Error struct{ Message, Type, Code, RequestID string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || body.Error.Code != tc.wantCode || body.Error.Type == "" || body.Error.Message == "" {
				t.Fatalf("body %s", rec.Body)
			}
		})
	}
	if TypeFor(429) != "rate_limit_error" || TypeFor(401) != "authentication_error" || TypeFor(400) != "invalid_request_error" {
		t.Fatal("TypeFor mapping")
	}
}

func TestAnthropicShape(t *testing.T) {
	for status, want := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
		404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
		503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"} {
		if got := AnthropicType(status); got != want {
			t.Errorf("AnthropicType(%d) = %q; want %q", status, got, want)
		}
	}
	e := New(http.StatusTooManyRequests, "rate_limit_exceeded", "slow down")
	for path, want := range map[string]string{
		"/v1/messages":                    `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"r1"}` + "\n",
		"/p/m/v1/messages/count_tokens":   `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"r1"}` + "\n",
		"/v1/chat/completions":            `{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded","request_id":"r1"}}` + "\n",
		"/v1/messages-not-the-api/really": `{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded","request_id":"r1"}}` + "\n",
	} {
		w := httptest.NewRecorder()
		e.WriteFor(w, path, "r1")
		if w.Code != 429 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %s", path, w.Code, w.Body.String())
		}
	}
}
