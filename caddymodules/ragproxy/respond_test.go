// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// clientWriter records what reaches the client: every status line written, the headers as they were when
// the status went out, the body as it arrived, and flushes.
type clientWriter struct {
	header   http.Header
	statuses []int
	sent     http.Header
	body     bytes.Buffer
	flushes  int
}

func newClientWriter() *clientWriter { return &clientWriter{header: http.Header{}} }

func (c *clientWriter) Header() http.Header { return c.header }

func (c *clientWriter) WriteHeader(code int) {
	c.statuses = append(c.statuses, code)
	c.sent = c.header.Clone()
}

func (c *clientWriter) Write(b []byte) (int, error) {
	if len(c.statuses) == 0 {
		c.WriteHeader(http.StatusOK)
	}
	return c.body.Write(b)
}

// Flush writes the status line if none went out, as net/http's writer does.
func (c *clientWriter) Flush() {
	if len(c.statuses) == 0 {
		c.WriteHeader(http.StatusOK)
	}
	c.flushes++
}

func TestServiceWriterSuccessPassesThrough(t *testing.T) {
	cases := []struct {
		name       string
		status     int // 0: the service writes the body without a status
		wantStatus int
	}{
		{"explicit 200", http.StatusOK, http.StatusOK},
		{"201", http.StatusCreated, http.StatusCreated},
		{"implicit 200", 0, http.StatusOK},
		{"redirect", http.StatusFound, http.StatusFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cw := newClientWriter()
			sw := newServiceWriter(cw)
			var seen []byte
			sw.onWrite = func(b []byte) { seen = append(seen, b...) }
			sw.Header().Set("Content-Type", "text/event-stream")
			sw.Header().Set("X-Service", "rag2")
			if len(cw.header) != 0 {
				t.Fatalf("headers reached the client before the status: %v", cw.header)
			}
			if tc.status != 0 {
				sw.WriteHeader(tc.status)
			}
			for i, chunk := range []string{"data: one\n\n", "data: two\n\n"} {
				if n, err := sw.Write([]byte(chunk)); err != nil || n != len(chunk) {
					t.Fatalf("Write = %d, %v", n, err)
				}
				// Unbuffered: each chunk is at the client as soon as it is written, and flushing reaches it.
				if !strings.HasSuffix(cw.body.String(), chunk) {
					t.Fatalf("chunk %d not passed through: client has %q", i, cw.body.String())
				}
				if err := http.NewResponseController(sw).Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				if cw.flushes != i+1 {
					t.Fatalf("flushes = %d after chunk %d", cw.flushes, i)
				}
			}
			if len(cw.statuses) != 1 || cw.statuses[0] != tc.wantStatus {
				t.Fatalf("client statuses %v, want [%d]", cw.statuses, tc.wantStatus)
			}
			if cw.sent.Get("Content-Type") != "text/event-stream" || cw.sent.Get("X-Service") != "rag2" {
				t.Fatalf("headers sent with the status: %v", cw.sent)
			}
			if string(seen) != "data: one\n\ndata: two\n\n" {
				t.Fatalf("onWrite saw %q", seen)
			}
			if status, held, failed := sw.failed(); failed || held != nil || status != tc.wantStatus {
				t.Fatalf("failed() = %d, %q, %v", status, held, failed)
			}
		})
	}
}

func TestServiceWriterHoldsErrors(t *testing.T) {
	big := strings.Repeat("x", maxErrorBody)
	cases := []struct {
		name     string
		status   int
		writes   []string
		wantHeld string
	}{
		{"RAG2's 500", http.StatusInternalServerError, []string{`{"error":"Internal server error: `, `Traceback…"}`},
			`{"error":"Internal server error: Traceback…"}`},
		{"404 with no body", http.StatusNotFound, nil, ""},
		{"bounded at maxErrorBody", http.StatusBadGateway, []string{"ab", big, "cd"}, "ab" + big[:maxErrorBody-2]},
		{"one write past the bound", http.StatusServiceUnavailable, []string{big + "tail"}, big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cw := newClientWriter()
			sw := newServiceWriter(cw)
			sw.onWrite = func(b []byte) { t.Errorf("onWrite saw held bytes %q", b) }
			sw.Header().Set("X-Internal-Path", "/srv/rag2/app.py")
			sw.WriteHeader(tc.status)
			// A held error has nothing to flush, and flushing must not send the client a status line.
			if err := http.NewResponseController(sw).Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			for _, w := range tc.writes {
				if n, err := sw.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v; a held write must report success", n, err)
				}
			}
			sw.WriteHeader(http.StatusOK) // a second status cannot turn the error into a success
			if err := sw.FlushError(); err != nil {
				t.Fatalf("FlushError: %v", err)
			}
			if len(cw.statuses) != 0 || cw.flushes != 0 || cw.body.Len() != 0 || len(cw.header) != 0 {
				t.Fatalf("the error reached the client: statuses %v, flushes %d, body %q, header %v",
					cw.statuses, cw.flushes, cw.body.String(), cw.header)
			}
			status, held, failed := sw.failed()
			if !failed || status != tc.status || string(held) != tc.wantHeld {
				t.Fatalf("failed() = %d, %d bytes, %v; want %d, %d bytes, true", status, len(held), failed, tc.status, len(tc.wantHeld))
			}
		})
	}
}

