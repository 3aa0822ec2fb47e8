// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package observability checks the example Grafana dashboard and Prometheus alert rules: every PromQL
// expression parses, and uses only metrics and labels FD2 defines (caddymodules.Collectors).
package observability

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/dsp-ai/fd2/caddymodules"
)

var (
	dir           = filepath.Join("..", "..", "examples", "observability")
	alertsFile    = filepath.Join(dir, "alerts.yml")
	dashboardFile = filepath.Join(dir, "grafana-dashboard.json")
	promql        = parser.NewParser(parser.Options{})
)

// metricInfo is what FD2 defines for one metric name.
type metricInfo struct {
	labels    map[string]bool
	histogram bool
}

// Labels any scraped series may carry (added by Prometheus' target labels).
var genericLabels = map[string]bool{"job": true, "instance": true}

var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

var (
	fqNameRE = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)
	labelsRE = regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)
)

// parseDesc extracts the metric name and label names from desc.String(), whose format is
// Desc{fqName: "name", help: "...", unit: "...", constLabels: {k="v",...}, variableLabels: {a,c(b),...}}.
func parseDesc(s string) (string, []string, error) {
	m := fqNameRE.FindStringSubmatch(s)
	if m == nil {
		return "", nil, fmt.Errorf("unexpected Desc format: %s", s)
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return "", nil, fmt.Errorf("unquoting fqName of %s: %w", s, err)
	}
	l := labelsRE.FindStringSubmatch(s)
	if l == nil {
		return "", nil, fmt.Errorf("unexpected Desc labels format: %s", s)
	}
	var names []string
	for _, kv := range strings.Split(l[1], ",") {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			names = append(names, strings.TrimSpace(k))
		}
	}
	for _, v := range strings.Split(l[2], ",") {
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "c(") && strings.HasSuffix(v, ")") { // constrained label
			v = v[2 : len(v)-1]
		}
		if v != "" {
			names = append(names, v)
		}
	}
	return name, names, nil
}

// fd2Metrics builds the set of metrics FD2 defines from caddymodules.Collectors().
func fd2Metrics(t testing.TB) map[string]*metricInfo {
	t.Helper()
	out := map[string]*metricInfo{}
	for _, c := range caddymodules.Collectors() {
		histogram := false
		switch c.(type) {
		case *prometheus.HistogramVec, prometheus.Histogram:
			histogram = true
		}
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			name, lbls, err := parseDesc(d.String())
			if err != nil {
				t.Fatal(err)
			}
			mi := out[name]
			if mi == nil {
				mi = &metricInfo{labels: map[string]bool{}}
				out[name] = mi
			}
			mi.histogram = mi.histogram || histogram
			for _, l := range lbls {
				mi.labels[l] = true
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("caddymodules.Collectors() describes no metric")
	}
	return out
}

// checker validates PromQL expressions against the metrics FD2 defines.
type checker struct {
	metrics map[string]*metricInfo
	used    map[string]bool // base metric names seen
}

// resolve maps a series name to its FD2 metric, reporting whether it is a histogram _bucket series.
func (c *checker) resolve(name string) (mi *metricInfo, base string, bucket bool, err error) {
	if mi := c.metrics[name]; mi != nil {
		return mi, name, false, nil
	}
	for _, suf := range histogramSuffixes {
		if b, ok := strings.CutSuffix(name, suf); ok {
			if mi := c.metrics[b]; mi != nil {
				if !mi.histogram {
					return nil, "", false, fmt.Errorf("metric %q: %q is not a histogram", name, b)
				}
				return mi, b, suf == "_bucket", nil
			}
		}
	}
	return nil, "", false, fmt.Errorf("unknown metric %q (not defined by caddymodules.Collectors)", name)
}

// labelsOf returns the labels the series selected under node may carry, or an error for unknown metrics.
func (c *checker) labelsOf(node parser.Node) (map[string]bool, []error) {
	out := map[string]bool{}
	var errs []error
	for _, vs := range selectors(node) {
		mi, _, bucket, err := c.resolve(vs.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for l := range mi.labels {
			out[l] = true
		}
		if bucket {
			out["le"] = true
		}
	}
	return out, errs
}

func selectors(node parser.Node) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch s := n.(type) {
		case *parser.VectorSelector:
			out = append(out, s)
		case *parser.MatrixSelector:
			if vs, ok := s.VectorSelector.(*parser.VectorSelector); ok {
				out = append(out, vs)
			}
			return nil
		}
		return nil
	})
	return dedupe(out)
}

