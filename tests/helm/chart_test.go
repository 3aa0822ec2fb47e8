// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// TestLint runs helm's linter, strict (warnings fail), on the default values, every example and the test's
// own values sets.
func TestLint(t *testing.T) {
	for _, c := range testCases(t) {
		t.Run(c.name, func(t *testing.T) {
			l := action.NewLint()
			l.Strict = true
			l.Namespace = namespace
			l.KubeVersion = kubeVersion(t, defaultKube)
			res := l.Run([]string{chartDir}, deepCopy(c.vals))
			if res.TotalChartsLinted != 1 {
				t.Fatalf("linted %d charts", res.TotalChartsLinted)
			}
			for _, err := range res.Errors {
				t.Error(err)
			}
			if action.HasWarningsOrErrors(res) {
				for _, m := range res.Messages {
					t.Log(m)
				}
				t.Error("helm lint reports warnings or errors")
			}
		})
	}
}

// testCases are the documented values sets plus the test's own: testdata/structured.yaml sets every
// structured value, testdata/coverage.yaml turns on what the others leave off.
func testCases(t *testing.T) []valueCase {
	cases := valueCases(t)
	for _, f := range []string{"structured", "coverage"} {
		cases = append(cases, valueCase{name: f, vals: readValues(t, filepath.Join("testdata", f+".yaml"))})
	}
	return cases
}

var sourceRE = regexp.MustCompile(`(?m)^# Source: fd2/templates/(\S+)$`)

