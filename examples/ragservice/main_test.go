// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCorpus(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content string
		wantIDs       []string
		wantErr       string
	}{
		{"documents", `[{"id":"d1","content":"one","metadata":{"tenant":"acme"}},{"content":"two"}]`, []string{"d1", ""}, ""},
		{"not a list", `{"id":"d1"}`, nil, "decoding corpus"},
		{"missing file", "", nil, "reading corpus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			docs, err := loadCorpus(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(docs) != len(tc.wantIDs) {
				t.Fatalf("%v %v", docs, err)
			}
			for i, d := range docs {
				if d.ID != tc.wantIDs[i] {
					t.Fatalf("doc %d id %q", i, d.ID)
				}
			}
			if docs[0].Metadata["tenant"] != "acme" || docs[1].Content != "two" {
				t.Fatalf("%+v", docs)
			}
		})
	}
}
