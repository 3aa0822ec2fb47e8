// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dsp-ai/fd2/inference"
)

// gmModelList is Gemini's answer to GET /v1beta/models.
type gmModelList struct {
	Models []struct {
		Name string `json:"name"` // "models/gemini-2.0-flash"
	} `json:"models"`
}

// models answers GET /v1/models with Gemini's own list in the OpenAI shape (ids without Gemini's
// "models/" prefix, the names clients send). One page of 1000 holds every model Gemini offers.
func (p *Provider) models(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	if req.Method != "" && req.Method != http.MethodGet {
		return nil, fmt.Errorf("gemini models %s: %w", req.Method, inference.ErrUnsupported)
	}
	up, err := p.call(ctx, http.MethodGet, "/v1beta/models?pageSize=1000", nil, false)
	if err != nil {
		return nil, err
	}
	defer up.release()
	var list gmModelList
	if err := p.decodeAnswer(up, &list); err != nil {
		return nil, err
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: make([]model, 0, len(list.Models))}
	for _, m := range list.Models {
		out.Data = append(out.Data, model{ID: strings.TrimPrefix(m.Name, "models/"), Object: "model", OwnedBy: "google"})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding model list: %w", err)
	}
	return &inference.Response{Status: http.StatusOK, Header: jsonHeader(), Body: io.NopCloser(strings.NewReader(string(b)))}, nil
}
