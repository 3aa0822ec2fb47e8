// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/openai"
)

// An OpenAI embeddings request's dimensions maps to outputDimensionality, which Gemini honours by
// truncating the vector on models that support it; unlike OpenAI, Gemini does not re-normalise every
// truncated vector, and the values are passed on unchanged. user is ignored. The answer's usage is always
// present, since OpenAI clients read it unconditionally; zeros mean unknown (see below).

// gmEmbedRequest is one EmbedContentRequest of a batch. taskType and title stay unset: OpenAI has no
// such hints, so Gemini's default task applies.
type gmEmbedRequest struct {
	Model                string    `json:"model"`
	Content              gmContent `json:"content"`
	OutputDimensionality *int64    `json:"outputDimensionality,omitempty"`
}

// gmEmbedResponse holds one embedding per request, in request order; usageMetadata is often absent.
type gmEmbedResponse struct {
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
	UsageMetadata *struct {
		PromptTokenCount int64 `json:"promptTokenCount"`
		TotalTokenCount  int64 `json:"totalTokenCount"`
	} `json:"usageMetadata"`
}

// embeddings serves embeddings through batchEmbedContents, one request per input.
// A batch keeps a multi-input request to one upstream call, with one status and one error for all.
func (p *Provider) embeddings(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	var oa openai.EmbeddingRequest
	if err := json.Unmarshal(req.Body, &oa); err != nil {
		return nil, p.badRequest("parsing embeddings request: %v", err)
	}
	inputs, err := embeddingInputs(oa.Input)
	// ErrUnsupported passes through as is, so the router tries another deployment instead of
	// failing the request as a bad one.
	if errors.Is(err, inference.ErrUnsupported) {
		return nil, err
	}
	if err != nil {
		return nil, p.badRequest("%v", err)
	}
	// base64 is what the official OpenAI SDKs request by default (they decode it transparently), so it
	// must work; anything else is a client error.
	switch oa.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, p.badRequest("unknown encoding_format %q", oa.EncodingFormat)
	}
	// As for chat, the deployment's upstream model name wins over the body's.
	model := req.Model
	if model == "" {
		model = oa.Model
	}
	if model == "" {
		return nil, p.badRequest("model is required")
	}
	// Each request names its model in full ("models/x"); Gemini rejects a batch whose requests name
	// another model than the URL.
	var batch struct {
		Requests []gmEmbedRequest `json:"requests"`
	}
	// One request per input, each a single text part. outputDimensionality is repeated in each
	// because the batch has no request-wide setting.
	for _, in := range inputs {
		batch.Requests = append(batch.Requests, gmEmbedRequest{
			Model:                "models/" + modelPath(model),
			Content:              gmContent{Parts: []gmPart{{Text: in}}},
			OutputDimensionality: oa.Dimensions,
		})
	}
	body, err := json.Marshal(batch)
	if err != nil {
		return nil, fmt.Errorf("encoding gemini embeddings request: %w", err)
	}
	up, err := p.post(ctx, "/v1beta/models/"+modelPath(model)+":batchEmbedContents", body, false)
	if err != nil {
		return nil, err
	}
	defer up.release()
	var gresp gmEmbedResponse
	if err := p.decodeAnswer(up, &gresp); err != nil {
		return nil, err
	}
	// Vectors are paired with inputs by position only, so a count mismatch would misattribute them:
	// it is an upstream fault, not something to pass on.
	if len(gresp.Embeddings) != len(inputs) {
		return nil, &inference.ProviderError{Provider: p.name, Status: http.StatusBadGateway, Type: "api_error",
			Message: fmt.Sprintf("gemini returned %d embeddings for %d inputs", len(gresp.Embeddings), len(inputs)), Retryable: true}
	}
	// The model echoed is the client's name for it, as for chat.
	out := openai.EmbeddingList{Object: "list", Data: []openai.Embedding{}, Model: oa.Model}
	if out.Model == "" {
		out.Model = model
	}
	for i, e := range gresp.Embeddings {
		var v any = e.Values
		// proto3 JSON leaves out empty lists, so an empty vector arrives without "values".
		if e.Values == nil {
			v = []float64{} // an empty vector, never JSON null
		}
		// base64 packs float32s, OpenAI's format: only digits beyond float32 precision are lost,
		// which no client can tell from an OpenAI vector.
		if oa.EncodingFormat == "base64" {
			v = float32Base64(e.Values)
		}
		out.Data = append(out.Data, openai.Embedding{Object: "embedding", Index: i, Embedding: v})
	}
	// batchEmbedContents usually reports no usage; 0 tells the engine to count with its tokenizer.
	if u := gresp.UsageMetadata; u != nil {
		out.Usage.PromptTokens = u.PromptTokenCount
		out.Usage.TotalTokens = u.TotalTokenCount
		// Embeddings produce no output tokens, so the total is the prompt when Gemini leaves it out.
		if out.Usage.TotalTokens == 0 {
			out.Usage.TotalTokens = u.PromptTokenCount
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding embeddings: %w", err)
	}
	return &inference.Response{Status: http.StatusOK, Header: jsonHeader(), Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// embeddingInputs reads input: a string or an array of strings. Token arrays have no Gemini equivalent;
// they are ErrUnsupported, so the router can send them to a deployment that takes them.
func embeddingInputs(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	// An empty list is refused, as OpenAI does: Gemini rejects a batch without requests.
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list, nil
	}
	// Token input (a list of numbers or of number lists) is told apart by its first element not
	// starting with a quote; checked last, because a list of strings decodes as raw values too.
	var tokens []json.RawMessage
	if json.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 && tokens[0][0] != '"' {
		return nil, fmt.Errorf("gemini embeddings take no token input: %w", inference.ErrUnsupported)
	}
	return nil, errors.New("input must be a string or a non-empty array of strings")
}

// float32Base64 encodes a vector as OpenAI's base64 format: little-endian float32s.
// The layout matches numpy.frombuffer(data, dtype=float32), which is how the SDKs decode it.
func float32Base64(v []float64) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