func dedupe(in []*parser.VectorSelector) []*parser.VectorSelector {
	seen := map[*parser.VectorSelector]bool{}
	var out []*parser.VectorSelector
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// check parses expr and returns every problem: syntax, unknown metric, unknown label.
func (c *checker) check(expr string) []error {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return []error{fmt.Errorf("parsing %q: %w", expr, err)}
	}
	var errs []error
	// Selectors: the metric must exist, and so must every matched label.
	for _, vs := range selectors(e) {
		if vs.Name == "" {
			errs = append(errs, fmt.Errorf("selector %s has no metric name", vs))
			continue
		}
		mi, base, bucket, err := c.resolve(vs.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.used != nil {
			c.used[base] = true
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				continue
			}
			if !mi.labels[m.Name] && !genericLabels[m.Name] && !(bucket && m.Name == "le") {
				errs = append(errs, fmt.Errorf("metric %q has no label %q (in %s)", vs.Name, m.Name, vs))
			}
		}
	}
	// Grouping labels (by/without, on/ignoring/group_left/right): each must exist on a metric below.
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		var grouping []string
		var under []parser.Node
		switch x := n.(type) {
		case *parser.AggregateExpr:
			grouping, under = x.Grouping, []parser.Node{x.Expr}
		case *parser.BinaryExpr:
			if x.VectorMatching != nil {
				grouping = append(append([]string{}, x.VectorMatching.MatchingLabels...), x.VectorMatching.Include...)
				under = []parser.Node{x.LHS, x.RHS}
			}
		}
		if len(grouping) == 0 {
			return nil
		}
		avail := map[string]bool{}
		for _, u := range under {
			ls, _ := c.labelsOf(u) // unknown metrics were reported above
			for l := range ls {
				avail[l] = true
			}
		}
		for _, g := range grouping {
			if !avail[g] && !genericLabels[g] {
				errs = append(errs, fmt.Errorf("grouping label %q is on none of the metrics it groups (in %s)", g, n))
			}
		}
		return nil
	})
	return errs
}

// grafanaVars are replaced before parsing dashboard expressions (longest first).
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "5m", "$__interval", "5m",
	"${project}", "demo", "$project", "demo",
)

func expandGrafana(expr string) (string, error) {
	out := grafanaVars.Replace(expr)
	if strings.Contains(out, "$") {
		return "", fmt.Errorf("unsupported Grafana variable in %q", expr)
	}
	return out, nil
}

