// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package helm checks the chart in deploy/helm/fd2 without a cluster: helm's own linter and renderer (the
// Go packages the helm binary is built from) run on the default values and every values example, and each
// rendered object is decoded strictly into its Kubernetes (or Prometheus Operator) API type. It is a module
// of its own so helm and the Kubernetes API types stay out of fd2's go.mod.
package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/caddyfiles from the chart")

var (
	chartDir    = filepath.Join("..", "..", "deploy", "helm", "fd2")
	examplesDir = filepath.Join(chartDir, "examples")
	obsDir      = filepath.Join("..", "..", "examples", "observability")
	goldenDir   = filepath.Join("testdata", "caddyfiles")
)

const (
	releaseName = "fd2"
	namespace   = "gateway"
	// defaultKube is the cluster version renders assume unless a test says otherwise.
	defaultKube = "v1.33.0"
)

// valueCase is one values set the chart is documented with: the defaults or a file of examples/.
type valueCase struct {
	name string
	vals map[string]any
}

// valueCases returns the default values and every examples/*.yaml.
func valueCases(t *testing.T) []valueCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want at least 3 values examples in %s, found %d", examplesDir, len(files))
	}
	cases := []valueCase{{name: "default", vals: map[string]any{}}}
	for _, f := range files {
		cases = append(cases, valueCase{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), vals: readValues(t, f)})
	}
	return cases
}

func readValues(t testing.TB, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	return vals
}

func kubeVersion(t testing.TB, v string) *common.KubeVersion {
	t.Helper()
	kv, err := common.ParseKubeVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// renderOpts are the knobs of one render.
type renderOpts struct {
	kube       string
	skipSchema bool
}

// render runs what `helm template` runs (a client-only dry-run install) and returns the manifest and notes.
func render(t testing.TB, vals map[string]any, o renderOpts) (manifest, notes string, err error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	if o.kube == "" {
		o.kube = defaultKube
	}
	inst := action.NewInstall(action.NewConfiguration())
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	inst.IncludeCRDs = true
	inst.KubeVersion = kubeVersion(t, o.kube)
	inst.SkipSchemaValidation = o.skipSchema
	// Install merges into the map it is given; keep the caller's intact.
	rel, err := inst.Run(chrt, deepCopy(vals))
	if err != nil {
		return "", "", err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		t.Fatalf("unexpected release type %T", rel)
	}
	return r.Manifest, r.Info.Notes, nil
}

func mustRender(t testing.TB, vals map[string]any, o renderOpts) string {
	t.Helper()
	m, _, err := render(t, vals, o)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return m
}

func deepCopy(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// object is one rendered document, decoded into its API type.
type object struct {
	kind, name string
	raw        []byte // the document as JSON
	typed      any
}

// apiTypes maps apiVersion/kind to a new value of its Go type. A kind the chart renders that is not here
// fails the test: every object is decoded strictly.
var apiTypes = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll splits a manifest into documents and decodes each strictly: unknown fields and duplicate keys
// are errors, and re-encoding the typed value must keep every field and value of the document.
func decodeAll(t testing.TB, manifest string) []object {
	t.Helper()
	var out []object
	for _, doc := range docSep.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("converting a document to JSON: %v\n%s", err, doc)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &meta); err != nil {
			t.Fatalf("reading apiVersion/kind: %v\n%s", err, doc)
		}
		newT, ok := apiTypes[meta.APIVersion+"/"+meta.Kind]
		if !ok {
			t.Errorf("%s %q: no API type to check it against", meta.APIVersion+"/"+meta.Kind, meta.Metadata.Name)
			continue
		}
		typed := newT()
		if err := strictDecode(js, typed); err != nil {
			t.Errorf("%s %q does not decode strictly: %v", meta.Kind, meta.Metadata.Name, err)
			continue
		}
		again, err := json.Marshal(typed)
		if err != nil {
			t.Fatal(err)
		}
		if err := subsetOf(js, again); err != nil {
			t.Errorf("%s %q changes in a round trip through its API type: %v", meta.Kind, meta.Metadata.Name, err)
		}
		if meta.Metadata.Name == "" {
			t.Errorf("%s without a name", meta.Kind)
		}
		out = append(out, object{kind: meta.Kind, name: meta.Metadata.Name, raw: js, typed: typed})
	}
	if len(out) == 0 {
		t.Fatal("the manifest has no object")
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func strictDecode(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the object")
	}
	return nil
}

// subsetOf reports the first field of a that b lacks or holds with another value (b may add zero values
// such as status: {} or creationTimestamp: null).
func subsetOf(a, b []byte) error {
	var av, bv any
	if err := json.Unmarshal(a, &av); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &bv); err != nil {
		return err
	}
	return subset("", av, bv)
}

func subset(path string, a, b any) error {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: an object became %T", path, b)
		}
		for _, k := range slices.Sorted(maps.Keys(a)) {
			bvk, ok := bm[k]
			if !ok {
				if isEmpty(a[k]) {
					continue // an empty or zero value is omitted on re-encoding (omitempty)
				}
				return fmt.Errorf("%s.%s: dropped", path, k)
			}
			if err := subset(path+"."+k, a[k], bvk); err != nil {
				return err
			}
		}
		return nil
	case []any:
		bl, ok := b.([]any)
		if !ok || len(bl) != len(a) {
			return fmt.Errorf("%s: a list of %d became %v", path, len(a), b)
		}
		for i := range a {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), a[i], bl[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("%s: %v became %v", path, a, b)
		}
		return nil
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// rendered is one decoded render, with lookups by kind and name.
type rendered struct {
	objs []object
}

func (r rendered) all(kind string) []object {
	var out []object
	for _, o := range r.objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) get(kind, name string) (object, bool) {
	for _, o := range r.objs {
		if o.kind == kind && o.name == name {
			return o, true
		}
	}
	return object{}, false
}

// gateway returns the FD2 Deployment (the release's name; the bundled Redis is <name>-redis).
func (r rendered) gateway(t testing.TB) *appsv1.Deployment {
	t.Helper()
	o, ok := r.get("Deployment", releaseName)
	if !ok {
		t.Fatal("no FD2 Deployment")
	}
	return o.typed.(*appsv1.Deployment)
}

// caddyfile returns the Caddyfile the pods run.
func (r rendered) caddyfile(t testing.TB) string {
	t.Helper()
	o, ok := r.get("ConfigMap", releaseName)
	if !ok {
		t.Fatal("no config ConfigMap")
	}
	cf, ok := o.typed.(*corev1.ConfigMap).Data["Caddyfile"]
	if !ok {
		t.Fatal("the config ConfigMap has no Caddyfile")
	}
	return cf
}

var (
	gracePeriodRE   = regexp.MustCompile(`(?m)^\s*grace_period\s+(\d+)s\s*$`)
	shutdownDelayRE = regexp.MustCompile(`(?m)^\s*shutdown_delay\s+(\d+)s\s*$`)
	adminRE         = regexp.MustCompile(`(?m)^\s*admin\s+(\S+)`)
)

func secondsIn(t testing.TB, re *regexp.Regexp, cf string) (int64, bool) {
	t.Helper()
	m := re.FindStringSubmatch(cf)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n, true
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
