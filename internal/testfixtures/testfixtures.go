// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package testfixtures locates the fixture corpora of FD2's tests, so that no test hard-codes a path.
//
// Two corpora exist:
//   - FD2's own, in testdata/platform at the repository root: Control Tower manifests and JWT-service files
//     written for FD2 in the platform's formats. It ships with the repository, so every test that needs
//     platform-shaped input runs in a fresh clone.
//   - The DSP platform's own files, read as an interop suite: $FD2_PLATFORM_FIXTURES (default
//     ../shared/fixtures, relative to the repository root) holding dsp-platform/control-tower/manifests and
//     dsp-platform/jwt-service. When it is absent, an interop test is skipped with one line saying why,
//     except under CI=true, where a missing corpus fails the test: CI must not pass by running nothing.
//
// The package is for tests only and imports neither Caddy nor any FD2 package.
package testfixtures

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvPlatform names the platform corpus directory; a relative value is relative to the repository root.
const EnvPlatform = "FD2_PLATFORM_FIXTURES"

// DefaultPlatform is the platform corpus directory when EnvPlatform is unset.
const DefaultPlatform = "../shared/fixtures"

// RepoRoot is the repository root, found from this file's location so it holds in any package directory
// and in any copy of the tree. A binary built with -trimpath has no such location; it then walks up from
// the working directory (a test's is its package directory) to the go.mod.
func RepoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	}
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Corpus is FD2's own corpus, testdata/platform.
func Corpus() string { return filepath.Join(RepoRoot(), "testdata", "platform") }

// Manifests is the directory of FD2's own Control Tower manifests (file stem = project id).
func Manifests() string { return filepath.Join(Corpus(), "control-tower", "manifests") }

// SecretsConfig is the Control Tower secrets_config.json that resolves the corpus's config: references.
func SecretsConfig() string { return filepath.Join(Corpus(), "control-tower", "secrets_config.json") }

// JWTService is the directory of FD2's own JWT-service files: users.yaml and api_keys/.
func JWTService() string { return filepath.Join(Corpus(), "jwt-service") }

// ManifestFiles lists every manifest of a directory (sorted paths of *.json).
func ManifestFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no manifests in %s (%v)", dir, err)
	}
	return files
}

// PlatformDir returns the platform corpus's dsp-platform directory, or an error saying why it is not there.
func PlatformDir() (string, error) {
	dir := os.Getenv(EnvPlatform)
	src := EnvPlatform
	if dir == "" {
		dir, src = DefaultPlatform, "the default"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(RepoRoot(), dir)
	}
	dir = filepath.Join(dir, "dsp-platform")
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("no platform fixtures at %s (%s; set %s to the directory holding dsp-platform/)", dir, src, EnvPlatform)
	case err != nil:
		return "", fmt.Errorf("checking platform fixtures at %s: %w", dir, err)
	case !fi.IsDir():
		return "", fmt.Errorf("platform fixtures at %s: not a directory", dir)
	}
	return dir, nil
}

// CI reports whether the suite runs under CI (CI=true), where a missing dependency fails.
func CI() bool { return os.Getenv("CI") == "true" }

// Platform returns the platform corpus's dsp-platform directory for an interop test. When the corpus is
// absent it skips tb with one line, or fails it under CI=true.
func Platform(tb testing.TB) string {
	tb.Helper()
	dir, err := PlatformDir()
	if err != nil {
		if CI() {
			tb.Fatalf("interop suite: %v (CI=true: a missing corpus fails)", err)
		}
		tb.Skipf("interop suite did not run: %v", err)
	}
	return dir
}

// PlatformManifests is the platform's Control Tower manifest directory (see Platform).
func PlatformManifests(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Platform(tb), "control-tower", "manifests")
}

// PlatformJWTService is the platform's JWT-service directory (see Platform).
func PlatformJWTService(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Platform(tb), "jwt-service")
}
