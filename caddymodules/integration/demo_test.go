// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/tidwall/gjson"
)

// TestDemoExample serves Caddyfile.example as the README runs it (only its admin and gateway ports moved;
// the bundled fake provider and RAG double keep theirs, which the demo manifest names) and makes the README's
// calls: chat through a manifest route, the demo project's RAG module, retrieval-augmented chat, the model
// server, and the static dsp_rag and dsp_openai retrieval sites.
func TestDemoExample(t *testing.T) {
	requireIntegration(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{9098, 9099} {
		if !portFree(p) {
			t.Fatalf("port %d, which the demo manifest's bundled upstreams use, is taken", p)
		}
	}
	gw, admin := freePort(t), freePort(t)
	cfg := strings.NewReplacer("admin localhost:2019", fmt.Sprintf("admin localhost:%d", admin),
		"\n:8080 {", fmt.Sprintf("\n:%d {", gw)).Replace(string(raw))
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(repoRoot()); err != nil { // the example's manifest directory is relative
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	if err := caddy.Load(adapted, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	waitListening(t, gw)
	url := func(p string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", gw, p) }

	for _, c := range []struct{ name, path, body, want string }{
		{"chat", "/demo/v1/chat/completions", `{"model":"fake-gpt","messages":[{"role":"user","content":"hello there"}]}`, "choices"},
		{"rag query", "/demo/kb/query", `{"query":"How many vacation days do Acme employees get?"}`, "answer"},
		{"rag retrieve", "/demo/kb/retrieve", `{"query":"vacation days"}`, "documents.0.metadata.tenant"},
		{"rag chat at the gateway", "/demo/rag-assistant/v1/chat/completions", `{"messages":[{"role":"user","content":"vacation days"}]}`, "sources.0.content"},
		{"rag chat, Messages API", "/demo/rag-assistant/v1/messages", `{"max_tokens":50,"messages":[{"role":"user","content":"vacation days"}]}`, "sources.0.content"},
		{"model server", "/demo/embedder/embeddings", `{"texts":["hi"]}`, "embeddings.0"},
		{"model server, OpenAI shape", "/demo/embedder/v1/embeddings", `{"input":"hi"}`, "data.0.embedding"},
		{"static dsp_rag", "/static-kb/retrieve", `{"query":"support hours"}`, "documents"},
		{"static retrieval", "/rag-chat/v1/chat/completions", `{"model":"fake-gpt","messages":[{"role":"user","content":"vacation days"}]}`, "sources.0.score"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "POST", url(c.path), c.body)
			expectStatus(t, r, 200)
			if !gjson.GetBytes(r.body, c.want).Exists() {
				t.Fatalf("no %s in %s", c.want, r.body)
			}
		})
	}
	t.Run("the demo's default filter holds", func(t *testing.T) {
		r := do(t, "POST", url("/demo/kb/retrieve"), `{"query":"release plan draft beta testers","filter":{"status":"draft"}}`)
		expectStatus(t, r, 200)
		if n := len(gjson.GetBytes(r.body, "documents").Array()); n != 0 {
			t.Fatalf("draft documents came through the published-only filter: %s", r.body)
		}
	})
}

// portFree reports whether nothing listens on 127.0.0.1:port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