func TestServiceWriterStatusRules(t *testing.T) {
	cases := []struct {
		name       string
		codes      []int
		wantClient []int
		wantFailed bool
	}{
		{"1xx is not relayed", []int{http.StatusContinue, http.StatusOK}, []int{http.StatusOK}, false},
		{"1xx then error is held", []int{http.StatusEarlyHints, http.StatusBadRequest}, nil, true},
		{"second status ignored", []int{http.StatusOK, http.StatusInternalServerError}, []int{http.StatusOK}, false},
		{"error then success stays held", []int{http.StatusUnauthorized, http.StatusOK}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cw := newClientWriter()
			sw := newServiceWriter(cw)
			for _, c := range tc.codes {
				sw.WriteHeader(c)
			}
			if len(cw.statuses) != len(tc.wantClient) || (len(tc.wantClient) > 0 && cw.statuses[0] != tc.wantClient[0]) {
				t.Fatalf("client statuses %v, want %v", cw.statuses, tc.wantClient)
			}
			if _, _, failed := sw.failed(); failed != tc.wantFailed {
				t.Fatalf("failed = %v, want %v", failed, tc.wantFailed)
			}
		})
	}
}

func TestServiceWriterFlushBeforeStatus(t *testing.T) {
	cw := newClientWriter()
	sw := newServiceWriter(cw)
	if err := sw.FlushError(); err != nil {
		t.Fatal(err)
	}
	// Before the service has a status nothing may go out: the answer may still be an error.
	if len(cw.statuses) != 0 || cw.flushes != 0 {
		t.Fatalf("flush before the status reached the client: %v, %d", cw.statuses, cw.flushes)
	}
	if sw.Unwrap() != http.ResponseWriter(cw) {
		t.Fatal("Unwrap does not return the client's writer")
	}
}

func TestCaptureWriter(t *testing.T) {
	cases := []struct {
		name         string
		max          int
		status       int
		writes       []string
		wantStatus   int
		wantBody     string
		wantOverflow bool
	}{
		{"implicit 200", 10, 0, []string{"abc", "de"}, http.StatusOK, "abcde", false},
		{"exactly max", 5, http.StatusOK, []string{"abc", "de"}, http.StatusOK, "abcde", false},
		{"over max", 4, http.StatusOK, []string{"abc", "de", "f"}, http.StatusOK, "abc", true},
		{"error kept", 64, http.StatusBadRequest, []string{`{"detail":"x"}`}, http.StatusBadRequest, `{"detail":"x"}`, false},
		{"1xx ignored", 8, http.StatusContinue, []string{"ok"}, http.StatusOK, "ok", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCaptureWriter(tc.max)
			c.Header().Set("Content-Type", "application/json")
			if tc.status != 0 {
				c.WriteHeader(tc.status)
			}
			for _, w := range tc.writes {
				// Past max a write still succeeds: a failed write would make the proxy abort the client.
				if n, err := c.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			c.WriteHeader(http.StatusTeapot) // the first status stands
			if c.status != tc.wantStatus || string(c.body) != tc.wantBody || c.overflow != tc.wantOverflow {
				t.Fatalf("status %d body %q overflow %v; want %d %q %v", c.status, c.body, c.overflow,
					tc.wantStatus, tc.wantBody, tc.wantOverflow)
			}
			if c.Header().Get("Content-Type") != "application/json" {
				t.Fatal("headers not kept")
			}
		})
	}
}
