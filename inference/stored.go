// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// ResponseStore is FD2's short-term store of the Responses API's responses, as the Engine uses it
// (package responses implements it): responses FD2 produced over providers without that API are kept
// whole, and those an OpenAI-compatible provider keeps itself are remembered with the model that made
// them, so that calls naming the id find their way back.
type ResponseStore interface {
	// ServeStored answers a call on a response FD2 keeps whole (GET or DELETE responses/{id},
	// responses/{id}/input_items); found=false when FD2 does not hold it. err is an *apierr.Error to
	// answer with, nothing having been written.
	ServeStored(w http.ResponseWriter, r *http.Request, endpoint string) (found bool, err error)
	// Owner returns the model (client-facing name) that created the response id, "" if unknown.
	Owner(ctx context.Context, id string) string
	// Remember records that model created the response id, unless the store holds it already.
	Remember(ctx context.Context, id, model string)
	// Forget drops what the store knows of id (the provider deleted it).
	Forget(ctx context.Context, id string)
}

type clientModelKey struct{}

// WithClientModel returns ctx carrying the model the client named (see ClientModel).
func WithClientModel(ctx context.Context, model string) context.Context {
	return context.WithValue(ctx, clientModelKey{}, model)
}

// ClientModel returns the model the client named for the call ctx belongs to (the alias, before any
// mapping to a provider's model), "" when unknown. Providers that keep state for later calls (the
// Responses API's store) record it as the state's owner.
func ClientModel(ctx context.Context) string {
	s, _ := ctx.Value(clientModelKey{}).(string)
	return s
}

// responseID returns the id of a response endpoint's call ("responses/{id}[/…]"), "" for others.
func responseID(endpoint string) string {
	rest, ok := strings.CutPrefix(endpoint, EndpointResponses+"/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// serveResponseCall serves a call naming a response id: from the store when FD2 keeps the response, else
// through the provider of the model that created it (or, not knowing it, the model-less route). A
// caller restricted to some models reaches only the responses of those.
func (e *Engine) serveResponseCall(w http.ResponseWriter, r *http.Request, endpoint, id string) error {
	owner := e.Responses.Owner(r.Context(), id)
	if owner != "" && !e.allowed(owner) {
		return apierr.New(http.StatusNotFound, "response_not_found", "no response with id "+id)
	}
	found, err := e.Responses.ServeStored(w, r, endpoint)
	if found || err != nil {
		return err
	}
	model := ""
	switch {
	case owner != "" && e.Backend.Known(owner):
		model = owner
	case !e.Backend.Known(ModellessAlias):
		// Neither FD2 nor a provider it could ask knows the id.
		return apierr.New(http.StatusNotFound, "response_not_found", "no response with id "+id)
	}
	err = e.servePassThrough(w, r, endpoint, model)
	if err == nil && r.Method == http.MethodDelete && endpoint == EndpointResponses+"/"+id {
		e.Responses.Forget(r.Context(), id)
	}
	return err
}

// createdResponseID finds the id of a response a POST /v1/responses created: in the JSON answer, or in a
// stream's response.created event.
func createdResponseID(body []byte) string {
	if id := gjson.GetBytes(body, "id"); id.Type == gjson.String {
		return id.Str
	}
	return gjson.GetBytes(body, "response.id").Str
}
