// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
)

// A request's observation — fd2_requests_total, fd2_request_duration_seconds, fd2_overhead_seconds,
// fd2_active_requests, the stage histograms, Server-Timing and X-FD2-Overhead-Ms — is opened and closed by
// the stage that owns the exchange: dsp_manifest on a manifest site, and on a static site the first FD2
// stage the request meets (OpenStatic). Both go through ServeObserved, so the two kinds of site report alike.

// Recorder remembers the status code written, without buffering anything: Flush and the other optional
// interfaces reach the real writer through Unwrap (http.ResponseController). With timing set it stamps
// Server-Timing on the response headers.
type Recorder struct {
	*caddyhttp.ResponseWriterWrapper
	x      *plan.Exchange
	timing bool
}

// NewRecorder wraps w for the exchange x.
func NewRecorder(w http.ResponseWriter, x *plan.Exchange, timing bool) *Recorder {
	return &Recorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, x: x, timing: timing}
}

// WriteHeader records the first final status and stamps the timing headers.
func (s *Recorder) WriteHeader(code int) {
	if s.x.Status == 0 && code >= 200 {
		s.x.Status = code
		if s.timing {
			SetServerTiming(s.Header(), s.x, time.Now())
		}
	}
	s.ResponseWriterWrapper.WriteHeader(code)
}

func (s *Recorder) Write(b []byte) (int, error) {
	if s.x.Status == 0 {
		s.x.Status = http.StatusOK
	}
	return s.ResponseWriterWrapper.Write(b)
}

// SetServerTiming writes FD2's own time so far — everything but the upstream's time to first byte — and
// each stage's share (W3C Server-Timing, durations in milliseconds).
func SetServerTiming(h http.Header, st *plan.Exchange, now time.Time) {
	total := now.Sub(st.Start)
	var upstream time.Duration
	if !st.UpstreamStart.IsZero() {
		upstream = now.Sub(st.UpstreamStart)
	}
	overhead := total - upstream
	if overhead < 0 {
		overhead = 0
	}
	var buf [192]byte // the header fits: one allocation, for the string
	b := appendTiming(buf[:0], "fd2", overhead)
	for i, d := range st.Stage {
		if d > 0 {
			b = append(b, ", "...)
			b = appendTiming(b, plan.StageNames[i], d)
		}
	}
	if st.Retrieval > 0 {
		b = append(b, ", "...)
		b = appendTiming(b, "retrieval", st.Retrieval)
	}
	if upstream > 0 {
		b = append(b, ", "...)
		b = appendTiming(b, "upstream", upstream)
	}
	// Canonical keys, set directly: no canonicalisation on every response.
	h["Server-Timing"] = append(h["Server-Timing"], string(b))
	h["X-Fd2-Overhead-Ms"] = []string{strconv.FormatFloat(float64(overhead)/1e6, 'f', 3, 64)}
}

func appendTiming(b []byte, name string, d time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	return strconv.AppendFloat(b, float64(d)/1e6, 'f', 3, 64)
}

// ServeObserved runs next (the rest of the request's stages) through rec and records the request once it
// ends, however it ends; errors go through Respond. active is the gauge of requests in flight.
func ServeObserved(rec *Recorder, r *http.Request, x *plan.Exchange, next func(http.ResponseWriter, *http.Request) error,
	series *metrics.RouteSeries, logger *zap.Logger) error {
	var active prometheus.Gauge = series.Active
	if x.NoMetrics {
		active = noGauge{}
	}
	active.Inc()
	completed := false
	defer func() {
		active.Dec()
		if completed {
			return
		}
		// A later stage panicked, which is how a response that broke off ends: Caddy's reverse proxy aborts a
		// broken stream with http.ErrAbortHandler. The panic goes on to the server (it closes the
		// connection); the request is still counted: 499 when the client left (as Caddy logs it), else 502
		// whatever status had gone out, since the client did not get the response.
		status := http.StatusBadGateway
		if r.Context().Err() != nil {
			status = 499
		}
		Observe(x, series, status)
	}()
	err := next(rec, r)
	completed = true
	status := x.Status
	switch {
	case r.Context().Err() != nil:
		status = 499 // the client left before it had the whole response
	case err != nil:
		status = StatusOf(err)
	case status == 0:
		status = http.StatusOK
	}
	err = Respond(rec, r, err, logger)
	Observe(x, series, status)
	if err == nil && x.Status != 0 {
		// Hand the response's last bytes to the client now. Go's server would otherwise hold a buffered
		// response until the whole handler chain returns, putting what follows — span ends, Caddy's access
		// log line — on the client's clock. The metrics above are recorded first, so a client that has its
		// response finds it counted.
		_ = http.NewResponseController(rec).Flush()
	}
	return err
}

