// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"strings"
	"testing"
)

func TestMapError(t *testing.T) {
	const trace = "Traceback (most recent call last):\n  File \"/srv/app/model_server.py\", line 88, in generate_embeddings\n" +
		"    model = get_embedding_model(request.model_name)\nRuntimeError: CUDA out of memory"
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   int
		code   string
		msg    string // a part of the client message
		never  []string
	}{
		{"validation 422", 422, `{"detail":[{"type":"missing","loc":["body","texts"],"msg":"Field required","input":{"q":1}},` +
			`{"type":"string_type","loc":["body","texts",2],"msg":"Input should be a valid string"}]}`,
			422, "validation_error", "model server: texts: Field required; texts.2: Input should be a valid string", []string{`"q"`}},
		{"validation 422, many items", 422, `{"detail":[` + strings.Repeat(`{"loc":["body","x"],"msg":"bad"},`, 7) + `{"loc":["body","x"],"msg":"bad"}]}`,
			422, "validation_error", "and 3 more", nil},
		{"validation 422 unreadable", 422, `oops`, 422, "validation_error", "model server: the request failed validation", nil},
		{"eval 400 kept", 400, `{"detail":"Number of texts must match number of ground truth labels"}`,
			400, "invalid_request", "model server: Number of texts must match number of ground truth labels", nil},
		{"400 with a path", 400, `{"detail":"cannot read /srv/models/secret-model/config.json for 'x'"}`,
			400, "invalid_request", "cannot read [path] for 'x'", []string{"/srv"}},
		{"400 with a Windows path", 400, `{"detail":"missing C:\\models\\x\\config.json"}`, 400, "invalid_request", "missing [path]", []string{"C:"}},
		{"400 with a URL", 400, `{"detail":"upstream http://10.0.0.7:9001/api/v1/models/embeddings refused"}`,
			400, "invalid_request", "upstream [url] refused", []string{"10.0.0.7"}},
		{"400 with a traceback", 400, `{"detail":` + quoteJSON("bad input\n"+trace) + `}`, 400, "invalid_request", "model server: bad input",
			[]string{"Traceback", "File \"", "model_server.py", "CUDA"}},
		{"400 frame lines only", 400, `{"detail":` + quoteJSON("bad\n  File \"/x/y.py\", line 1\nstill bad") + `}`, 400, "invalid_request", "bad still bad", []string{"y.py"}},
		{"400 long", 400, `{"detail":"` + strings.Repeat("é", 400) + `"}`, 400, "invalid_request", "…", nil},
		{"model not found 404", 404, `{"detail":"Embedding model 'e-x' not available locally. Please download it first."}`,
			404, "model_not_found", "model server: Embedding model 'e-x' not available locally", nil},
		{"other 404", 404, `{"detail":"Configuration 'x' not found"}`, 404, "not_found", "Configuration 'x' not found", nil},
		// FastAPI's own 404 means the module calls a path the model server does not serve.
		{"route 404", 404, `{"detail":"Not Found"}`, 502, "upstream_error", "*_endpoint", nil},
		{"route 404 html", 404, `<html>nope</html>`, 502, "upstream_error", "*_endpoint", nil},
		{"wrapped missing model", 500, `{"detail":"Embedding generation failed: 500: Failed to load model: 404: Embedding model 'e-x' not available locally. Please download it first."}`,
			404, "model_not_found", "model server: Embedding model 'e-x' not available locally. Please download it first.", []string{"generation failed"}},
		{"wrapped missing reranker", 500, `{"detail":"Reranking failed: 500: Failed to load model: 404: Reranker model 'cross-encoder/ms-marco' not available locally."}`,
			404, "model_not_found", "Reranker model 'cross-encoder/ms-marco'", nil},
		{"500 internals hidden", 500, `{"detail":` + quoteJSON("Embedding generation failed: "+trace) + `}`, 502, "upstream_error", "the model server failed (status 500)",
			[]string{"CUDA", "Traceback", "Embedding generation"}},
		{"500 not JSON", 500, `Internal Server Error`, 502, "upstream_error", "status 500", nil},
		{"502", 502, `{"detail":"bad gateway"}`, 502, "upstream_error", "status 502", nil},
		{"503 kept", 503, `{"detail":"loading"}`, 503, "service_unavailable", "temporarily unavailable", []string{"loading"}},
		{"504 kept", 504, ``, 504, "upstream_timeout", "timed out", nil},
		{"429 kept", 429, `{"detail":"slow down"}`, 429, "rate_limited", "retry later", nil},
		{"413 kept", 413, `{"detail":"Request Entity Too Large"}`, 413, "request_too_large", "Request Entity Too Large", nil},
		// FD2's credentials or configuration, not the client's request.
		{"401", 401, `{"detail":"Invalid API key sk-123"}`, 502, "upstream_error", "refused the gateway's request (status 401)", []string{"sk-123"}},
		{"403", 403, `{"detail":"Forbidden"}`, 502, "upstream_error", "status 403", nil},
		{"405", 405, `{"detail":"Method Not Allowed"}`, 502, "upstream_error", "status 405", nil},
		{"rag2 shape", 400, `{"error":"Bad thing","detail":"Bad thing happened","timestamp":"2026-01-01T00:00:00"}`, 400, "invalid_request", "Bad thing happened", nil},
		{"openai shape", 400, `{"error":{"message":"bad model","type":"invalid_request_error"}}`, 400, "invalid_request", "model server: bad model", nil},
		{"empty body", 400, ``, 400, "invalid_request", "model server: the request is invalid", nil},
		{"huge body", 400, `{"detail":"` + strings.Repeat("x", maxErrorBody) + `"}`, 400, "invalid_request", "model server: the request is invalid", nil},
		{"control characters", 400, `{"detail":"a\u0000b\u001b[31mc"}`, 400, "invalid_request", "a b [31mc", []string{"\x00", "\x1b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MapError(tc.status, []byte(tc.body))
			if e == nil {
				t.Fatal("no error")
			}
			if e.Status != tc.want || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("error %d %s %q, want %d %s containing %q", e.Status, e.Code, e.Message, tc.want, tc.code, tc.msg)
			}
			if len(e.Message) > maxErrorMessage+len("model server: ")+len("…") {
				t.Fatalf("message of %d bytes", len(e.Message))
			}
			body := string(e.Marshal("r"))
			for _, n := range tc.never {
				if strings.Contains(body, n) {
					t.Fatalf("the client body carries %q: %s", n, body)
				}
			}
		})
	}
	for _, status := range []int{200, 204, 304} {
		if e := MapError(status, nil); e != nil {
			t.Fatalf("status %d mapped to %v", status, e)
		}
	}
	// The detail of a hidden 5xx is kept for the log.
	if e := MapError(500, []byte(`{"detail":"disk full"}`)); e.Cause == nil || e.Cause.Error() != "disk full" {
		t.Fatalf("cause %v", e.Cause)
	}
}

func quoteJSON(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"model 'sentence-transformers/all-MiniLM-L6-v2' failed":    "model 'sentence-transformers/all-MiniLM-L6-v2' failed",
		"POST /embeddings failed":                                  "POST /embeddings failed",
		"at /opt/app/x.py:12":                                      "at [path]",
		"('/var/lib/models/m', 3)":                                 "('[path]', 3)",
		"  spaced \t out \r\n text ":                               "spaced out text",
		"see https://internal.example/x?token=abc":                 "see [url]",
		"before\nTraceback (most recent call last):\n  File \"a\"": "before",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	long := sanitize(strings.Repeat("日本", 200))
	if !strings.HasSuffix(long, "…") || len(long) > maxErrorMessage+len("…") || !strings.HasPrefix(long, "日本") {
		t.Fatalf("long message %q", long)
	}
}
