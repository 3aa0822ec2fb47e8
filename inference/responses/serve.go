// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package responses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/inference"
)

// ServeStored answers GET /v1/responses/{id}, GET /v1/responses/{id}/input_items and DELETE
// /v1/responses/{id} from store (path is relative to /v1/, e.g. "responses/resp_…/input_items");
// found=false when the id is not in the store, or is an ownership record (Remember), and the engine then
// routes the call to a provider. POST /v1/responses/{id}/cancel is answered 400: FD2 runs no background
// responses. A non-nil err is an *apierr.Error to answer with, nothing having been written: a method the
// path does not take, or a store that failed.
func ServeStored(w http.ResponseWriter, r *http.Request, store Store, path string) (found bool, err error) {
	rest, ok := strings.CutPrefix(strings.Trim(path, "/"), "responses/")
	if !ok || rest == "" {
		return false, nil
	}
	id, sub, _ := strings.Cut(rest, "/")
	switch sub {
	case "", "input_items", "cancel":
	default:
		return false, nil
	}
	rec, err := store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return true, apierr.Wrap(http.StatusServiceUnavailable, "response_store_unavailable", "the response store is unavailable", err)
	}
	if rec.Response == nil {
		return false, nil
	}
	switch {
	case sub == "" && r.Method == http.MethodGet:
		if v := r.URL.Query().Get("stream"); v == "true" {
			return true, apierr.New(http.StatusBadRequest, "unsupported_parameter",
				"stream: a stored response cannot be streamed again; retrieve it without stream")
		}
		writeJSON(w, rec.Response)
		return true, nil
	case sub == "" && r.Method == http.MethodDelete:
		if err := store.Delete(r.Context(), id); errors.Is(err, ErrNotFound) {
			return false, nil // deleted or expired meanwhile
		} else if err != nil {
			return true, apierr.Wrap(http.StatusServiceUnavailable, "response_store_unavailable", "the response store is unavailable", err)
		}
		b, _ := json.Marshal(map[string]any{"id": id, "object": "response.deleted", "deleted": true})
		writeJSON(w, b)
		return true, nil
	case sub == "input_items" && r.Method == http.MethodGet:
		b, err := listItems(rec.Conversation[:min(max(rec.Inputs, 0), len(rec.Conversation))], r)
		if err != nil {
			return true, err
		}
		writeJSON(w, b)
		return true, nil
	case sub == "cancel" && r.Method == http.MethodPost:
		return true, apierr.New(http.StatusBadRequest, "response_not_cancellable",
			"only background responses can be cancelled, and this response was not created in the background")
	}
	return true, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("%s is not allowed on /v1/%s", r.Method, strings.Trim(path, "/")))
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// listItems pages items as OpenAI's input_items list does: limit (1 to 100, default 20), order (desc by
// default: the newest item first), and after/before an item id, exclusive.
func listItems(items []json.RawMessage, r *http.Request) ([]byte, error) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, apierr.New(http.StatusBadRequest, "invalid_value", "limit: must be an integer from 1 to 100")
		}
		limit = n
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		return nil, apierr.New(http.StatusBadRequest, "invalid_value", "order: must be asc or desc")
	}
	type keyed struct {
		id  string
		raw json.RawMessage
	}
	list := make([]keyed, len(items))
	for i, it := range items {
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(it, &v) // stored items are objects; one without an id is listed without
		list[i] = keyed{v.ID, it}
	}
	if order == "desc" {
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i]
		}
	}
	if after := q.Get("after"); after != "" {
		for i, k := range list {
			if k.id == after {
				list = list[i+1:]
				break
			}
		}
	}
	if before := q.Get("before"); before != "" {
		for i, k := range list {
			if k.id == before {
				list = list[:i]
				break
			}
		}
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	page := struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		LastID  *string           `json:"last_id"`
		HasMore bool              `json:"has_more"`
	}{Object: "list", Data: make([]json.RawMessage, len(list)), HasMore: more}
	for i, k := range list {
		page.Data[i] = k.raw
	}
	if len(list) > 0 {
		page.FirstID, page.LastID = &list[0].id, &list[len(list)-1].id
	}
	b, err := json.Marshal(page)
	if err != nil {
		return nil, apierr.Wrap(http.StatusInternalServerError, "internal_error", "listing the input items failed", err)
	}
	return b, nil
}

// Owner returns the model (client-facing alias) that created id, for routing model-less calls, or ""
// if unknown (or the store failed: the caller then routes as it would without a store).
func Owner(ctx context.Context, store Store, id string) string {
	rec, err := store.Get(ctx, id)
	if err != nil {
		return ""
	}
	return rec.Owner
}

// Remember records that owner (a client-facing alias) created the response id, which an
// OpenAI-compatible provider keeps itself: a small record, with no response or conversation, so that
// later calls naming id (GET, DELETE, previous_response_id without a model) reach that provider.
func Remember(ctx context.Context, store Store, id, owner string) error {
	if err := store.Put(ctx, id, &Record{Owner: owner, Created: time.Now()}); err != nil {
		return fmt.Errorf("remembering response %s: %w", id, err)
	}
	return nil
}

// ForEngine adapts store to what the inference engine needs of it (inference.ResponseStore).
func ForEngine(store Store) inference.ResponseStore { return engineStore{store} }

type engineStore struct{ s Store }

func (e engineStore) ServeStored(w http.ResponseWriter, r *http.Request, endpoint string) (bool, error) {
	return ServeStored(w, r, e.s, endpoint)
}

func (e engineStore) Owner(ctx context.Context, id string) string { return Owner(ctx, e.s, id) }

// Remember keeps what the store holds: a response FD2 stored whole already names its owner.
func (e engineStore) Remember(ctx context.Context, id, model string) {
	if _, err := e.s.Get(ctx, id); err == nil {
		return
	}
	_ = Remember(ctx, e.s, id, model) // best effort: without it a later call goes to the default route
}

func (e engineStore) Forget(ctx context.Context, id string) { _ = e.s.Delete(ctx, id) }
