// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// Model lists. GET /v1/models lists the names a client can send: the exact aliases, and for a wildcard
// route whose targets pass the client's model on, the models its providers list themselves (their own
// GET /models), cached for a minute. GET /v1/models/{id} knows the same names, so that it answers 404
// for a model nothing serves, where "the wildcard matches it" would say 200 to anything.

// modelListTTL is how long a provider's own model list is kept.
const modelListTTL = time.Minute

// modelListTimeout bounds a provider's answer to GET /models: a listing must not hang on a slow provider.
const modelListTimeout = 5 * time.Second

// maxModelList bounds the provider's answer read (OpenRouter lists a few hundred models in ~400 KiB).
const maxModelList = 8 << 20

type modelList struct {
	mu  sync.Mutex
	at  time.Time
	ids []string
	ok  bool // the provider answered with a list
}

// ListModels returns the models clients can name, sorted: the exact aliases and the models that wildcard
// routes' providers list and the wildcard matches.
func (r *Router) ListModels(ctx context.Context) []string {
	seen := make(map[string]bool, len(r.exact))
	out := make([]string, 0, len(r.exact))
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for a := range r.exact {
		if a != ModellessAlias {
			add(a)
		}
	}
	for _, rt := range r.wildcards {
		prefix := rt.Alias[:len(rt.Alias)-1]
		for _, d := range rt.Targets {
			if d.Model != "" {
				continue // a wildcard mapped to one model: its alias is not a name to list
			}
			ids, _ := r.providerModels(ctx, d.Provider)
			for _, id := range ids {
				if strings.HasPrefix(id, prefix) && r.resolve(id) == rt {
					add(id)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// HasModel reports whether id is a model clients can name: an exact alias, or a model a wildcard route
// matches and one of its providers lists. When none of those providers can list its models, a match of
// the wildcard is taken at its word.
func (r *Router) HasModel(ctx context.Context, id string) bool {
	rt := r.resolve(id)
	switch {
	case rt == nil || id == ModellessAlias:
		return false
	case r.exact[id] == rt:
		return true
	}
	listed := false
	for _, d := range rt.Targets {
		if d.Model != "" {
			return true // the wildcard sends every name to one model: any name is served
		}
		ids, ok := r.providerModels(ctx, d.Provider)
		if ok {
			listed = true
			if slices.Contains(ids, id) {
				return true
			}
		}
	}
	return !listed
}

// providerModels returns p's own model list, from the cache or from p (ok=false when p cannot list).
func (r *Router) providerModels(ctx context.Context, p Provider) ([]string, bool) {
	v, _ := r.modelLists.LoadOrStore(p.Name(), &modelList{})
	l := v.(*modelList)
	l.mu.Lock() // one fetch per provider at a time; the others wait for its answer
	defer l.mu.Unlock()
	if now := r.opts.Now(); !l.at.IsZero() && now.Sub(l.at) < modelListTTL {
		return l.ids, l.ok
	}
	ctx, cancel := context.WithTimeout(ctx, modelListTimeout)
	defer cancel()
	l.ids, l.ok = fetchModels(ctx, p)
	if ctx.Err() == nil || l.ok {
		l.at = r.opts.Now() // a listing cut short by the caller leaving is not a provider's answer
	}
	return l.ids, l.ok
}

func fetchModels(ctx context.Context, p Provider) ([]string, bool) {
	resp, err := p.Do(ctx, &Request{Endpoint: EndpointModels, Method: http.MethodGet})
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.Status != 0 && resp.Status != http.StatusOK {
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelList))
	if err != nil || !gjson.ValidBytes(body) {
		return nil, false
	}
	data := gjson.GetBytes(body, "data")
	if !data.IsArray() {
		return nil, false
	}
	var ids []string
	data.ForEach(func(_, m gjson.Result) bool {
		if id := m.Get("id").Str; id != "" {
			ids = append(ids, id)
		}
		return true
	})
	return ids, true
}
