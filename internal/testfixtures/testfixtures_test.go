// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package testfixtures_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// recorder is a testing.TB whose Skipf and Fatalf record the call and end the calling goroutine (as the
// real ones do) without ending the test.
type recorder struct {
	*testing.T
	skipped, failed string
}

func (r *recorder) Skipf(format string, args ...any)  { r.skipped = format; runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format; runtime.Goexit() }

// platform calls testfixtures.Platform on its own goroutine, which Skipf and Fatalf may end.
func (r *recorder) platform() (dir string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		dir = testfixtures.Platform(r)
	}()
	<-done
	return dir
}

func TestPlatformLocation(t *testing.T) {
	present := t.TempDir()
	if err := os.MkdirAll(filepath.Join(present, "dsp-platform", "control-tower"), 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nothing-here")
	tests := []struct {
		name, env, ci string
		wantDir       string
		wantSkip      bool
		wantFail      bool
	}{
		{name: "absolute, present", env: present, wantDir: filepath.Join(present, "dsp-platform")},
		{name: "missing is a skip", env: missing, wantSkip: true},
		{name: "missing under CI fails", env: missing, ci: "true", wantFail: true},
		{name: "CI other than true still skips", env: missing, ci: "1", wantSkip: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(testfixtures.EnvPlatform, tc.env)
			t.Setenv("CI", tc.ci)
			r := &recorder{T: t}
			dir := r.platform()
			if (r.skipped != "") != tc.wantSkip || (r.failed != "") != tc.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tc.wantSkip, tc.wantFail)
			}
			if !tc.wantSkip && !tc.wantFail && dir != tc.wantDir {
				t.Fatalf("Platform = %q, want %q", dir, tc.wantDir)
			}
			if tc.wantSkip || tc.wantFail {
				_, err := testfixtures.PlatformDir()
				if err == nil || !strings.Contains(err.Error(), testfixtures.EnvPlatform) || !strings.Contains(err.Error(), missing) {
					t.Fatalf("PlatformDir error %v does not say where it looked and which variable to set", err)
				}
			}
		})
	}
	t.Run("relative to the repository root", func(t *testing.T) {
		rel, err := filepath.Rel(testfixtures.RepoRoot(), present)
		if err != nil {
			t.Fatalf("relating the temp dir to the repository root: %v", err)
		}
		t.Setenv(testfixtures.EnvPlatform, rel)
		if dir, err := testfixtures.PlatformDir(); err != nil || dir != filepath.Join(present, "dsp-platform") {
			t.Fatalf("PlatformDir = %q, %v", dir, err)
		}
	})
}

// TestCorpus checks FD2's own corpus is complete and self-consistent: every manifest parses, the file the
// rag integration is modelled on is served under a stem that differs from its project_id, the references
// the corpus documents resolve as documented, and the JWT-service files are where the service looks.
func TestCorpus(t *testing.T) {
	files := testfixtures.ManifestFiles(t, testfixtures.Manifests())
	if len(files) < 6 {
		t.Fatalf("%d manifests, want at least 6", len(files))
	}
	all := ""
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			ProjectID string `json:"project_id"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.ProjectID == "" {
			t.Fatalf("%s: not a manifest (%v)", f, err)
		}
		if stem := strings.TrimSuffix(filepath.Base(f), ".json"); stem == "rag-kb-integration" && m.ProjectID != "ai-rag-platform" {
			t.Errorf("rag-kb-integration.json has project_id %q, want ai-rag-platform", m.ProjectID)
		}
		all += string(raw)
	}
	for _, kind := range []string{`"vault:corp-vault:`, `"env:`, `"config:`, `"encrypted:`, "${environments.${environment}.", "${environments.common.", "${environment}",
		`"jwe-decrypt"`, `"ai-prompt-template"`, `"langgraph_workflow"`, `"rag_service"`, `"model_server"`, `"jwt_config"`, `"upstream_id"`, `"enabled": false`} {
		if !strings.Contains(all, kind) {
			t.Errorf("the corpus exercises no %s", kind)
		}
	}
	// The staging jwe_key is encrypted under the Control Tower's passphrase scheme with passphrase
	// "fd2-corpus-passphrase"; it must decrypt to a 32-byte A256GCM key.
	enc := regexp.MustCompile(`"encrypted:([^"]+)"`).FindStringSubmatch(all)
	key, err := secrets.FernetKeyFrom("fd2-corpus-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := key.Decrypt(enc[1], 0, time.Now())
	if err != nil || string(plain) != "corpus-staging-jwe-key-32-bytes!" {
		t.Fatalf("encrypted reference decrypts to %q, %v", plain, err)
	}
	for _, p := range []string{"users.yaml", "api_keys/base_api_key.yaml"} {
		if _, err := os.Stat(filepath.Join(testfixtures.JWTService(), p)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(testfixtures.SecretsConfig()); err != nil {
		t.Error(err)
	}
}
