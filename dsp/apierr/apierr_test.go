// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
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