type dashPanel struct {
	Title   string      `json:"title"`
	Type    string      `json:"type"`
	Panels  []dashPanel `json:"panels"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

type dashboard struct {
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Rows          []dashPanel `json:"rows"` // legacy layout
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardExprs returns "panel/refId" -> expr for every target, rows and nested panels included.
func dashboardExprs(t *testing.T, d dashboard) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, ps []dashPanel)
	walk = func(prefix string, ps []dashPanel) {
		for _, p := range ps {
			name := prefix + p.Title
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expr", name, tg.RefID)
					continue
				}
				out[name+"/"+tg.RefID] = tg.Expr
			}
			walk(name+" > ", p.Panels)
		}
	}
	walk("", d.Panels)
	walk("", d.Rows)
	return out
}

func newChecker(t *testing.T) *checker {
	return &checker{metrics: fd2Metrics(t), used: map[string]bool{}}
}

func TestFD2MetricSet(t *testing.T) {
	ms := fd2Metrics(t)
	for _, name := range []string{"fd2_requests_total", "fd2_request_duration_seconds", "fd2_overhead_seconds",
		"fd2_stage_duration_seconds", "fd2_manifest_cache_total", "fd2_manifest_age_seconds", "fd2_active_requests",
		"fd2_pool_projects", "fd2_pool_evictions_total", "fd2_ratelimit_decisions_total", "fd2_ratelimit_store_down",
		"fd2_tokens_total", "fd2_time_to_first_token_seconds", "fd2_provider_request_duration_seconds", "fd2_breaker_state"} {
		if ms[name] == nil {
			t.Errorf("caddymodules.Collectors() does not define %s", name)
		}
	}
	if mi := ms["fd2_requests_total"]; mi != nil && !(mi.labels["project"] && mi.labels["code"]) {
		t.Errorf("fd2_requests_total labels = %v", mi.labels)
	}
	if mi := ms["fd2_request_duration_seconds"]; mi != nil && !mi.histogram {
		t.Error("fd2_request_duration_seconds is not detected as a histogram")
	}
}

func TestAlertRules(t *testing.T) {
	c := newChecker(t)
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.Fatal("no rule groups")
	}
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			seen[name] = true
			for _, err := range c.check(r.Expr) {
				t.Errorf("rule %s: %v", name, err)
			}
			if r.Alert == "" {
				continue
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity label", name)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", name, a)
				}
			}
		}
	}
	for _, want := range []string{"FD2HighErrorRate", "FD2OverheadP99High", "FD2BreakerOpen", "FD2ManifestStale",
		"FD2ManifestSourceFailing", "FD2RateLimitStoreDown", "FD2HighRateLimitRejections", "FD2ProviderErrors"} {
		if !seen[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
}

func TestDashboard(t *testing.T) {
	c := newChecker(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.SchemaVersion != 39 {
		t.Errorf("schemaVersion = %d, want 39", d.SchemaVersion)
	}
	if !strings.Contains(string(raw), "${DS_PROMETHEUS}") {
		t.Error("dashboard does not use the ${DS_PROMETHEUS} datasource")
	}
	var projectVar bool
	for _, v := range d.Templating.List {
		if v.Name == "project" {
			projectVar = strings.Contains(string(v.Query), "label_values(fd2_requests_total, project)")
		}
	}
	if !projectVar {
		t.Error("no template variable project from label_values(fd2_requests_total, project)")
	}

	exprs := dashboardExprs(t, d)
	if len(exprs) == 0 {
		t.Fatal("dashboard has no targets")
	}
	keys := make([]string, 0, len(exprs))
	for k := range exprs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		expr, err := expandGrafana(exprs[k])
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		for _, err := range c.check(expr) {
			t.Errorf("%s: %v", k, err)
		}
	}
	// The dashboard covers every FD2 metric but the module-internal ones it may skip.
	for name := range c.metrics {
		if !c.used[name] {
			t.Errorf("dashboard does not show metric %s", name)
		}
	}
}

// TestCheckerRejects is the negative test: the checker must catch bogus metrics and labels.
func TestCheckerRejects(t *testing.T) {
	c := newChecker(t)
	for _, tc := range []struct{ expr, want string }{
		{`rate(fd2_bogus_total[5m])`, `unknown metric "fd2_bogus_total"`},
		{`sum(rate(fd2_requests_total{bogus="x"}[5m]))`, `no label "bogus"`},
		{`sum by (bogus) (rate(fd2_requests_total[5m]))`, `grouping label "bogus"`},
		{`histogram_quantile(0.99, sum by (le, model) (rate(fd2_overhead_seconds_bucket[5m])))`, `grouping label "model"`},
		{`fd2_tokens_total_bucket`, `not a histogram`},
		{`fd2_requests_total{le="1"}`, `no label "le"`},
		{`sum(rate(fd2_requests_total[5m])) / on (bogus) sum(rate(fd2_tokens_total[5m]))`, `grouping label "bogus"`},
		{`sum(rate(fd2_requests_total[5m]`, `parsing`},
		{`{project="demo"}`, `no metric name`},
	} {
		errs := c.check(tc.expr)
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		if !strings.Contains(strings.Join(msgs, "\n"), tc.want) {
			t.Errorf("check(%q) = %q, want an error containing %q", tc.expr, msgs, tc.want)
		}
	}
	// And accepts what is valid.
	for _, expr := range []string{
		`histogram_quantile(0.99, sum by (le, stage) (rate(fd2_stage_duration_seconds_bucket[5m])))`,
		`sum by (job, instance) (fd2_pool_projects)`,
		`sum(rate(fd2_overhead_seconds_sum{project="a"}[5m])) / sum(rate(fd2_overhead_seconds_count[5m]))`,
	} {
		if errs := c.check(expr); len(errs) > 0 {
			t.Errorf("check(%q) = %v, want no error", expr, errs)
		}
	}
	if _, err := expandGrafana(`rate(fd2_requests_total{project="$other"}[5m])`); err == nil {
		t.Error("expandGrafana accepted an unknown variable")
	}
}
