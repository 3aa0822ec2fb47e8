// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"errors"
	"net/http"
	"testing"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
)

func TestClaimFilter(t *testing.T) {
	cases := []struct {
		name     string
		p        *auth.Principal
		want     string // "" with wantCode "": no filter
		wantCode string
	}{
		{"no principal", nil, "", ""},
		{"no claims", &auth.Principal{Consumer: "c"}, "", ""},
		{"claim absent", &auth.Principal{Claims: map[string]any{"sub": "u"}}, "", ""},
		{"claim null", &auth.Principal{Claims: map[string]any{FilterClaim: nil}}, "", ""},
		{"empty object", &auth.Principal{Claims: map[string]any{FilterClaim: map[string]any{}}}, "", ""},
		{"object", &auth.Principal{Claims: map[string]any{FilterClaim: map[string]any{"tenant": "acme"}}}, `{"tenant":"acme"}`, ""},
		{"nested object", &auth.Principal{Claims: map[string]any{FilterClaim: map[string]any{
			"$and": []any{map[string]any{"tenant": "acme"}, map[string]any{"level": map[string]any{"$in": []any{1.0, 2.0}}}}}}},
			`{"$and":[{"tenant":"acme"},{"level":{"$in":[1,2]}}]}`, ""},
		{"string", &auth.Principal{Claims: map[string]any{FilterClaim: `{"tenant":"acme"}`}}, "", "invalid_filter_claim"},
		{"array", &auth.Principal{Claims: map[string]any{FilterClaim: []any{map[string]any{"tenant": "acme"}}}}, "", "invalid_filter_claim"},
		{"number", &auth.Principal{Claims: map[string]any{FilterClaim: 1.0}}, "", "invalid_filter_claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := claimFilter(tc.p)
			if tc.wantCode != "" {
				var ae *apierr.Error
				if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != tc.wantCode {
					t.Fatalf("err %v, want 403 %s", err, tc.wantCode)
				}
				if got != nil {
					t.Fatalf("filter %s returned with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if got != nil {
					t.Fatalf("filter %s, want none", got)
				}
				return
			}
			if string(got) != tc.want {
				t.Fatalf("filter %s, want %s", got, tc.want)
			}
		})
	}
}
