// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package reqbody reads a request body whole at most once per request, under one cap, and shares it with
// every later reader.
//
// Several stages need a JSON body whole: the rate limiter estimates its tokens, dispatch renders prompt
// templates into it, the inference engine edits and forwards it. Each used to read it again with its own
// cap (16, 10 and 10 MiB), so a token-limited route could buffer 16 MiB of a body its site had capped at
// 1 MiB. Read leaves a *Buffered in place of the body: later stages get the same bytes back without
// copying them, and a proxy downstream reads the buffer as the body it forwards.
package reqbody

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultLimit is the cap used where none is configured.
const DefaultLimit int64 = 10 << 20

// ErrTooLarge is wrapped by every error about a body over its cap; readers of a capped body (Limit) return
// it too, so whoever sees the failure can answer 413.
var ErrTooLarge = errors.New("request body too large")

// TooLargeError is a body over Limit bytes.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return "the request body exceeds " + strconv.FormatInt(e.Limit, 10) + " bytes"
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Buffered is a request body held in memory. It is an io.ReadCloser, so it can stand in for the body.
type Buffered struct {
	b     []byte
	r     bytes.Reader
	stats *Stats
}

// Stats are what happened to one request's body, whichever stage did it: they carry over when a stage
// replaces the body (Replace), so the request has one record. Only the request's goroutine touches them.
type Stats struct {
	// Reads is how many times the body was read from the client: 0 or 1.
	Reads int
	// Parses is how many passes over the whole JSON document the stages made (a decode or a validation).
	Parses int
	// Object is set while the current bytes are known to be one valid JSON object (a stage parsed them, or
	// produced them by encoding a value): a later stage need not validate them again.
	Object bool
}

// NewBuffered returns a body reading b.
func NewBuffered(b []byte) *Buffered {
	bb := &Buffered{b: b, stats: &Stats{}}
	bb.r.Reset(b)
	return bb
}

// StatsOf returns the stats of r's body, or nil when no stage has read it whole.
func StatsOf(r *http.Request) *Stats {
	if bb, ok := r.Body.(*Buffered); ok {
		return bb.stats
	}
	return nil
}

// Parsed records a pass over the whole JSON body of r; object says whether it proved the body to be one
// valid JSON object.
func Parsed(r *http.Request, object bool) {
	if st := StatsOf(r); st != nil {
		st.Parses++
		st.Object = object
	}
}

// IsObject reports whether r's body is known to be one valid JSON object (see Stats.Object).
func IsObject(r *http.Request) bool {
	st := StatsOf(r)
	return st != nil && st.Object
}

// Bytes returns the whole body, whatever has been read of it; callers must not modify it.
func (b *Buffered) Bytes() []byte { return b.b }

func (b *Buffered) Read(p []byte) (int, error) { return b.r.Read(p) }

// WriteTo lets io.Copy hand the bytes over without an intermediate buffer.
func (b *Buffered) WriteTo(w io.Writer) (int64, error) { return b.r.WriteTo(w) }

// Close implements io.Closer.
func (*Buffered) Close() error { return nil }

// Read returns r's body whole. The first call reads it, under limit (≤ 0: DefaultLimit), and replaces
// r.Body (and GetBody, ContentLength) with the buffered copy; later calls return the same bytes, checked
// against their own limit. A body over the limit is a *TooLargeError, refused before any read when its
// declared length already says so. An empty body is nil, nil.
func Read(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if bb, ok := r.Body.(*Buffered); ok {
		if int64(len(bb.b)) > limit {
			return nil, &TooLargeError{Limit: limit}
		}
		return bb.b, nil
	}
	if r.ContentLength > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	var b []byte
	var err error
	if r.ContentLength > 0 {
		// The declared length is within the cap: read into a buffer of exactly that size.
		b = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(r.Body, b) // net/http ends a body at its declared length
		b = b[:n]
	} else {
		b, err = readChunked(r.Body, limit)
	}
	_ = r.Body.Close()
	if err != nil {
		var tl *TooLargeError // a Limited body under an earlier, smaller cap
		if errors.As(err, &tl) {
			return nil, tl
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &TooLargeError{Limit: min(limit, mbe.Limit)}
		}
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	Replace(r, b)
	r.Body.(*Buffered).stats.Reads++
	return b, nil
}

// blocks hold bodies of unknown length while they arrive. io.ReadAll would grow one slice by copying,
// leaving about as much garbage as it keeps; pooled blocks leave none, and a body over the cap costs only
// blocks that the next request reuses.
var blocks = sync.Pool{New: func() any { b := make([]byte, blockSize); return &b }}

const blockSize = 32 << 10

// readChunked reads a body of unknown length whole, failing with *TooLargeError past limit bytes.
func readChunked(rd io.Reader, limit int64) ([]byte, error) {
	var held []*[]byte
	defer func() {
		for _, b := range held {
			blocks.Put(b)
		}
	}()
	var n int64
	last := 0 // bytes in the last block
	for {
		bp := blocks.Get().(*[]byte)
		held = append(held, bp)
		m, err := io.ReadFull(rd, *bp)
		n += int64(m)
		last = m
		if n > limit {
			return nil, &TooLargeError{Limit: limit}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break // the body ended within this block
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, n)
	for i, bp := range held {
		if i == len(held)-1 {
			out = append(out, (*bp)[:last]...)
		} else {
			out = append(out, *bp...)
		}
	}
	return out, nil
}

// Replace makes b the request's body (after an edit, say), so that later stages and the proxy see it.
func Replace(r *http.Request, b []byte) {
	replace(r, b, false)
}

// ReplaceObject is Replace for bytes the caller produced by encoding a JSON object (or parsed as one):
// later stages skip validating them.
func ReplaceObject(r *http.Request, b []byte) {
	replace(r, b, true)
}

func replace(r *http.Request, b []byte, object bool) {
	nb := NewBuffered(b)
	if old, ok := r.Body.(*Buffered); ok {
		nb.stats = old.stats
	}
	nb.stats.Object = object
	r.Body = nb
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return NewBuffered(b), nil }
	if r.Header != nil {
		r.Header.Del("Transfer-Encoding")
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	}
	r.TransferEncoding = nil
}

// Limit caps a body that is streamed rather than read whole: reading past limit bytes fails with
// ErrTooLarge (a body of exactly limit bytes is fine). Exceeded tells afterwards whether that happened, so
// that a proxy error it caused can be answered 413 rather than 502.
func Limit(rc io.ReadCloser, limit int64) *Limited {
	return &Limited{rc: rc, left: limit, limit: limit}
}

// Limited is a body under Limit.
type Limited struct {
	rc       io.ReadCloser
	left     int64
	limit    int64
	exceeded atomic.Bool // set by the proxy transport's goroutine, read by the handler's
}

func (l *Limited) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte // probe for one more byte: a body of exactly the limit is fine
		n, err := l.rc.Read(one[:])
		if n > 0 {
			l.exceeded.Store(true)
			return 0, &TooLargeError{Limit: l.limit}
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

// Close closes the underlying body.
func (l *Limited) Close() error { return l.rc.Close() }

// Exceeded reports whether a read went past the limit.
func (l *Limited) Exceeded() bool { return l.exceeded.Load() }
