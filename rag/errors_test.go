// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"strings"
	"testing"
)

func TestMapError(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wStatus int
		wCode   string
		wMsg    string // substring; "=" prefix means exact
	}{
		{"wrapped 401 with status", 500, `{"error":"Internal server error: 401: Authorization header is required","detail":"Internal server error: 401: Authorization header is required","timestamp":"2026-01-01T00:00:00"}`,
			401, "unauthorized", "=Authorization header is required"},
		{"wrapped 401 without status", 500, `{"detail":"Internal server error: Token has expired"}`, 401, "unauthorized", "=Token has expired"},
		{"wrapped invalid token", 500, `{"detail":"Internal server error: Invalid token: Signature verification failed"}`, 401, "unauthorized", "Invalid token"},
		{"wrapped scheme", 500, `{"detail":"Internal server error: Invalid authentication scheme. Expected 'Bearer'"}`, 401, "unauthorized", "Expected 'Bearer'"},
		{"wrapped 403", 500, `{"detail":"Internal server error: 403: Access denied"}`, 403, "forbidden", "=Access denied"},
		{"wrapped 404", 500, `{"error":"x","detail":"Internal server error: 404: Configuration 'kb' not found"}`, 404, "not_found", "=Configuration 'kb' not found"},
		{"wrapped KeyError of an unknown configuration", 500, `{"detail":"Internal server error: \"Configuration 'kb' not found\""}`, 404, "not_found", "Configuration 'kb' not found"},
		{"a longer sentence about configurations is not a 404", 500, `{"detail":"Internal server error: loading Configuration 'kb' not found in cache, retried"}`, 502, "upstream_error", "loading"},
		{"wrapped 422", 500, `{"detail":"Internal server error: 422: k must be at most 20"}`, 422, "invalid_request", "=k must be at most 20"},
		{"wrapped 503", 500, `{"detail":"Internal server error: 503: Vector store unavailable"}`, 503, "service_unavailable", "Vector store unavailable"},
		{"wrapped 500 stays upstream", 500, `{"detail":"Internal server error: 500: division by zero"}`, 502, "upstream_error", "=the RAG service failed: 500: division by zero"},
		{"wrapped other", 500, `{"detail":"Internal server error: division by zero"}`, 502, "upstream_error", "=the RAG service failed: division by zero"},
		{"auth text mid-sentence is ambiguous", 500, `{"detail":"Internal server error: the LLM said Invalid token"}`, 502, "upstream_error", "the LLM said"},
		{"traceback cut", 500, "{\"detail\":\"Internal server error: boom\\nTraceback (most recent call last):\\n  File \\\"/app/rag/query.py\\\", line 12, in run\\nValueError: boom\"}",
			502, "upstream_error", "=the RAG service failed: boom"},
		{"all internals", 500, "{\"detail\":\"Traceback (most recent call last):\\n  File \\\"/app/x.py\\\", line 1\"}", 502, "upstream_error", "=the RAG service failed"},
		{"paths and urls redacted", 500, `{"detail":"Internal server error: [Errno 2] No such file or directory: '/srv/rag/storage/kb/index.faiss' via http://10.0.0.5:9000/api/v1/embed"}`,
			502, "upstream_error", "=the RAG service failed: [Errno 2] No such file or directory: '<path>' via <url>"},
		{"windows path", 404, `{"detail":"Configuration not found in C:\\rag\\storage\\configurations.json"}`, 404, "not_found", "=Configuration not found in <path>"},
		{"relative names kept", 404, `{"detail":"Configuration 'team/a/b' not found (dated 2026/01/02)"}`, 404, "not_found", "=Configuration 'team/a/b' not found (dated 2026/01/02)"},
		{"home and quoted paths", 500, `{"detail":"Internal server error: cannot open ~/rag/x.json or \"/etc/rag/keys\""}`, 502, "upstream_error", "=the RAG service failed: cannot open <path> or \"<path>\""},
		{"plain 404", 404, `{"detail":"Configuration 'x' not found"}`, 404, "not_found", "=Configuration 'x' not found"},
		{"plain 400", 400, `{"error":"Unsupported file type","detail":"Unsupported file type: .exe","timestamp":"t"}`, 400, "invalid_request", "=Unsupported file type: .exe"},
		{"plain 401", 401, `{"detail":"401: Token has expired"}`, 401, "unauthorized", "=Token has expired"},
		{"validation 422", 422, `{"detail":[{"type":"less_than_equal","loc":["body","k"],"msg":"Input should be less than or equal to 20","input":30},{"loc":["body","query"],"msg":"Field required"}]}`,
			422, "invalid_request", "=k: Input should be less than or equal to 20; query: Field required"},
		{"openai shape", 404, `{"error":{"message":"Model 'kb2' not found","type":"invalid_request_error","code":"model_not_found"}}`, 404, "not_found", "=Model 'kb2' not found"},
		{"503 direct", 503, `{"detail":"Service initialising"}`, 503, "service_unavailable", "=Service initialising"},
		{"502 html", 502, `<html>Bad Gateway</html>`, 502, "upstream_error", "=the RAG service failed"},
		{"504 empty", 504, ``, 502, "upstream_error", "=the RAG service failed"},
		{"413", 413, `{"detail":"File too large"}`, 413, "request_too_large", "=File too large"},
		{"429", 429, `{"detail":"slow down"}`, 429, "rate_limited", "=slow down"},
		{"400 empty gets generic", 400, `{}`, 400, "invalid_request", "=the request is malformed"},
		{"403 non-json", 403, `nope`, 403, "forbidden", "=access to this resource is forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := MapError(tt.status, []byte(tt.body))
			if e.Status != tt.wStatus || e.Code != tt.wCode {
				t.Fatalf("got %d %s (%q), want %d %s", e.Status, e.Code, e.Message, tt.wStatus, tt.wCode)
			}
			if exact, ok := strings.CutPrefix(tt.wMsg, "="); ok {
				if e.Message != exact {
					t.Fatalf("message %q, want %q", e.Message, exact)
				}
			} else if !strings.Contains(e.Message, tt.wMsg) {
				t.Fatalf("message %q lacks %q", e.Message, tt.wMsg)
			}
			for _, leak := range []string{"Traceback", `File "`, "/app/", "/srv/", "10.0.0.5", "Internal server error"} {
				if strings.Contains(e.Message, leak) {
					t.Fatalf("message %q leaks %q", e.Message, leak)
				}
			}
			if e.Cause == nil {
				t.Fatal("the upstream answer must be kept as the cause, for logs")
			}
		})
	}
}

func TestSanitizeBoundsLength(t *testing.T) {
	long := strings.Repeat("é", 400)
	got := Sanitize(long)
	if len(got) > maxMessage+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("len %d: %q", len(got), got)
	}
	if strings.ContainsRune(got, '\uFFFD') {
		t.Fatal("cut inside a rune")
	}
	if Sanitize("  \n ") != "" {
		t.Fatal("blank must stay empty")
	}
}