// TestRender renders every values set, decodes every object strictly and checks what the chart promises
// of it; between them the renders use every template.
func TestRender(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range testCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := mustRender(t, c.vals, renderOpts{})
			for _, s := range sourceRE.FindAllStringSubmatch(m, -1) {
				seen[s[1]] = true
			}
			r := rendered{objs: decodeAll(t, m)}
			checkGateway(t, r)
			checkService(t, r)
			checkReferences(t, r)
			checkCaddyfileGolden(t, c.name, r.caddyfile(t))
		})
	}
	templates, err := filepath.Glob(filepath.Join(chartDir, "templates", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range templates {
		if !seen[filepath.Base(f)] {
			t.Errorf("no values set renders templates/%s", filepath.Base(f))
		}
	}
}

// checkGateway checks the FD2 pod: security, probes, volumes, configuration and termination timing.
func checkGateway(t testing.TB, r rendered) {
	t.Helper()
	d := r.gateway(t)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want 1 container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Non-root with a read-only root filesystem and no privileges.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no pod or container security context")
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid == 0 {
		t.Error("no numeric non-root runAsUser (runAsNonRoot cannot verify a named user)")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("the root filesystem is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation is allowed")
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities: want drop [ALL] and no add, got %+v", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("no RuntimeDefault seccomp profile")
	}

	// No container port is the admin API's.
	for _, p := range c.Ports {
		if p.ContainerPort == 2019 {
			t.Error("the container declares the admin port 2019")
		}
	}
	httpPort := int32(0)
	for _, p := range c.Ports {
		if p.Name == "http" {
			httpPort = p.ContainerPort
		}
	}
	if httpPort == 0 {
		t.Fatal("no container port named http")
	}

	// The Caddyfile is the one the pod reads, from the release's ConfigMap, mounted as a directory.
	if strings.Join(c.Args, " ") != "run --config /etc/fd2/Caddyfile --adapter caddyfile" {
		t.Errorf("args %q do not run /etc/fd2/Caddyfile", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	cfg, ok := mounts["/etc/fd2"]
	if !ok || cfg.SubPath != "" {
		t.Fatal("/etc/fd2 is not mounted as a directory (a subPath mount never sees ConfigMap updates)")
	}
	if v := vols[cfg.Name]; v.ConfigMap == nil || v.ConfigMap.Name != releaseName {
		t.Errorf("/etc/fd2 is not the release's ConfigMap: %+v", v)
	}
	for _, p := range []string{"/data", "/config", "/tmp"} {
		vm, ok := mounts[p]
		if !ok || vm.ReadOnly {
			t.Errorf("%s is not a writable mount", p)
			continue
		}
		if _, ok := vols[vm.Name]; !ok {
			t.Errorf("%s mounts an undeclared volume %q", p, vm.Name)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	if env["XDG_DATA_HOME"].Value != "/data" || env["XDG_CONFIG_HOME"].Value != "/config" {
		t.Error("XDG_DATA_HOME / XDG_CONFIG_HOME do not point at the volumes")
	}

	// Probes: liveness never depends on Redis, Vault or the source, and tolerates a slow minute.
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s HTTP probe", name)
			continue
		}
		if p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe on port %s, want http", name, p.HTTPGet.Port.String())
		}
		if p.HTTPGet.Path != "/health" {
			t.Errorf("%s probe path %q, want /health (answered from memory; ?detailed=true probes dependencies)", name, p.HTTPGet.Path)
		}
	}
	if lp := c.LivenessProbe; lp != nil && lp.PeriodSeconds*lp.FailureThreshold < 30 {
		t.Errorf("liveness fails after %ds without an answer; a brief stall must not restart the pod", lp.PeriodSeconds*lp.FailureThreshold)
	}

	// Termination: the kubelet waits at least the preStop pause plus Caddy's grace period.
	cf := r.caddyfile(t)
	if m := adminRE.FindStringSubmatch(cf); m != nil && !strings.HasPrefix(m[1], "localhost:") && !strings.HasPrefix(m[1], "127.0.0.1:") && m[1] != "off" {
		t.Errorf("the admin endpoint listens on %s", m[1])
	}
	grace, ok := secondsIn(t, gracePeriodRE, cf)
	if !ok {
		t.Fatal("the Caddyfile sets no grace_period")
	}
	var pause int64
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Fatal("preStop is not a sleep")
		}
		pause = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if delay, ok := secondsIn(t, shutdownDelayRE, cf); ok {
		if pause != 0 {
			t.Error("both a preStop sleep and Caddy's shutdown_delay: the pause counts twice")
		}
		pause = delay
	}
	tg := pod.TerminationGracePeriodSeconds
	if tg == nil || *tg < grace+pause {
		t.Errorf("terminationGracePeriodSeconds %v < grace_period %d + pause %d: the kubelet would kill streams Caddy still lets finish", tg, grace, pause)
	}

	// Topology spread, when set, selects this Deployment's pods.
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("topology spread on %s does not select the pods", tsc.TopologyKey)
		}
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("the Deployment's selector does not select its own pods")
	}
	if _, hpa := r.get("HorizontalPodAutoscaler", releaseName); hpa == (d.Spec.Replicas != nil) {
		t.Errorf("replicas must be set exactly when there is no HPA (replicas %v, HPA %v)", d.Spec.Replicas, hpa)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkService checks that no Service exposes the admin API and that the gateway's Service reaches the pods.
func checkService(t testing.TB, r rendered) {
	t.Helper()
	d := r.gateway(t)
	for _, o := range r.all("Service") {
		svc := o.typed.(*corev1.Service)
		for _, p := range svc.Spec.Ports {
			if p.Port == 2019 || p.TargetPort.IntValue() == 2019 || p.TargetPort.String() == "admin" {
				t.Errorf("Service %s exposes the admin API (port %d → %s)", o.name, p.Port, p.TargetPort.String())
			}
		}
	}
	o, ok := r.get("Service", releaseName)
	if !ok {
		t.Fatal("no gateway Service")
	}
	svc := o.typed.(*corev1.Service)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("the gateway Service must have exactly the http port, got %+v", svc.Spec.Ports)
	}
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Error("the Service does not select the FD2 pods")
	}
	if redis, ok := r.get("Deployment", releaseName+"-redis"); ok && selects(svc.Spec.Selector, redis.typed.(*appsv1.Deployment).Spec.Template.Labels) {
		t.Error("the gateway Service also selects the bundled Redis")
	}
}

