// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fakellm

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"
)

// sseWriter paces a Server-Sent Events answer: every event is written, flushed on its own and followed by
// Options.TokenDelay. Streams are the hot path of load benchmarks, where the fake shares a core with the
// load generator, so callers render events into one reused buffer and the pause reuses one timer.
type sseWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	delay time.Duration
	timer *time.Timer
}

// startStream sends the 200 status line and streaming headers.
func (s *server) startStream(w http.ResponseWriter, r *http.Request, contentType string) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w), ctx: r.Context(), delay: s.opts.TokenDelay}
}

// send writes one complete event (framing included), flushes it and waits TokenDelay. It reports false once
// the client is gone or a write failed: there is nobody left to tell, so the caller just stops.
func (sw *sseWriter) send(event []byte) bool {
	if _, err := sw.w.Write(event); err != nil {
		return false
	}
	if err := sw.rc.Flush(); err != nil {
		return false
	}
	return sw.pause()
}

// last writes the final event and flushes it, with no pause after it.
func (sw *sseWriter) last(event []byte) {
	if _, err := sw.w.Write(event); err != nil {
		return
	}
	_ = sw.rc.Flush() // last write; a failure here has no one to be reported to
}

// pause waits TokenDelay or until the client goes away, and reports whether the full delay elapsed.
func (sw *sseWriter) pause() bool {
	if sw.delay <= 0 {
		return sw.ctx.Err() == nil
	}
	// Since Go 1.23 Reset needs no drain: an unfired timer's channel never holds a stale value.
	if sw.timer == nil {
		sw.timer = time.NewTimer(sw.delay)
	} else {
		sw.timer.Reset(sw.delay)
	}
	select {
	case <-sw.timer.C:
		return true
	case <-sw.ctx.Done():
		sw.timer.Stop()
		return false
	}
}

// close releases the timer.
func (sw *sseWriter) close() {
	if sw.timer != nil {
		sw.timer.Stop()
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json.Marshal writes it (HTML-safe: <, >
// and & escaped, U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD), so that hand-rendered
// events are byte-identical to marshalled ones without reflection or allocation.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendWordString appends word as a JSON string, followed inside the quotes by a space unless it is the
// last word: streamed words concatenate to the non-streamed text without building word+" ".
func appendWordString(dst []byte, word string, last bool) []byte {
	dst = appendJSONString(dst, word)
	if !last {
		dst = append(dst[:len(dst)-1], ' ', '"')
	}
	return dst
}
