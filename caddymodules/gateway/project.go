// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/metrics"
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

	ext sync.Map // stage name → *extEntry
}

type extEntry struct {
	once sync.Once
	v    any
	err  error
}

// Ext returns the value a pipeline stage derived from this project version (an auth stage's consumer index,
// say), building it with build on first use. It lives exactly as long as the compiled project, so a new
// manifest version gets a fresh one and nothing leaks across versions. build runs once per project and key.
func (p *Project) Ext(key string, build func(*Project) (any, error)) (any, error) {
	e, _ := p.ext.LoadOrStore(key, new(extEntry))
	ee := e.(*extEntry)
	ee.once.Do(func() { ee.v, ee.err = build(p) })
	return ee.v, ee.err
}

// RouteInfo is one route's compiled plugin set.
type RouteInfo struct {
	Route      *route.Route
	Transforms *plugins.Transforms
	// Err is set when the route's plugin config is unusable: that route answers 503, the others serve.
	Err error

	// Metric handles bound once per manifest version, so a request does no label hashing for them.
	duration prometheus.Observer
	overhead prometheus.Observer
	active   prometheus.Gauge
	codes    sync.Map // int status → prometheus.Counter

	project            string // the project label value (metrics.Projects-guarded)
	upDuration, upTTFB prometheus.Observer
	upCodes            sync.Map // upstream status (0 error, -1 timeout) → prometheus.Counter
}

// ObserveUpstream records one HTTP upstream call of this route: the upstream's status (0: no answer,
// -1: timed out), its time to response headers (0: unknown) and its whole duration.
func (ri *RouteInfo) ObserveUpstream(status int, ttfb, total time.Duration) {
	c, ok := ri.upCodes.Load(status)
	if !ok {
		code := strconv.Itoa(status)
		switch status {
		case 0:
			code = "error"
		case -1:
			code = "timeout"
		}
		c = metrics.UpstreamRequests.WithLabelValues(ri.project, ri.Route.Module, code)
		ri.upCodes.Store(status, c)
	}
	c.(prometheus.Counter).Inc()
	if ttfb > 0 {
		ri.upTTFB.Observe(ttfb.Seconds())
	}
	ri.upDuration.Observe(total.Seconds())
}

func (ri *RouteInfo) bindMetrics(project string) {
	project = metrics.Projects.Value(project)
	ri.project = project
	ri.duration = metrics.RequestDuration.WithLabelValues(project, ri.Route.Module)
	ri.overhead = metrics.Overhead.WithLabelValues(project)
	ri.active = metrics.ActiveRequests.WithLabelValues(project)
	if ri.Route.Kind != route.KindInference { // inference routes report to the provider families instead
		ri.upDuration = metrics.UpstreamDuration.WithLabelValues(project, ri.Route.Module)
		ri.upTTFB = metrics.UpstreamTTFB.WithLabelValues(project, ri.Route.Module)
	}
}

// requests returns the requests counter of a status code for this route.
func (ri *RouteInfo) requests(code int) prometheus.Counter {
	if c, ok := ri.codes.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c := metrics.RequestsTotal.WithLabelValues(ri.project, ri.Route.Module, ri.Route.ID, strconv.Itoa(code))
	ri.codes.Store(code, c)
	return c
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
		t, w, err := plugins.Compile(rt.Plugins, rt.Globals...)
		for _, s := range w {
			p.Warnings = append(p.Warnings, fmt.Sprintf("route %s: %s", rt.ID, s))
		}
		info := &RouteInfo{Route: rt, Transforms: t}
		info.bindMetrics(id)
		if err != nil {
			info.Err = err
			p.Warnings = append(p.Warnings, fmt.Sprintf("route %s: %v (the route answers 503)", rt.ID, err))
		}
		p.Routes[rt] = info
	}
	return p, nil
}
