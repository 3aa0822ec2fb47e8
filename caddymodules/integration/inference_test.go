// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

func sdk(baseURL string, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(baseURL), option.WithAPIKey("sk-client"), option.WithMaxRetries(0)}, opts...)...)
}

// TestInferenceWithOpenAISDK drives the static dsp_openai site with the official OpenAI Go SDK.
func TestInferenceWithOpenAISDK(t *testing.T) {
	requireIntegration(t)
	registerSecret("sk-upstream")
	llm := startFakeLLM(t, fakellm.Options{})
	var flakyHits atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flakyHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`)
	}))
	t.Cleanup(flaky.Close)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_openai {
			provider fake openai {
				base_url %s/v1
				api_key sk-upstream
			}
			provider flaky openai {
				base_url %s/v1
			}
			provider canned mock {
				text "canned answer from the mock"
			}
			model gpt-4o fake:fake-gpt
			model mocky canned
			model resilient {
				target flaky fake-gpt priority 0
				target fake fake-gpt priority 1
			}
		}
	}
	handle_errors {
		dsp_error
	}
}
`, llm.URL, flaky.URL))
	ctx := context.Background()
	c := sdk(f.url("/v1/"))

	t.Run("chat", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != "echo: hello gateway" || res.Usage.TotalTokens == 0 {
			t.Fatalf("parsed %+v", res)
		}
	})
	t.Run("chat streamed", func(t *testing.T) {
		stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream this please")}})
		acc := openai.ChatCompletionAccumulator{}
		usageChunks := 0
		for stream.Next() {
			ch := stream.Current()
			acc.AddChunk(ch)
			if len(ch.Choices) == 0 && ch.Usage.TotalTokens > 0 {
				usageChunks++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].Message.Content != "echo: stream this please" {
			t.Fatalf("accumulated %q", acc.Choices[0].Message.Content)
		}
		if usageChunks != 0 {
			t.Fatal("the usage chunk FD2 asked the provider for reached a client that did not ask for it")
		}
	})
	t.Run("chat streamed with include_usage", func(t *testing.T) {
		stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count me")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var usage int64
		for stream.Next() {
			if u := stream.Current().Usage.TotalTokens; u > 0 {
				usage = u
			}
		}
		if err := stream.Err(); err != nil || usage == 0 {
			t.Fatalf("usage %d err %v", usage, err)
		}
	})
	t.Run("completions, embeddings, models", func(t *testing.T) {
		comp, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "gpt-4o",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("say hi")}})
		if err != nil || len(comp.Choices) == 0 {
			t.Fatalf("completion %+v %v", comp, err)
		}
		emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "gpt-4o",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed me")}})
		if err != nil || len(emb.Data) != 1 || len(emb.Data[0].Embedding) == 0 {
			t.Fatalf("embedding %+v %v", emb, err)
		}
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, m := range page.Data {
			ids[m.ID] = true
		}
		if !ids["gpt-4o"] || !ids["mocky"] || !ids["resilient"] {
			t.Fatalf("models %v", ids)
		}
	})
	t.Run("mock provider", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mocky",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
		if err != nil || res.Choices[0].Message.Content != "canned answer from the mock" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("fallback on 503", func(t *testing.T) {
		before := flakyHits.Load()
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "resilient",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("survive")}})
		if err != nil || res.Choices[0].Message.Content != "echo: survive" {
			t.Fatalf("%+v %v", res, err)
		}
		if flakyHits.Load() == before {
			t.Fatal("the failing deployment was not tried first")
		}
	})
	t.Run("unknown model is 404 model_not_found", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad JSON is 400", func(t *testing.T) {
		r := do(t, "POST", f.url("/v1/chat/completions"), `{"model":`)
		expectStatus(t, r, 400)
		r.errorCode(t)
	})
}

