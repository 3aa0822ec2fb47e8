// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package controltower is a stand-in for the DSP AI Control Tower's manifest API (FastAPI + pydantic v2),
// so FD2 can be developed and tested without Python. It serves a directory of manifest files with the
// same endpoints, status codes, error bodies and, above all, the same response shape as the real thing.
//
// # Endpoints
//
//	GET /                                        {"message": "DSP AI Control Tower - OPA Policy Evaluator API. Swagger: /docs"}
//	GET /manifests                               {"manifests":[{project_id, project_name, version, environment, owner,
//	                                              module_count, created_at, updated_at}], "count": N}
//	GET /manifests/{project_id}                  the normalised ProjectManifest
//	GET /manifests/{project_id}/modules          {"modules":[ModuleConfig…], "count": N}
//	GET /manifests/{project_id}/modules/{name}   one ModuleConfig
//
// The last three take ?resolve_env=<bool>. Errors are FastAPI's {"detail": …}: 400 for a project_id that
// fails ^[a-zA-Z0-9_-]+$, 404 "Manifest not found: <id>" or "Module not found: <name>", 422 with a pydantic
// error list for a resolve_env that is not a boolean, 404 "Not Found" for other paths and 405 "Method Not
// Allowed" for other methods. A path with a trailing slash is redirected (307) to the one without, as
// Starlette's redirect_slashes does. The write, validation, vault and policy endpoints are not served.
//
// # Fidelity
//
// The Control Tower does not serve the file on disk: it parses it into pydantic models and serialises them
// back (spec §1.2). This package does the same, field by field, from the models in the Control Tower's
// app.py: unknown keys are dropped (module "dependencies", Langfuse keys of a monitoring config, …), every
// field of a module's config class is filled with its default, null stays null, and keys come out in
// declaration order. A config that does not validate against its class is served as written. Manifests
// without created_at/updated_at get the current time on every request, as datetime.now() does there.
//
// Its known quirks are kept on purpose, because FD2 must cope with them:
//   - a manifest is looked up by file stem (dir/<project_id>.json) but listed under the project_id inside
//     the file, so a file whose stem and id differ is listed under a name that then answers 404;
//   - a file that does not parse or validate answers 404, not 500 (the real load_manifest swallows errors);
//   - resolve_env=true resolves the normalised manifest, so defaults such as admin_key "${APISIX_ADMIN_KEY}"
//     are resolved too, while module names and descriptions are not (only configs are rebuilt).
//
// resolve_env=true runs manifest.ResolveEnv without a secret manager, which is what the Control Tower does
// for a manifest without a vault module: vault:, config:, env: and encrypted: references stay literal
// ("Bearer config:api_keys.groq"). Unlike the real service, a manifest with a vault module does not turn
// into a 500 here.
//
// In addition to the real Control Tower, a file must also pass manifest.Decode to be served, so that
// everything served here is something FD2 can load.
//
// Files are read on every request, so a test can edit a manifest and see the change immediately. The
// Server's SetFailing and Requests methods let tests simulate an outage and observe how often a client
// (such as FD2's manifest cache) calls.
//
// This package never imports Caddy.
package controltower

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Options configure a Server.
type Options struct {
	// Getenv looks up the ${VAR} references that resolve_env=true substitutes. Defaults to os.LookupEnv;
	// tests pass a map-backed function instead of touching the process environment.
	Getenv func(string) (string, bool)
	// Now stands in for the clock that fills absent created_at/updated_at timestamps. Defaults to time.Now.
	Now func() time.Time
}

// Server serves a directory of Control Tower manifests. It is safe for concurrent use.
type Server struct {
	dir      string
	getenv   func(string) (string, bool)
	now      func() time.Time
	failing  atomic.Int32
	requests atomic.Int64
}

