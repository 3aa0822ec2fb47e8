// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteSeries are one route's metric series, bound once per manifest version so that a request does no
// label hashing for them.
type RouteSeries struct {
	Duration prometheus.Observer
	Overhead prometheus.Observer
	Active   prometheus.Gauge

	project, module, route string   // label values (project Projects-guarded)
	codes                  sync.Map // int status → prometheus.Counter
	upDuration, upTTFB     prometheus.Observer
	upCodes                sync.Map // upstream status (0 error, -1 timeout) → prometheus.Counter
}

// BindRoute binds the series of a route. upstream says whether the route reports HTTP upstream calls to
// the fd2_upstream_* families (inference routes report to the provider families instead).
func BindRoute(project, module, route string, upstream bool) *RouteSeries {
	project = Projects.Value(project)
	s := &RouteSeries{project: project, module: module, route: route,
		Duration: RequestDuration.WithLabelValues(project, module),
		Overhead: Overhead.WithLabelValues(project),
		Active:   ActiveRequests.WithLabelValues(project),
	}
	if upstream {
		s.upDuration = UpstreamDuration.WithLabelValues(project, module)
		s.upTTFB = UpstreamTTFB.WithLabelValues(project, module)
	}
	return s
}

// Requests returns the requests counter of a status code for this route.
func (s *RouteSeries) Requests(code int) prometheus.Counter {
	if c, ok := s.codes.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c := RequestsTotal.WithLabelValues(s.project, s.module, s.route, strconv.Itoa(code))
	s.codes.Store(code, c)
	return c
}

// ObserveUpstream records one HTTP upstream call of this route: the upstream's status (0: no answer,
// -1: timed out), its time to response headers (0: unknown) and its whole duration.
func (s *RouteSeries) ObserveUpstream(status int, ttfb, total time.Duration) {
	c, ok := s.upCodes.Load(status)
	if !ok {
		code := strconv.Itoa(status)
		switch status {
		case 0:
			code = "error"
		case -1:
			code = "timeout"
		}
		c = UpstreamRequests.WithLabelValues(s.project, s.module, code)
		s.upCodes.Store(status, c)
	}
	c.(prometheus.Counter).Inc()
	if s.upDuration == nil {
		return
	}
	if ttfb > 0 {
		s.upTTFB.Observe(ttfb.Seconds())
	}
	s.upDuration.Observe(total.Seconds())
}
