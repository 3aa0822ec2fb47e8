// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package helm

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// recorder is a testing.TB that keeps the failures of a check instead of failing the test.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Error(args ...any) { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Helper()                           {}

// TestChecksCatchUnsafeValues shows the render checks fail on what they guard against: values that make the
// pod writable, root, probe dependencies, expose the admin port, or cut streams short.
func TestChecksCatchUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name, vals, want string
	}{
		{"writable root filesystem", `securityContext: {readOnlyRootFilesystem: false, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`, "root filesystem is writable"},
		{"root user", `{podSecurityContext: {runAsUser: 0}, securityContext: {runAsUser: 0, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}`, "non-root runAsUser"},
		{"added capability", `securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_ADMIN]}}`, "capabilities"},
		{"admin port on the Service", `service: {port: 2019}`, "admin API"},
		{"liveness on dependencies", `probes: {liveness: {path: "/health?detailed=true", initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6}}`, "liveness probe path"},
		{"impatient liveness", `probes: {liveness: {path: /health, initialDelaySeconds: 0, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 2}}`, "brief stall"},
		{"pause longer than the kubelet waits", "caddyfile: \"{\\n\\tgrace_period 60s\\n\\tshutdown_delay 100s\\n}\\n:8080 {\\n}\\n\"", "terminationGracePeriodSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.vals), &vals); err != nil {
				t.Fatal(err)
			}
			r := rendered{objs: decodeAll(t, mustRender(t, vals, renderOpts{}))}
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				checkGateway(rec, r)
				checkService(rec, r)
			}()
			<-done
			if !strings.Contains(strings.Join(rec.failures, "\n"), tc.want) {
				t.Errorf("the checks pass or miss it (want a failure naming %q), failures: %q", tc.want, rec.failures)
			}
		})
	}
}