// Observe records a finished request: its stages, its series (a manifest route's or a static site's; nil
// for a request refused before a route matched, counted under its project), and its overhead on the
// exchange for the access log.
func Observe(x *plan.Exchange, series *metrics.RouteSeries, status int) {
	d := time.Since(x.Start)
	overhead := d - x.Upstream
	if overhead < 0 {
		overhead = 0
	}
	x.Overhead = overhead
	if x.NoMetrics {
		return
	}
	for i, d := range x.Stage {
		if d > 0 {
			stageObservers[i].Observe(d.Seconds())
		}
	}
	if x.Upstream > 0 {
		upstreamObserver.Observe(x.Upstream.Seconds())
	}
	if series != nil {
		series.Requests(status).Inc()
		series.Duration.Observe(d.Seconds())
		series.Overhead.Observe(overhead.Seconds())
		return
	}
	// Requests refused before a route matched (unknown project, no route, bad manifest).
	project := metrics.Projects.Value(x.ProjectID)
	metrics.RequestsTotal.WithLabelValues(project, "", "", strconv.Itoa(status)).Inc()
	metrics.RequestDuration.WithLabelValues(project, "").Observe(d.Seconds())
	metrics.Overhead.WithLabelValues(project).Observe(overhead.Seconds())
}

// noGauge stands in for fd2_active_requests when a site's metrics are off.
type noGauge struct{ prometheus.Gauge }

func (noGauge) Inc() {}
func (noGauge) Dec() {}

// Stage observers, bound once.
var (
	stageObservers = func() (o [plan.NumStages]prometheus.Observer) {
		for i, n := range plan.StageNames {
			o[i] = metrics.StageDuration.WithLabelValues(n)
		}
		return o
	}()
	upstreamObserver = metrics.StageDuration.WithLabelValues("upstream")
)

// StaticSite is the default project label of a static site (FD2 stages without dsp_manifest).
const StaticSite = "static"

// staticSeries are the bound series of each static site name.
var staticSeries sync.Map // name → *metrics.RouteSeries

// Stage is an FD2 handler that may be a static site's outermost FD2 stage (dsp_auth, dsp_ratelimit,
// dsp_openai): ServeStage is its own work, errors returned rather than rendered.
type Stage interface {
	ServeStage(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error
}

// Serve runs stage for a request. When the request has no exchange yet (a static site: no dsp_manifest in
// front), the stage is the site's outermost FD2 stage: it opens the exchange with the site's name (""
// = StaticSite) as its project label, stamps X-Request-Id, and observes the request as dsp_manifest does
// on a manifest site. Otherwise it only runs the stage, its errors going through Respond.
func Serve(stage Stage, site string, w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, logger *zap.Logger) error {
	if existingExchange(r) != nil {
		return Respond(w, r, stage.ServeStage(w, r, next), logger)
	}
	if site == "" {
		site = StaticSite
	}
	x := ExchangeOf(r)
	x.Site = site
	w.Header()["X-Request-Id"] = []string{x.RequestID()}
	s, ok := staticSeries.Load(site)
	if !ok {
		s, _ = staticSeries.LoadOrStore(site, metrics.BindRoute(site, "", "", false))
	}
	return ServeObserved(NewRecorder(w, x, true), r, x, func(w http.ResponseWriter, r *http.Request) error {
		return stage.ServeStage(w, r, next)
	}, s.(*metrics.RouteSeries), logger)
}
