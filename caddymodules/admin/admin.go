// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the `admin.api.dsp` module: manifest operations on Caddy's admin endpoint (so they get its
// access controls: loopback or unix socket by default, mTLS for remote admin).
//
//	GET  /dsp/projects               cached projects: state, hash, origin, age, staleness, routes, warnings;
//	                                 a project whose latest manifest was refused has state "invalid", its
//	                                 errors, and under "serving" the previous version it still serves
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

// Project states in GET /dsp/projects.
const (
	// stateOK: the source's latest manifest compiled and is served.
	stateOK = "ok"
	// stateInvalid: the source's latest manifest was refused (it does not decode, validate, resolve or
	// compile, or is over max_manifest_size). Errors says why; Serving is the previous good version still
	// served, or absent when the project answers 503 manifest_invalid.
	stateInvalid = "invalid"
)

type projectInfo struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Code is manifest_too_large or manifest_invalid for an invalid project.
	Code string `json:"code,omitempty"`
	// Errors are the reasons of an invalid project, one validation problem each where the manifest
	// validated (`modules[4] (api-gateway): unknown module_type "apisix_gateway"`).
	Errors     []string     `json:"errors,omitempty"`
	RejectedAt *time.Time   `json:"rejected_at,omitempty"`
	Serving    *servingInfo `json:"serving,omitempty"`
	Hash       string       `json:"hash"`
	Origin     string       `json:"origin"`
	Stale      bool         `json:"stale"`
	FetchedAt  time.Time    `json:"fetched_at"`
	AgeSeconds float64      `json:"age_seconds"`
	Error      string       `json:"error,omitempty"`
	Routes     []string     `json:"routes,omitempty"`
	Warnings   []string     `json:"warnings,omitempty"`
}

// servingInfo is the good version an invalid project still serves.
type servingInfo struct {
	Hash      string    `json:"hash"`
	Origin    string    `json:"origin"`
	FetchedAt time.Time `json:"fetched_at"`
}

// problems splits a refusal into what an operator reads: the validation problems one by one, else the
// error itself.
func problems(err error) (code string, list []string) {
	code = "manifest_invalid"
	if errors.Is(err, source.ErrTooLarge) {
		code = "manifest_too_large"
	}
	if ve, ok := errors.AsType[*manifest.ValidationError](err); ok {
		return code, ve.Problems
	}
	return code, []string{err.Error()}
}

func infoOf(e *source.Entry) projectInfo {
	pi := projectInfo{ID: e.ID, State: stateOK, Hash: e.Hash, Origin: e.Origin, Stale: e.Stale, FetchedAt: e.FetchedAt.UTC(),
		AgeSeconds: time.Since(e.FetchedAt).Seconds()}
	switch {
	case e.Err != nil:
		pi.State, pi.Error = stateInvalid, e.Err.Error()
		pi.Code, pi.Errors = problems(e.Err)
	case e.Rejected != nil:
		pi.State = stateInvalid
		pi.Code, pi.Errors = problems(e.Rejected)
		at := e.RejectedAt.UTC()
		pi.RejectedAt = &at
		pi.Serving = &servingInfo{Hash: e.Hash, Origin: e.Origin, FetchedAt: e.FetchedAt.UTC()}
	}
	if p, ok := e.Value.(*plan.Project); ok && p != nil {
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
	app, err := gateway.Current()
	if err != nil {
		return err
	}
	entries := app.Resolver().Snapshot()
	out := struct {
		Source   string        `json:"source"`
		Projects []projectInfo `json:"projects"`
		Total    int           `json:"total"`
	}{Source: app.SourceName(), Projects: make([]projectInfo, 0, len(entries)), Total: len(entries)}
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
	app, err := gateway.Current()
	if err != nil {
		return err
	}
	e, err := app.Resolver().Reload(r.Context(), id)
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
	app, err := gateway.Current()
	if err != nil {
		return err
	}
	results, err := app.Resolver().Sync(r.Context())
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
	slices.Sort(out.Synced)
	return writeJSON(w, http.StatusOK, out)
}

func rotateSecrets(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	app, err := gateway.Current()
	if err != nil {
		return err
	}
	if err := app.RotateSecrets(r.Context()); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("re-reading secrets: %w", err)}
	}
	if _, err := app.Resolver().Sync(r.Context()); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadGateway, Err: fmt.Errorf("reloading projects: %w", err)}
	}
	return listProjects(w, &http.Request{Method: http.MethodGet, URL: r.URL})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

var _ caddy.AdminRouter = AdminAPI{}
