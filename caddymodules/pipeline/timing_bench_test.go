// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"net/http"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/plan"
)

// BenchmarkSetServerTiming: the Server-Timing and X-FD2-Overhead-Ms headers on a response that already has
// the ten headers a rate-limited inference response carries.
func BenchmarkSetServerTiming(b *testing.B) {
	st := &plan.Exchange{Start: time.Now().Add(-3 * time.Millisecond), UpstreamStart: time.Now().Add(-2 * time.Millisecond)}
	st.Stage = [plan.NumStages]time.Duration{20 * time.Microsecond, 8 * time.Microsecond, 3 * time.Microsecond, 5 * time.Microsecond}
	base := http.Header{}
	for _, k := range []string{"Content-Type", "Content-Length", "Date", "X-Request-Id", "Ratelimit-Policy", "Ratelimit",
		"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Openai-Processing-Ms"} {
		base.Set(k, "v")
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h := base.Clone()
		SetServerTiming(h, st, now)
	}
}

// BenchmarkCloneHeader is BenchmarkSetServerTiming's baseline (the clone alone).
func BenchmarkCloneHeader(b *testing.B) {
	base := http.Header{}
	for _, k := range []string{"Content-Type", "Content-Length", "Date", "X-Request-Id", "Ratelimit-Policy", "Ratelimit",
		"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Openai-Processing-Ms"} {
		base.Set(k, "v")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = base.Clone()
	}
}