// checkReferences checks that the objects that point at each other agree: Secrets and ConfigMaps the pod
// uses, the HPA's target, the PDB's and NetworkPolicy's selectors, the Ingress backend, the ServiceMonitor.
func checkReferences(t testing.TB, r rendered) {
	t.Helper()
	d := r.gateway(t)
	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels
	for _, e := range pod.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if o, ok := r.get("Secret", ref.Name); ok {
			if _, ok := o.typed.(*corev1.Secret).Data[ref.Key]; !ok {
				t.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
		} else if ref.Name == releaseName {
			t.Errorf("env %s refers to the chart's Secret, which is not rendered", e.Name)
		}
	}
	for _, v := range pod.Volumes {
		// The chart's own ConfigMaps (an existingConfigMap of the values is the user's).
		if v.ConfigMap != nil && (v.ConfigMap.Name == releaseName || v.ConfigMap.Name == releaseName+"-manifests") {
			if _, ok := r.get("ConfigMap", v.ConfigMap.Name); !ok {
				t.Errorf("volume %s: ConfigMap %s is not rendered", v.Name, v.ConfigMap.Name)
			}
		}
	}
	if o, ok := r.get("HorizontalPodAutoscaler", releaseName); ok {
		hpa := o.typed.(*autoscalingv2.HorizontalPodAutoscaler)
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
			t.Errorf("the HPA scales %+v", ref)
		}
		if len(hpa.Spec.Metrics) == 0 {
			t.Error("the HPA has no metric")
		}
	}
	if o, ok := r.get("PodDisruptionBudget", releaseName); ok {
		pdb := o.typed.(*policyv1.PodDisruptionBudget)
		if !selects(pdb.Spec.Selector.MatchLabels, podLabels) {
			t.Error("the PDB does not select the FD2 pods")
		}
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Error("the PDB must set exactly one of minAvailable and maxUnavailable")
		}
	}
	if o, ok := r.get("NetworkPolicy", releaseName); ok {
		np := o.typed.(*networkingv1.NetworkPolicy)
		if !selects(np.Spec.PodSelector.MatchLabels, podLabels) {
			t.Error("the NetworkPolicy does not select the FD2 pods")
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.String() != "http" {
				t.Errorf("an ingress rule opens %+v, want only the http port", rule.Ports)
			}
		}
	}
	if o, ok := r.get("Ingress", releaseName); ok {
		for _, rule := range o.typed.(*networkingv1.Ingress).Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if s := p.Backend.Service; s == nil || s.Name != releaseName || s.Port.Name != "http" {
					t.Errorf("ingress path %s does not lead to the gateway Service's http port", p.Path)
				}
			}
		}
	}
	if o, ok := r.get("ServiceMonitor", releaseName); ok {
		sm := o.typed.(*monitoringv1.ServiceMonitor)
		svc, _ := r.get("Service", releaseName)
		if !selects(sm.Spec.Selector.MatchLabels, svc.typed.(*corev1.Service).Labels) {
			t.Error("the ServiceMonitor does not select the gateway Service")
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want http /metrics", sm.Spec.Endpoints)
		}
		if !strings.Contains(r.caddyfile(t), "metrics") {
			t.Error("a ServiceMonitor scrapes /metrics, which the Caddyfile does not serve")
		}
	}
	if o, ok := r.get("ConfigMap", releaseName+"-dashboard"); ok {
		checkDashboard(t, o.typed.(*corev1.ConfigMap))
	}
	if o, ok := r.get("PrometheusRule", releaseName); ok {
		checkRules(t, o.typed.(*monitoringv1.PrometheusRule))
	}
}

// checkCaddyfileGolden compares the rendered Caddyfile with testdata/caddyfiles/<case>.Caddyfile, which the
// fd2 module's TestHelmChartCaddyfilesAdapt adapts with FD2's own modules (this module does not import fd2).
func checkCaddyfileGolden(t *testing.T, name, cf string) {
	t.Helper()
	file := filepath.Join(goldenDir, name+".Caddyfile")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(cf), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != cf {
		t.Errorf("the rendered Caddyfile differs from %s (go test -update rewrites it):\n%s", file, cf)
	}
}

func checkDashboard(t testing.TB, cm *corev1.ConfigMap) {
	t.Helper()
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Error(`the dashboard ConfigMap lacks the label grafana_dashboard: "1"`)
	}
	want, err := os.ReadFile(filepath.Join(obsDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := cm.Data["fd2-dashboard.json"]
	if got != strings.TrimRight(string(want), "\n") {
		t.Error("the dashboard ConfigMap does not hold examples/observability/grafana-dashboard.json")
	}
	if !json.Valid([]byte(got)) {
		t.Error("the dashboard is not valid JSON")
	}
}

func checkRules(t testing.TB, pr *monitoringv1.PrometheusRule) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(obsDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := strictDecode(js, &want); err != nil {
		t.Fatalf("alerts.yml is not a PrometheusRule spec: %v", err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) == 0 {
		t.Fatal("alerts.yml has no rule")
	}
	gotJS, _ := json.Marshal(pr.Spec)
	wantJS, _ := json.Marshal(want)
	if !bytes.Equal(gotJS, wantJS) {
		t.Error("the PrometheusRule's groups differ from examples/observability/alerts.yml")
	}
	if !strings.Contains(string(gotJS), "{{ $labels.project }}") {
		t.Error("the alert templates were expanded by helm")
	}
}

// TestObservabilityCopies: helm cannot read outside the chart, so the chart carries copies of the
// dashboard and alerts; they must stay identical to examples/observability.
func TestObservabilityCopies(t *testing.T) {
	for _, f := range []string{"grafana-dashboard.json", "alerts.yml"} {
		want, err := os.ReadFile(filepath.Join(obsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir, "files", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/helm/fd2/files/%s differs from examples/observability/%s: cp examples/observability/%s deploy/helm/fd2/files/", f, f, f)
		}
	}
}

func checksum(t *testing.T, vals map[string]any) string {
	t.Helper()
	r := rendered{objs: decodeAll(t, mustRender(t, vals, renderOpts{}))}
	return r.gateway(t).Spec.Template.Annotations["checksum/config"]
}

// TestConfigChecksumRolls: a change of the Caddyfile changes the pod template (so helm upgrade rolls the
// pods); a change elsewhere does not.
func TestConfigChecksumRolls(t *testing.T) {
	base := checksum(t, map[string]any{})
	if base == "" {
		t.Fatal("no checksum/config annotation")
	}
	if again := checksum(t, map[string]any{}); again != base {
		t.Fatal("the checksum differs between two renders of the same values")
	}
	if c := checksum(t, map[string]any{"dsp": map[string]any{"poolSize": 101}}); c == base {
		t.Error("changing dsp.poolSize (a Caddyfile value) leaves the checksum unchanged")
	}
	if c := checksum(t, map[string]any{"gracePeriodSeconds": 61}); c == base {
		t.Error("changing gracePeriodSeconds leaves the checksum unchanged")
	}
	if c := checksum(t, map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "1"}}}); c != base {
		t.Error("changing resources (not configuration) changes the config checksum")
	}
	if c := checksum(t, map[string]any{"rollOnConfigChange": false}); c != "" {
		t.Error("rollOnConfigChange false still sets the checksum")
	}
}

