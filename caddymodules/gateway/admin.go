// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the `admin.api.dsp` module: manifest operations on Caddy's admin endpoint (so they get its
// access controls: loopback or unix socket by default, mTLS for remote admin).
//
//	GET  /dsp/projects               cached projects: hash, origin, age, staleness, routes, warnings
//	POST /dsp/projects/{id}/reload   refetch one project from the source now (and tell other instances)
//	POST /dsp/sync                   list the source and reload every project
//	POST /dsp/secrets/rotate         re-read every cached secret from Vault, then reload every project:
//	                                 projects whose secrets changed get new compiled versions (new
//	                                 upstream proxies and providers); in-flight requests finish on the old
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.dsp", New: func() caddy.Module { return new(AdminAPI) }}
}

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/dsp/projects", Handler: caddy.AdminHandlerFunc(listProjects)},
		{Pattern: "/dsp/projects/", Handler: caddy.AdminHandlerFunc(reloadProject)},
		{Pattern: "/dsp/sync", Handler: caddy.AdminHandlerFunc(syncProjects)},
		{Pattern: "/dsp/secrets/rotate", Handler: caddy.AdminHandlerFunc(rotateSecrets)},
	}
}

func currentApp() (*App, error) {
	app, err := caddy.ActiveContext().AppIfConfigured("dsp")
	if err != nil || app == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the dsp app is not running")}
	}
	return app.(*App), nil
}

type projectInfo struct {
	ID         string    `json:"id"`
	Hash       string    `json:"hash"`
	Origin     string    `json:"origin"`
	Stale      bool      `json:"stale"`
	FetchedAt  time.Time `json:"fetched_at"`
	AgeSeconds float64   `json:"age_seconds"`
	Error      string    `json:"error,omitempty"`
	Routes     []string  `json:"routes,omitempty"`
	Warnings   []string  `json:"warnings,omitempty"`
}

func infoOf(e *source.Entry) projectInfo {
	pi := projectInfo{ID: e.ID, Hash: e.Hash, Origin: e.Origin, Stale: e.Stale, FetchedAt: e.FetchedAt.UTC(),
		AgeSeconds: time.Since(e.FetchedAt).Seconds()}
	if e.Err != nil {
		pi.Error = e.Err.Error()
	}
	if p, ok := e.Value.(*Project); ok && p != nil {
		for _, rt := range p.Table.Routes() {
			pi.Routes = append(pi.Routes, rt.ID+" "+rt.URI)
		}
		pi.Warnings = p.Warnings
	}
	return pi
}

func listProjects(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := currentApp()
	if err != nil {
		return err
	}
	entries := app.resolver.Snapshot()
	out := struct {
		Source   string        `json:"source"`
		Projects []projectInfo `json:"projects"`
		Total    int           `json:"total"`
	}{Source: app.srcName, Projects: make([]projectInfo, 0, len(entries)), Total: len(entries)}
	for _, e := range entries {
		out.Projects = append(out.Projects, infoOf(e))
	}
	return writeJSON(w, http.StatusOK, out)
}

func reloadProject(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, "/dsp/projects/")
	id, action, ok := strings.Cut(rest, "/")
	if !ok || action != "reload" || !manifest.ValidProjectID(id) {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("use POST /dsp/projects/{id}/reload")}
	}
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := currentApp()
	if err != nil {
		return err
	}
	e, err := app.resolver.Reload(r.Context(), id)
	switch {
	case errors.Is(err, source.ErrNotFound):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("project %q not found", id)}
	case err != nil:
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("reloading project %q: %w", id, err)}
	}
	return writeJSON(w, http.StatusOK, infoOf(e))
}

func syncProjects(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := currentApp()
	if err != nil {
		return err
	}
	results, err := app.resolver.Sync(r.Context())
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("listing projects: %w", err)}
	}
	out := struct {
		Synced []string          `json:"synced"`
		Failed map[string]string `json:"failed"`
	}{Synced: []string{}, Failed: map[string]string{}}
	for id, e := range results {
		if e != nil {
			out.Failed[id] = e.Error()
		} else {
			out.Synced = append(out.Synced, id)
		}
	}
	sortStrings(out.Synced)
	return writeJSON(w, http.StatusOK, out)
}

func rotateSecrets(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := currentApp()
	if err != nil {
		return err
	}
	if err := app.shared.secrets.Rotate(r.Context()); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("re-reading secrets: %w", err)}
	}
	if _, err := app.resolver.Sync(r.Context()); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("reloading projects: %w", err)}
	}
	return listProjects(w, &http.Request{Method: http.MethodGet, URL: r.URL})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

var _ caddy.AdminRouter = AdminAPI{}