// TestInferenceModuleAndAIProxy serves a manifest's inference_endpoint module and an ai-proxy route, and
// enforces an API key's model allowlist.
func TestInferenceModuleAndAIProxy(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "ai", fmt.Sprintf(`{"project_id":"ai","project_name":"ai","modules":[
	  {"module_type":"inference_endpoint","name":"assistant","config":{"endpoint_url":"%[1]s/v1","model_name":"fake-gpt",
	    "system_prompt":"You are terse.","max_tokens":50}},
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[
	    {"name":"groq","uri":"/ai/groq/*","methods":["POST"],
	     "plugins":{"ai-proxy":{"provider":"openai-compatible","auth":{"header":{"Authorization":"Bearer sk-up"}},
	       "options":{"model":"fake-gpt"},"override":{"endpoint":"%[1]s/v1/chat/completions"}},
	       "ai-prompt-decorator":{"prepend":[{"role":"system","content":"Decorated."}]}}}]}}]}`, llm.URL))
	f := startFD2(t, "manifests file "+dir, authPipeline)
	ctx := context.Background()

	c := sdk(f.url("/ai/assistant/v1/"))
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fake-gpt",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("module route")}})
	if err != nil || res.Choices[0].Message.Content != "echo: module route" {
		t.Fatalf("module route: %+v %v", res, err)
	}
	// ai-proxy: any client model is replaced by options.model; the decorator adds a system message.
	r := do(t, "POST", f.url("/ai/groq/v1/chat/completions"), `{"model":"whatever","messages":[{"role":"user","content":"via ai-proxy"}]}`)
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), "echo: via ai-proxy") || !strings.Contains(string(r.body), `"model":"fake-gpt"`) {
		t.Fatalf("ai-proxy answer %s", r.body)
	}
}

// TestStreamCancellation: the client goes away after 3 events; the provider sees its request cancelled
// within 100 ms.
func TestStreamCancellation(t *testing.T) {
	requireIntegration(t)
	cancelled := make(chan time.Time, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- time.Now()
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	dsp_openai {
		provider slow openai {
			base_url %s/v1
		}
	}
}
`, up.URL))
	req, _ := http.NewRequest("POST", f.url("/v1/chat/completions"), strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"go"}]}`))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	events := 0
	for sc.Scan() && events < 3 {
		if strings.HasPrefix(sc.Text(), "data:") {
			events++
		}
	}
	closed := time.Now()
	res.Body.Close()
	select {
	case at := <-cancelled:
		// A gateway that noticed only when a write failed would take until the socket buffers filled (tens
		// of seconds at this rate); 500ms leaves room for a loaded CI machine running the race detector.
		if d := at.Sub(closed); d > 500*time.Millisecond {
			t.Fatalf("the provider saw the cancellation after %v", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the provider never saw the client go away")
	}
}

// TestInferenceAllowlistAndTokenLimits: an API key limited to some models gets 403 model_not_allowed for
// others, and the tokens a completion used (reported by the provider through the engine) are what the
// token limit charges.
func TestInferenceAllowlistAndTokenLimits(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	keyFile := t.TempDir() + "/keys.json"
	plain, rec, err := newKeyModels("team", []string{"gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, keyFile, rec)
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			api_keys file %s
		}
		dsp_ratelimit {
			tokens 1000/h
			store memory
			default_max_tokens 100
		}
		dsp_openai {
			provider fake openai {
				base_url %s/v1
			}
			model gpt-4o fake:fake-gpt
			model gpt-4o-mini fake:fake-gpt
		}
	}
	handle_errors {
		dsp_error
	}
}
`, keyFile, llm.URL))
	c := sdk(f.url("/v1/"), option.WithAPIKey(plain))
	ctx := context.Background()
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "model_not_allowed" {
		t.Fatalf("disallowed model: %v", err)
	}
	res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three")}})
	if err != nil {
		t.Fatal(err)
	}
	used := res.Usage.TotalTokens
	// The next request's reservation is taken from 1000 − used (the first reservation was settled to the
	// provider's usage), so its remaining header tells what was charged.
	r := do(t, "POST", f.url("/v1/chat/completions"), `{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"again"}]}`,
		"X-API-Key", plain)
	expectStatus(t, r, 200)
	var remaining int64
	fmt.Sscan(r.header.Get("X-RateLimit-Remaining"), &remaining)
	reserved := 1000 - used - remaining
	if used <= 0 || reserved < 100 || reserved > 120 {
		t.Fatalf("used %d, remaining %d: the second request reserved %d (want max_tokens 100 + a small prompt estimate)", used, remaining, reserved)
	}
}
