// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/dsp/plugins"
)

// TestRewriteWriterStreams checks that response-rewrite edits headers without buffering: a flush reaches
// the client writer at once.
func TestRewriteWriterStreams(t *testing.T) {
	rec := httptest.NewRecorder()
	rr := &plugins.ResponseRewrite{Set: map[string]string{"X-A": "1"}, Remove: []string{"Content-Encoding"}, Status: 201}
	w := &rewriteWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, rr: rr}
	w.Header().Set("Content-Encoding", "gzip")
	if _, err := w.Write([]byte("data: 1\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("flush through the wrapper: %v", err)
	}
	if !rec.Flushed || rec.Code != 201 || rec.Header().Get("X-A") != "1" || rec.Header().Get("Content-Encoding") != "" {
		t.Fatalf("flushed %v code %d headers %v", rec.Flushed, rec.Code, rec.Header())
	}
}