// TestStructuredDSPBlock: the structured values render into exactly this dsp block.
func TestStructuredDSPBlock(t *testing.T) {
	vals := readValues(t, filepath.Join("testdata", "structured.yaml"))
	r := rendered{objs: decodeAll(t, mustRender(t, vals, renderOpts{}))}
	cf := r.caddyfile(t)
	const want = `	dsp {
		environment staging
		manifests control_tower https://ct.example.com {
			secret {env.CT_SECRET}
			timeout 7s
			retries 3
			refresh 45s
		}
		cache memory {
			ttl 90s
			max_projects 250
		}
		cache redis {env.FD2_REDIS_URL} {
			ttl 10m
			prefix fd2-test:
		}
		last_good /data/lg
		max_stale 6h
		cache_key {env.FD2_CACHE_KEY}
		vault kv https://vault.example.com:8200 {
			token {env.VAULT_TOKEN}
			namespace team-a
			kv_mount kv
			kv_version 1
			cache_ttl 1m
			grace 2h
			probe_interval off
		}
		secrets_config /etc/fd2/secrets_config.json
		encryption_key {env.ENCRYPTION_KEY}
		require_exp on
		max_manifest_size 2MiB
		pool_size 50
		max_body_size 1MiB
		vault second https://vault2.example.com:8200 {
			token {env.VAULT2_TOKEN}
		}
	}
`
	if !strings.Contains(cf, want) {
		t.Errorf("the dsp block is not the expected one; Caddyfile:\n%s", cf)
	}
	for _, line := range []string{"\tgrace_period 20s\n", "\t\t\t\thost_suffix .gw.example.com\n",
		"\t\t\t\tjwt_service_secret {env.JWT_SECRET_KEY}\n", "\t\t\t\tfail_mode closed\n", "\t\t\t\tinstances 4\n"} {
		if !strings.Contains(cf, line) {
			t.Errorf("the Caddyfile lacks %q", line)
		}
	}
	if strings.Contains(cf, "dsp_fakellm") || strings.Contains(cf, "handle /metrics") {
		t.Error("the demo doubles or /metrics are rendered though neither is asked for")
	}
	cm, _ := r.get("ConfigMap", releaseName)
	if got := cm.typed.(*corev1.ConfigMap).Data["secrets_config.json"]; !strings.Contains(got, `"vault_instances"`) {
		t.Errorf("secrets_config.json is not in the ConfigMap: %q", got)
	}
	sec, ok := r.get("Secret", releaseName)
	if !ok {
		t.Fatal("no chart Secret")
	}
	for _, k := range []string{"ct", "redis-url", "cache", "enc", "jwt", "vtoken"} {
		if _, ok := sec.typed.(*corev1.Secret).Data[k]; !ok {
			t.Errorf("the chart Secret lacks %s", k)
		}
	}
}

