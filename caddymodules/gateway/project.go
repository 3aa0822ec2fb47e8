// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"fmt"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
)

// Project is a manifest compiled for serving: its route table and each route's plugin transforms. It is
// built once per manifest version (by the resolver's Compile hook, off the request path), is immutable,
// and is what source.Entry.Value holds.
type Project struct {
	ID       string
	Hash     string
	Manifest *manifest.Manifest
	Table    *route.Table
	// Routes holds the compiled plugins of every route of Table.
	Routes map[*route.Route]*RouteInfo
	// Warnings are manifest problems that did not stop the project from loading.
	Warnings []string
}

// RouteInfo is one route's compiled plugin set.
type RouteInfo struct {
	Route      *route.Route
	Transforms *plugins.Transforms
	// Err is set when the route's plugin config is unusable: that route answers 503, the others serve.
	Err error
}

// compileProject decodes and compiles a resolved manifest document.
func compileProject(id string, raw []byte) (*Project, error) {
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, err
	}
	tbl, warns, err := route.Compile(id, m)
	if err != nil {
		return nil, fmt.Errorf("compiling routes: %w", err)
	}
	p := &Project{ID: id, Hash: manifest.Hash(raw), Manifest: m, Table: tbl, Warnings: warns,
		Routes: make(map[*route.Route]*RouteInfo)}
	for _, rt := range tbl.Routes() {
		t, w, err := plugins.Compile(rt.Plugins)
		for _, s := range w {
			p.Warnings = append(p.Warnings, fmt.Sprintf("route %s: %s", rt.ID, s))
		}
		info := &RouteInfo{Route: rt, Transforms: t}
		if err != nil {
			info.Err = err
			p.Warnings = append(p.Warnings, fmt.Sprintf("route %s: %v (the route answers 503)", rt.ID, err))
		}
		p.Routes[rt] = info
	}
	return p, nil
}
