// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package responses serves OpenAI's Responses API (POST /v1/responses) over any provider that speaks
// chat/completions, and keeps FD2's own short-term store of the responses it created.
//
// Over decorates a provider: a Responses request is translated to chat/completions (streamed or not),
// sent to the provider, and its answer translated back to a response object or to the Responses API's
// semantic stream events. What the Responses API does server-side and a chat provider cannot (built-in
// tools, background runs, automatic truncation, prompt templates, stored conversations, file ids) is
// refused with a 400 naming the parameter, never silently dropped. previous_response_id is served from
// a Store: each stored record holds its whole conversation, so a continuation is one lookup.
//
// The store is short-term (DefaultTTL, 24 hours; OpenAI keeps responses for 30 days) and bounded
// (MaxRecordBytes per response). A response that was not stored says so with "store": false.
package responses

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/inference"
)

// Over returns p able to serve the Responses API by translating it to chat/completions (non-stream and
// stream) and back, keeping conversation state in store for previous_response_id. Other endpoints go to p.
// The returned provider keeps p's Name and Kind. A nil store stores nothing: every answer says
// "store": false and previous_response_id is never found.
func Over(p inference.Provider, store Store) inference.Provider {
	return &provider{p: p, store: store, now: time.Now, newID: newID}
}

type provider struct {
	p     inference.Provider
	store Store
	// now and newID are the clock and the id source; tests make them deterministic.
	now   func() time.Time
	newID func(prefix string) string
}

func (o *provider) clock() time.Time           { return o.now() }
func (o *provider) idFor(prefix string) string { return o.newID(prefix) }

func (o *provider) Name() string { return o.p.Name() }
func (o *provider) Kind() string { return o.p.Kind() }

// Do translates POST responses and passes every other call to the wrapped provider. A call naming a
// response id (responses/{id}…) that reaches it names one FD2 does not hold (responses FD2 stored are
// answered by ServeStored before routing), and this provider keeps none itself: 404.
func (o *provider) Do(ctx context.Context, req *inference.Request) (*inference.Response, error) {
	ep := strings.Trim(req.Endpoint, "/")
	if id, ok := strings.CutPrefix(ep, inference.EndpointResponses+"/"); ok {
		id, _, _ = strings.Cut(id, "/")
		return nil, &inference.ProviderError{Provider: o.Name(), Status: http.StatusNotFound, Type: "invalid_request_error",
			Code: "response_not_found", Message: "no response with id " + strconv.Quote(id)}
	}
	if ep != inference.EndpointResponses || (req.Method != "" && req.Method != http.MethodPost) {
		return o.p.Do(ctx, req)
	}
	tr, err := o.translate(ctx, req)
	if err != nil {
		return nil, err
	}
	creq := &inference.Request{
		Endpoint:    inference.EndpointChat,
		Method:      http.MethodPost,
		Body:        tr.chatBody,
		ContentType: "application/json",
		Model:       req.Model,
		Stream:      tr.stream,
		Header:      req.Header,
	}
	resp, err := o.p.Do(ctx, creq)
	if err != nil {
		return nil, err
	}
	if tr.stream {
		return o.stream(ctx, tr, resp), nil
	}
	return o.complete(ctx, tr, resp)
}

// ownerFrom is the model (client-facing alias) a Responses request was sent to, which becomes the stored
// record's Owner: the engine puts it in the call's context.
func ownerFrom(ctx context.Context) string { return inference.ClientModel(ctx) }

// newID returns prefix followed by 48 random hex digits, the shape of OpenAI's ids.
func newID(prefix string) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return prefix + hex.EncodeToString(b[:])
}

// badRequest is a client error the provider call cannot fix: never retried, never counted against the
// deployment's health.
func (o *provider) badRequest(code, msg string) *inference.ProviderError {
	return &inference.ProviderError{Provider: o.p.Name(), Status: http.StatusBadRequest,
		Type: "invalid_request_error", Code: code, Message: msg}
}