// New returns a Server for the manifest files (*.json) in dir. The directory is not read until a request
// arrives and may change between requests.
func New(dir string, opts Options) *Server {
	s := &Server{dir: dir, getenv: opts.Getenv, now: opts.Now}
	if s.getenv == nil {
		s.getenv = os.LookupEnv
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// SetFailing makes every request answer code with {"detail":"injected failure"}, to simulate an outage
// (503) or a crash (500). SetFailing(0) restores normal service.
func (s *Server) SetFailing(code int) {
	s.failing.Store(int32(code))
}

// Requests returns how many requests for a /manifests path the server has received, whatever their
// outcome (injected failures included), so a test can tell a cached answer from a fresh call.
func (s *Server) Requests() int64 {
	return s.requests.Load()
}

const (
	rootMessage     = "DSP AI Control Tower - OPA Policy Evaluator API. Swagger: /docs"
	invalidIDDetail = "Invalid project_id format. Use only alphanumeric characters, underscores, and hyphens."
)

// route is a matched endpoint.
type route struct {
	kind    routeKind
	project string
	module  string
}

type routeKind uint8

const (
	routeNone routeKind = iota
	routeRoot
	routeList
	routeManifest
	routeModules
	routeModule
)

// match maps a decoded path to an endpoint the way Starlette's {param} placeholders do: a parameter is
// one non-empty path segment.
func match(path string) route {
	if path == "/" {
		return route{kind: routeRoot}
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if segs[0] != "manifests" {
		return route{}
	}
	for _, s := range segs {
		if s == "" {
			return route{}
		}
	}
	switch {
	case len(segs) == 1:
		return route{kind: routeList}
	case len(segs) == 2:
		return route{kind: routeManifest, project: segs[1]}
	case len(segs) == 3 && segs[2] == "modules":
		return route{kind: routeModules, project: segs[1]}
	case len(segs) == 4 && segs[2] == "modules":
		return route{kind: routeModule, project: segs[1], module: segs[3]}
	}
	return route{}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/manifests" || strings.HasPrefix(path, "/manifests/") {
		s.requests.Add(1)
	}
	if code := int(s.failing.Load()); code != 0 {
		writeDetail(w, code, "injected failure")
		return
	}
	rt := match(path)
	if rt.kind == routeNone {
		if trimmed := strings.TrimSuffix(path, "/"); trimmed != path && trimmed != "" && match(trimmed).kind != routeNone {
			// Starlette's redirect_slashes answers an empty 307 pointing at the path without the slash.
			loc := (&url.URL{Path: trimmed, RawQuery: r.URL.RawQuery}).String()
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		writeDetail(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodGet {
		// FastAPI GET routes do not answer HEAD either.
		w.Header().Set("Allow", http.MethodGet)
		writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	switch rt.kind {
	case routeRoot:
		o := newObject(1)
		o.set("message", rootMessage)
		writeJSON(w, http.StatusOK, o)
	case routeList:
		s.list(w)
	default:
		s.project(w, r, rt)
	}
}

func (s *Server) list(w http.ResponseWriter) {
	entries, err := os.ReadDir(s.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		writeInternalError(w)
		return
	}
	// The Control Tower lists in os.listdir order, which is arbitrary; file-name order keeps tests stable.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	items := []any{}
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		doc, ok := s.load(stem)
		if !ok {
			continue
		}
		mods, _ := doc.vals["modules"].([]any)
		item := newObject(8)
		for _, k := range []string{"project_id", "project_name", "version", "environment", "owner"} {
			item.set(k, doc.vals[k])
		}
		item.set("module_count", jsonInt(len(mods)))
		item.set("created_at", doc.vals["created_at"])
		item.set("updated_at", doc.vals["updated_at"])
		items = append(items, item)
	}
	out := newObject(2)
	out.set("manifests", items)
	out.set("count", jsonInt(len(items)))
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) project(w http.ResponseWriter, r *http.Request, rt route) {
	// FastAPI validates query parameters before the handler runs, so a bad resolve_env wins over a bad id.
	resolve, ok := resolveEnvParam(w, r)
	if !ok {
		return
	}
	if !manifest.ValidProjectID(rt.project) {
		writeDetail(w, http.StatusBadRequest, invalidIDDetail)
		return
	}
	doc, ok := s.load(rt.project)
	if !ok {
		writeDetail(w, http.StatusNotFound, "Manifest not found: "+rt.project)
		return
	}
	if resolve {
		var err error
		if doc, err = s.resolve(doc); err != nil {
			writeInternalError(w)
			return
		}
	}
	mods, _ := doc.vals["modules"].([]any)
	switch rt.kind {
	case routeManifest:
		writeJSON(w, http.StatusOK, doc)
	case routeModules:
		out := newObject(2)
		out.set("modules", mods)
		out.set("count", jsonInt(len(mods)))
		writeJSON(w, http.StatusOK, out)
	case routeModule:
		for _, m := range mods {
			if mod, _ := m.(*object); mod != nil && mod.str("name") == rt.module {
				writeJSON(w, http.StatusOK, mod)
				return
			}
		}
		writeDetail(w, http.StatusNotFound, "Module not found: "+rt.module)
	}
}

// resolveEnvParam parses ?resolve_env like FastAPI's bool query parameter: absent is false, the last value
// wins, and anything pydantic cannot read as a boolean is a 422. It reports false after answering the 422.
func resolveEnvParam(w http.ResponseWriter, r *http.Request) (bool, bool) {
	q, _ := url.ParseQuery(r.URL.RawQuery) // keep the pairs that parsed, as Starlette does
	vals := q["resolve_env"]
	if len(vals) == 0 {
		return false, true
	}
	in := vals[len(vals)-1]
	b, ok := parseBool(in)
	if ok {
		return b, true
	}
	e := newObject(5)
	e.set("type", "bool_parsing")
	e.set("loc", []any{"query", "resolve_env"})
	e.set("msg", "Input should be a valid boolean, unable to interpret input")
	e.set("input", in)
	out := newObject(1)
	out.set("detail", []any{e})
	writeJSON(w, http.StatusUnprocessableEntity, out)
	return false, false
}

// load reads dir/<stem>.json and returns it normalised, or false when it is missing, unparsable or invalid
// (which the Control Tower reports as 404 alike).
func (s *Server) load(stem string) (*object, bool) {
	raw, err := os.ReadFile(filepath.Join(s.dir, stem+".json"))
	if err != nil {
		return nil, false
	}
	if _, err := manifest.Decode(raw); err != nil {
		return nil, false
	}
	tree, err := parseJSON(raw)
	if err != nil {
		return nil, false
	}
	doc, err := normalizeManifest(tree, s.now())
	if err != nil {
		return nil, false
	}
	return doc, true
}

// resolve applies resolve_env=true the way get_resolved_manifest does: resolve the normalised manifest
// (model_dump()), then rebuild every module from its original envelope and its resolved config, and
// validate the result again.
func (s *Server) resolve(doc *object) (*object, error) {
	wrapper := newObject(3)
	// ResolveEnv reads "environment" and "environments" at the top of the document it is given.
	wrapper.set("environment", doc.vals["environment"])
	wrapper.set("environments", doc.vals["environments"])
	wrapper.set("doc", toResolvable(doc))
	out, err := manifest.ResolveEnv(marshal(wrapper), manifest.EnvOptions{Getenv: s.getenv})
	if err != nil {
		return nil, fmt.Errorf("resolving environment: %w", err)
	}
	tree, err := parseJSON(out)
	if err != nil {
		return nil, fmt.Errorf("reading resolved manifest: %w", err)
	}
	top, ok := tree.(*object)
	if !ok {
		return nil, errors.New("resolved manifest is not an object")
	}
	resolvedTree, err := fromResolvable(top.vals["doc"])
	if err != nil {
		return nil, err
	}
	resolved, ok := resolvedTree.(*object)
	if !ok {
		return nil, errors.New("resolved manifest is not an object")
	}
	origMods, _ := doc.vals["modules"].([]any)
	resMods, _ := resolved.vals["modules"].([]any)
	if len(origMods) != len(resMods) {
		return nil, errors.New("resolved manifest lost modules")
	}
	mods := make([]any, len(origMods))
	for i := range origMods {
		orig, _ := origMods[i].(*object)
		res, _ := resMods[i].(*object)
		if orig == nil || res == nil {
			return nil, errors.New("resolved module is not an object")
		}
		mod := newObject(orig.len())
		for _, k := range orig.keys {
			mod.set(k, orig.vals[k])
		}
		if cfg, ok := res.vals["config"].(*object); ok {
			mod.set("config", cfg)
		}
		mods[i] = mod
	}
	resolved.set("modules", mods)
	return normalizeManifest(resolved, s.now())
}

func jsonInt(n int) any { return json.Number(strconv.Itoa(n)) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	b := marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b) // the client may have gone; there is no one left to report to
}

func writeDetail(w http.ResponseWriter, code int, detail string) {
	o := newObject(1)
	o.set("detail", detail)
	writeJSON(w, code, o)
}

// writeInternalError answers like an unhandled exception in FastAPI: a plain-text 500.
func writeInternalError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal Server Error"))
}
