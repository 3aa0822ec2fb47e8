// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/inference"
)

func TestGenAINames(t *testing.T) {
	for kind, want := range map[string]string{"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic",
		"gemini": "gcp.gemini", "": "_OTHER"} {
		if got := genaiProvider(kind); got != want {
			t.Errorf("genaiProvider(%q) = %q, want %q", kind, got, want)
		}
	}
	for ep, want := range map[string]string{"chat/completions": "chat", "responses": "chat", "completions": "text_completion",
		"embeddings": "embeddings", "audio/speech": "audio/speech", "../../etc": "other", "": "other"} {
		if got := genaiOperation(ep); got != want {
			t.Errorf("genaiOperation(%q) = %q, want %q", ep, got, want)
		}
	}
	for status, want := range map[int]string{200: "", 201: "", 429: "429", 499: "cancelled", 502: "502"} {
		if got := genaiErrorType(status); got != want {
			t.Errorf("genaiErrorType(%d) = %q, want %q", status, got, want)
		}
	}
}

// TestHooksRecord: one call's events land in FD2's and the GenAI families with the right labels, the
// bound series are reused, other statuses and token sources are recorded too, and model names beyond the
// guard's cap fold into "other" in every family.
func TestHooksRecord(t *testing.T) {
	h := hooks("hp", "chat/completions")
	h.OnProviderDone("hp/dep", "anthropic", "claude-x", 200, 30*time.Millisecond)
	h.OnFirstToken("hp/dep", "anthropic", "claude-x", 10*time.Millisecond)
	h.OnUsage("hp/dep", "anthropic", "claude-x", inference.Usage{PromptTokens: 7, CompletionTokens: 5})
	h.OnUsage("hp/dep", "anthropic", "claude-x", inference.Usage{PromptTokens: 3, CompletionTokens: 1, Source: "tokenizer"})
	h.OnProviderDone("hp/dep", "anthropic", "claude-x", 529, time.Millisecond)

	checks := []struct {
		got  float64
		want float64
		name string
	}{
		{testutil.ToFloat64(tokensTotal.WithLabelValues("hp", "hp/dep", "claude-x", "prompt", "provider")), 7, "prompt tokens (provider)"},
		{testutil.ToFloat64(tokensTotal.WithLabelValues("hp", "hp/dep", "claude-x", "completion", "tokenizer")), 1, "completion tokens (tokenizer)"},
		{float64(testutil.CollectAndCount(genaiTokenUsage)), 2, "gen_ai token usage series"},
		{float64(testutil.CollectAndCount(genaiDuration)), 2, "gen_ai duration series (ok and 529)"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	b1, _ := seriesFor("hp", "hp/dep", "anthropic", "claude-x", "chat")
	b2, _ := seriesFor("hp", "hp/dep", "anthropic", "claude-x", "chat")
	if b1 != b2 {
		t.Error("seriesFor does not reuse the bound series")
	}

	// Fill the model guard, then one more name: it is recorded as "other".
	for i := 0; i < fd2metrics.Models.Max+5; i++ {
		h.OnProviderDone("hp/dep", "openai", fmt.Sprintf("m-%d", i), 200, time.Millisecond)
	}
	var m dto.Metric
	if err := providerDuration.WithLabelValues("hp/dep", fd2metrics.Other, "200").(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	// The guard may have admitted names from earlier tests of this package; at least the last 5 fold.
	if n := m.GetHistogram().GetSampleCount(); n < 5 {
		t.Errorf("calls folded into model=other: %d, want at least 5", n)
	}
}
