// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// TestHonestProviderErrors drives a static dsp_openai site whose providers misbehave, with the official
// OpenAI Go SDK: what the client sees for a provider's 429, 401/403 and timeout, breakers per deployment,
// and the provider metrics labelled with the provider's own status.
func TestHonestProviderErrors(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	var limitedHits, badKeyHits, brokenHits atomic.Int64
	limited := func(retryAfter string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			limitedHits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"quota exceeded","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
		}))
		t.Cleanup(s.Close)
		return s
	}
	limitedA, limitedB := limited("7"), limited("3")
	badKey := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badKeyHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
	}))
	t.Cleanup(badKey.Close)
	// One provider account whose "broken" model fails and whose other models work.
	partly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, _ := io.ReadAll(r.Body); strings.Contains(string(body), `"broken-model"`) {
			brokenHits.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"message":"model crashed","type":"server_error"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"fine-model","choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(partly.Close)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)

	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	handle /metrics {
		metrics
	}
	route /v1/* {
		dsp_openai {
			name honest
			provider pe_limited_a openai {
				base_url %[1]s/v1
			}
			provider pe_limited_b openai {
				base_url %[2]s/v1
			}
			provider pe_badkey openai {
				base_url %[3]s/v1
			}
			provider pe_partly openai {
				base_url %[4]s/v1
			}
			provider pe_hang {
				type openai
				base_url %[5]s/v1
				first_byte_timeout 300ms
			}
			provider pe_fake openai {
				base_url %[6]s/v1
			}
			model limited {
				target pe_limited_a m priority 0
				target pe_limited_b m priority 1
			}
			model badkey pe_badkey:m
			model badkey-with-backup {
				target pe_badkey m2 priority 0
				target pe_fake fake-gpt priority 1
			}
			model broken pe_partly:broken-model
			model fine pe_partly:fine-model
			model slow pe_hang:m
			model llama-* pe_fake
			breaker_open_for 10m
		}
	}
}
`, limitedA.URL, limitedB.URL, badKey.URL, partly.URL, hang.URL, llm.URL))
	ctx := context.Background()
	c := sdk(f.url("/v1/"))
	chat := func(model string) (*openai.ChatCompletion, error) {
		return c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	}
	apiError := func(t *testing.T, err error, status int, code string) *openai.Error {
		t.Helper()
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != status || ae.Code != code {
			t.Fatalf("err = %v; want %d %s", err, status, code)
		}
		return ae
	}

	t.Run("429 after every deployment: rate_limit_exceeded with the soonest Retry-After", func(t *testing.T) {
		_, err := chat("limited")
		ae := apiError(t, err, 429, "rate_limit_exceeded")
		if ae.Type != "rate_limit_error" || ae.Response.Header.Get("Retry-After") != "3" {
			t.Fatalf("type %q, Retry-After %q; want rate_limit_error and 3", ae.Type, ae.Response.Header.Get("Retry-After"))
		}
		if limitedHits.Load() != 2 {
			t.Fatalf("%d provider calls; want one per deployment", limitedHits.Load())
		}
		// Both rest now: the next call reaches no provider and is told when the first is back.
		_, err = chat("limited")
		ae = apiError(t, err, 429, "rate_limit_exceeded")
		if ra := ae.Response.Header.Get("Retry-After"); ra != "3" && ra != "2" {
			t.Fatalf("Retry-After %q while resting", ra)
		}
		if limitedHits.Load() != 2 {
			t.Fatalf("a resting deployment was called: %d calls", limitedHits.Load())
		}
	})
	t.Run("the provider refuses FD2's key: 502 provider_auth_failed, breaker open", func(t *testing.T) {
		_, err := chat("badkey")
		ae := apiError(t, err, 502, "provider_auth_failed")
		if strings.Contains(ae.Message, "Incorrect API key") {
			t.Fatalf("the provider's words about FD2's key reached the client: %q", ae.Message)
		}
		_, err = chat("badkey")
		apiError(t, err, 502, "upstream_error") // the breaker is open: no call
		if badKeyHits.Load() != 1 {
			t.Fatalf("%d calls to a provider refusing FD2's key; want 1", badKeyHits.Load())
		}
		// Another deployment serves the alias whose first one has a bad key.
		if res, err := chat("badkey-with-backup"); err != nil || res.Choices[0].Message.Content != "echo: hi" {
			t.Fatalf("fallback after a bad key: %v", err)
		}
	})
	t.Run("breakers are per deployment", func(t *testing.T) {
		for range 5 {
			_, err := chat("broken")
			apiError(t, err, 502, "upstream_error")
		}
		_, err := chat("broken")
		apiError(t, err, 502, "upstream_error")
		if brokenHits.Load() != 5 {
			t.Fatalf("%d calls to the broken model; want 5, then the breaker", brokenHits.Load())
		}
		if res, err := chat("fine"); err != nil || res.Choices[0].Message.Content != "fine" {
			t.Fatalf("the provider's healthy model was blocked: %v", err)
		}
	})
	t.Run("timeout: 504", func(t *testing.T) {
		_, err := chat("slow")
		apiError(t, err, 504, "upstream_error")
	})
	t.Run("metrics carry the provider's own status", func(t *testing.T) {
		// Model labels pass a process-wide cap (metrics.Models): in a full run other tests may have used it
		// up, and the label is then "other", as it was for FD2 when it recorded these.
		m := metrics.Models.Value
		for series, want := range map[string]string{
			`fd2_provider_request_duration_seconds_count{code="429",model="` + m("m") + `",provider="pe_limited_a"}`:         "1",
			`fd2_provider_request_duration_seconds_count{code="401",model="` + m("m") + `",provider="pe_badkey"}`:            "1",
			`fd2_provider_request_duration_seconds_count{code="500",model="` + m("broken-model") + `",provider="pe_partly"}`: "5",
			`fd2_provider_request_duration_seconds_count{code="200",model="` + m("fine-model") + `",provider="pe_partly"}`:   "1",
			`fd2_breaker_state{model="` + m("broken-model") + `",provider="pe_partly"}`:                                      "1",
			`fd2_breaker_state{model="` + m("m") + `",provider="pe_badkey"}`:                                                 "1",
			`fd2_provider_skipped_total{model="` + m("m") + `",provider="pe_limited_a",reason="rate_limited"}`:               "1",
			`fd2_provider_skipped_total{model="` + m("broken-model") + `",provider="pe_partly",reason="circuit_open"}`:       "1",
			`fd2_requests_total{code="429",module="",project="honest",route=""}`:                                             "2",
			`fd2_requests_total{code="502",module="",project="honest",route=""}`:                                             "8",
		} {
			if got := metricLine(t, f, series); got != want {
				t.Errorf("%s = %q; want %s", series, got, want)
			}
		}
	})
	t.Run("a static site's responses carry X-Request-Id and Server-Timing", func(t *testing.T) {
		r := do(t, "POST", f.url("/v1/chat/completions"), `{"model":"fine","messages":[{"role":"user","content":"x"}]}`,
			"Content-Type", "application/json", "X-Request-Id", "static-rid-1")
		expectStatus(t, r, 200)
		if r.header.Get("X-Request-Id") != "static-rid-1" || !strings.HasPrefix(r.header.Get("Server-Timing"), "fd2;dur=") ||
			!strings.Contains(r.header.Get("Server-Timing"), "upstream;dur=") {
			t.Fatalf("headers %v", r.header)
		}
		if metricLine(t, f, `fd2_overhead_seconds_count{project="honest"}`) == "" {
			t.Fatal("no fd2_overhead_seconds for the static site")
		}
	})
	t.Run("models", func(t *testing.T) {
		r := do(t, "GET", f.url("/v1/models"), "")
		expectStatus(t, r, 200)
		// The exact aliases, and the llama-* wildcard's provider's own models it matches (the fake lists
		// only fake-gpt, which llama-* does not match).
		for _, id := range []string{`"id":"limited"`, `"id":"fine"`, `"id":"slow"`} {
			if !strings.Contains(string(r.body), id) {
				t.Fatalf("%s missing from %s", id, r.body)
			}
		}
		if strings.Contains(string(r.body), `llama-*`) {
			t.Fatalf("a wildcard alias listed as a model: %s", r.body)
		}
		expectStatus(t, do(t, "GET", f.url("/v1/models/fine"), ""), 200)
		expectStatus(t, do(t, "GET", f.url("/v1/models/llama-does-not-exist"), ""), 404)
	})
	t.Run("a call naming no model without a default provider", func(t *testing.T) {
		r := do(t, "GET", f.url("/v1/files"), "")
		expectStatus(t, r, 400)
		if code := r.errorCode(t); code != "no_default_provider" {
			t.Fatalf("code %q", code)
		}
	})
}

// TestDefaultProvider: a site's default_provider serves calls that name no model, and lists its models
// for a "*" site.
func TestDefaultProvider(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_openai {
			provider openai {
				base_url %[1]s/v1
			}
			model gpt-4o openai:fake-gpt
			default_provider openai
		}
	}
	route /any/v1/* {
		dsp_openai {
			provider star openai {
				base_url %[1]s/v1
			}
		}
	}
}
`, llm.URL))
	// The fake has no /v1/files: its 404 proves the call reached the default provider.
	r := do(t, "GET", f.url("/v1/files"), "")
	if r.status != 404 || strings.Contains(string(r.body), "model_not_found") {
		t.Fatalf("GET /v1/files: %d %s; want the provider's own 404", r.status, r.body)
	}
	// A "*" site lists what its provider lists, and knows nothing else.
	r = do(t, "GET", f.url("/any/v1/models"), "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"id":"fake-gpt"`) {
		t.Fatalf("models of a * site: %s", r.body)
	}
	expectStatus(t, do(t, "GET", f.url("/any/v1/models/fake-gpt"), ""), 200)
	expectStatus(t, do(t, "GET", f.url("/any/v1/models/not-a-model"), ""), 404)
}