// TestPreStopBefore130: without the preStop sleep action (Kubernetes < 1.30, and no shell in the image),
// the same pause is Caddy's shutdown_delay; from 1.30 on it is the pod's preStop sleep.
func TestPreStopBefore130(t *testing.T) {
	for _, tc := range []struct {
		kube      string
		wantSleep bool
	}{{"v1.29.4", false}, {"v1.30.0", true}, {"v1.27.0", false}} {
		r := rendered{objs: decodeAll(t, mustRender(t, map[string]any{}, renderOpts{kube: tc.kube}))}
		c := r.gateway(t).Spec.Template.Spec.Containers[0]
		hasSleep := c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil
		delay, hasDelay := secondsIn(t, shutdownDelayRE, r.caddyfile(t))
		if hasSleep != tc.wantSleep || hasDelay == tc.wantSleep {
			t.Errorf("kube %s: preStop sleep %v, shutdown_delay %v; want the sleep %v", tc.kube, hasSleep, hasDelay, tc.wantSleep)
		}
		if hasDelay && delay != 10 {
			t.Errorf("kube %s: shutdown_delay %ds, want preStopSleepSeconds (10)", tc.kube, delay)
		}
		if tg := *r.gateway(t).Spec.Template.Spec.TerminationGracePeriodSeconds; tg != 75 {
			t.Errorf("kube %s: terminationGracePeriodSeconds %d, want 60 + 10 + 5", tc.kube, tg)
		}
	}
	if _, _, err := render(t, map[string]any{}, renderOpts{kube: "v1.26.9"}); err == nil {
		t.Error("the chart renders for Kubernetes 1.26, below its kubeVersion")
	}
}

// TestSchemaRefusesTypos: values.schema.json refuses unknown keys, wrong types and malformed durations.
func TestSchemaRefusesTypos(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals string
		want string
	}{
		{"top-level typo", `replicaCont: 3`, "replicaCont"},
		{"nested typo", `dsp: {memoryCache: {maxProject: 5}}`, "maxProject"},
		{"typo in a ref", `vault: {auth: {tokenRef: {nmae: x, key: y}}}`, "nmae"},
		{"wrong type", `gracePeriodSeconds: "60"`, "gracePeriodSeconds"},
		{"bad duration", `dsp: {memoryCache: {ttl: 5 minutes}}`, "ttl"},
		{"unknown source", `dsp: {manifests: {source: s3}}`, "source"},
		{"privileged port", `http: {port: 80}`, "port"},
		{"manifest file name", `dsp: {manifests: {source: file, file: {files: {"my project.json": "{}"}}}}`, "my project.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, _, err := render(t, vals, renderOpts{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render error %v, want a schema error naming %q", err, tc.want)
			}
			l := action.NewLint()
			l.KubeVersion = kubeVersion(t, defaultKube)
			if res := l.Run([]string{chartDir}, vals); len(res.Errors) == 0 {
				t.Error("helm lint accepts the values")
			}
		})
	}
}

// TestChartRefuses: values the schema cannot judge but the chart must not render.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals string
		want string
	}{
		{"verbatim without grace_period", "caddyfile: \":8080 {\\n}\\n\"", "grace_period 60s"},
		{"verbatim with another grace_period", "caddyfile: \"{\\n grace_period 30s\\n}\\n:8080 {\\n}\\n\"", "grace_period 60s"},
		{"verbatim exposing admin", "caddyfile: \"{\\n admin 0.0.0.0:2019\\n grace_period 60s\\n}\\n:8080 {\\n}\\n\"", "admin endpoint must stay on localhost"},
		{"verbatim on another port", "caddyfile: \"{\\n grace_period 60s\\n}\\n:9000 {\\n}\\n\"", ":8080"},
		{"file source without files", `dsp: {manifests: {source: file}}`, "existingConfigMap"},
		{"control tower without url", `dsp: {manifests: {source: control_tower}}`, "controlTower.url"},
		{"missing chart secret key", `dsp: {manifests: {source: control_tower, controlTower: {url: "http://ct:8000"}}}`, "control-tower-secret"},
		{"two redis", `redis: {url: "redis://r:6379", bundled: {enabled: true}}`, "choose one"},
		{"redis url twice", `{redis: {url: "redis://r:6379"}, secrets: {redis-url: x}}`, "redis-url"},
		{"vault without address", `vault: {enabled: true, auth: {tokenRef: {name: v, key: t}}}`, "vault.address"},
		{"pdb with both", `podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}`, "one of"},
		{"hpa without metric", `autoscaling: {enabled: true, targetCPUUtilizationPercentage: 0}`, "CPU target"},
		{"servicemonitor without metrics", `{serviceMonitor: {enabled: true}, site: {metrics: false}}`, "site.metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, _, err := render(t, vals, renderOpts{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
