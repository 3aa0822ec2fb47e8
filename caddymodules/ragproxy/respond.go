// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"net/http"
)

// maxErrorBody bounds what is kept of a service's error answer to map it; the rest is dropped.
const maxErrorBody = 64 << 10

// serviceWriter stands between a service's answer and the client. A success passes straight through,
// unbuffered (streams included); an error answer (status ≥ 400) is held back, so that the service's
// shape, status and internals (RAG2 wraps every error as a 500 with a traceback) never reach the client:
// the caller maps it with the service's MapError and answers in FD2's shape. onWrite, when set, sees every
// byte passed through (for the first-token detector).
type serviceWriter struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	held    []byte
	onWrite func([]byte)
}

func newServiceWriter(w http.ResponseWriter) *serviceWriter {
	return &serviceWriter{w: w, header: make(http.Header)}
}

// Header is the service's headers, kept apart until the status says whether they go out.
func (s *serviceWriter) Header() http.Header { return s.header }

func (s *serviceWriter) WriteHeader(code int) {
	if s.status != 0 || code < 200 {
		return // 1xx from the service are not relayed; a second status cannot happen
	}
	s.status = code
	if code >= 400 {
		return
	}
	dst := s.w.Header()
	for k, v := range s.header {
		dst[k] = v
	}
	s.w.WriteHeader(code)
}

func (s *serviceWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.status >= 400 {
		if room := maxErrorBody - len(s.held); room > 0 {
			s.held = append(s.held, b[:min(room, len(b))]...)
		}
		return len(b), nil
	}
	if s.onWrite != nil {
		s.onWrite(b)
	}
	return s.w.Write(b)
}

// FlushError flushes what passed through; an error answer being held has nothing to flush (and flushing
// the client's writer then would send a 200 status line).
func (s *serviceWriter) FlushError() error {
	if s.status == 0 || s.status >= 400 {
		return nil
	}
	return http.NewResponseController(s.w).Flush()
}

// Unwrap lets http.ResponseController reach the client's writer for what the wrapper does not implement.
func (s *serviceWriter) Unwrap() http.ResponseWriter { return s.w }

// failed reports the held error answer, if the service gave one.
func (s *serviceWriter) failed() (int, []byte, bool) { return s.status, s.held, s.status >= 400 }

// captureWriter keeps a whole answer (up to max bytes) for FD2 to translate before the client sees it.
type captureWriter struct {
	header   http.Header
	status   int
	body     []byte
	max      int
	overflow bool
}

func newCaptureWriter(max int) *captureWriter {
	return &captureWriter{header: make(http.Header), max: max}
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	// Past max the rest is dropped, not refused: a failed write would make the proxy abort the client's
	// connection, where the caller answers a clean 502 instead.
	if !c.overflow && len(c.body)+len(b) <= c.max {
		c.body = append(c.body, b...)
	} else {
		c.overflow = true
	}
	return len(b), nil
}
