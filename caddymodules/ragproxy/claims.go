// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"encoding/json"
	"net/http"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
)

// FilterClaim is the token claim the DSP JWT service puts a caller's document filter in.
const FilterClaim = "metadata_filter"

// claimFilter is the document filter the caller's credential imposes (nil: none). A claim that is not an
// object cannot be enforced, so the request is refused rather than served unfiltered.
func claimFilter(p *auth.Principal) (json.RawMessage, error) {
	if p == nil || p.Claims == nil {
		return nil, nil
	}
	v, ok := p.Claims[FilterClaim]
	if !ok || v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, apierr.New(http.StatusForbidden, "invalid_filter_claim",
			"the credential's "+FilterClaim+" claim is not an object, so it cannot be enforced")
	}
	if len(obj) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, apierr.Wrap(http.StatusForbidden, "invalid_filter_claim", "the credential's "+FilterClaim+" claim cannot be encoded", err)
	}
	return b, nil
}
