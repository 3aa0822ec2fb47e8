// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/dsp-ai/fd2/dsp/auth"
)

func newKey(owner string, rateLimit int) (string, auth.APIKey, error) {
	plain, rec, err := auth.NewAPIKey(owner, auth.WithRateLimit(rateLimit))
	registerSecret(plain)
	return plain, rec, err
}

func writeKeys(t testing.TB, path string, keys ...auth.APIKey) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func newKeyModels(owner string, models []string) (string, auth.APIKey, error) {
	plain, rec, err := auth.NewAPIKey(owner, auth.WithModels(models...))
	registerSecret(plain)
	return plain, rec, err
}

// newKeyNoRegister makes a key without registering it for the redaction scan (for tests making thousands:
// they register a sample themselves).
func newKeyNoRegister(owner string, rateLimit int) (string, auth.APIKey, error) {
	return auth.NewAPIKey(owner, auth.WithRateLimit(rateLimit))
}
