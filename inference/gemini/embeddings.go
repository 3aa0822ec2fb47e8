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
)

type oaEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int64          `json:"dimensions"`
}

type gmEmbedRequest struct {
	Model                string    `json:"model"`
	Content              gmContent `json:"content"`
	OutputDimensionality *int64    `json:"outputDimensionality,omitempty"`
}

type gmEmbedResponse struct {
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
	UsageMetadata *struct {
		PromptTokenCount int64 `json:"promptTokenCount"`
		TotalTokenCount  int64 `json:"totalTokenCount"`
	} `json:"usageMetadata"`
}

type oaEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float64, or a base64 string for encoding_format=base64
}

type oaEmbeddingList struct {
	Object string        `json:"object"`
	Data   []oaEmbedding `json:"data"`
	Model  string        `json:"model"`
	Usage  struct {
		PromptTokens int64 `json:"prompt_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
	} `json:"usage"`
}

// embeddings serves embeddings through batchEmbedContents, one request per input.
func (p *Provider) embeddings(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	var oa oaEmbeddingRequest
	if err := json.Unmarshal(req.Body, &oa); err != nil {
		return nil, p.badRequest("parsing embeddings request: %v", err)
	}
	inputs, err := embeddingInputs(oa.Input)
	if errors.Is(err, inference.ErrUnsupported) {
		return nil, err
	}
	if err != nil {
		return nil, p.badRequest("%v", err)
	}
	switch oa.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, p.badRequest("unknown encoding_format %q", oa.EncodingFormat)
	}
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
	defer up.close()
	raw, err := io.ReadAll(io.LimitReader(up.body, maxResponseBytes))
	if err != nil {
		return nil, p.transportError(up.ctx, err)
	}
	var gresp gmEmbedResponse
	if err := json.Unmarshal(raw, &gresp); err != nil {
		return nil, &inference.ProviderError{Provider: p.name, Status: http.StatusBadGateway, Type: "api_error",
			Message: "gemini sent an unreadable answer", Retryable: true, Cause: err}
	}
	if len(gresp.Embeddings) != len(inputs) {
		return nil, &inference.ProviderError{Provider: p.name, Status: http.StatusBadGateway, Type: "api_error",
			Message: fmt.Sprintf("gemini returned %d embeddings for %d inputs", len(gresp.Embeddings), len(inputs)), Retryable: true}
	}
	out := oaEmbeddingList{Object: "list", Data: []oaEmbedding{}, Model: oa.Model}
	if out.Model == "" {
		out.Model = model
	}
	for i, e := range gresp.Embeddings {
		var v any = e.Values
		if e.Values == nil {
			v = []float64{} // an empty vector, never JSON null
		}
		if oa.EncodingFormat == "base64" {
			v = float32Base64(e.Values)
		}
		out.Data = append(out.Data, oaEmbedding{Object: "embedding", Index: i, Embedding: v})
	}
	// batchEmbedContents usually reports no usage; 0 tells the engine to count with its tokenizer.
	if u := gresp.UsageMetadata; u != nil {
		out.Usage.PromptTokens = u.PromptTokenCount
		out.Usage.TotalTokens = u.TotalTokenCount
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
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list, nil
	}
	var tokens []json.RawMessage
	if json.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 && tokens[0][0] != '"' {
		return nil, fmt.Errorf("gemini embeddings take no token input: %w", inference.ErrUnsupported)
	}
	return nil, errors.New("input must be a string or a non-empty array of strings")
}

// float32Base64 encodes a vector as OpenAI's base64 format: little-endian float32s.
func float32Base64(v []float64) string {
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
