// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package watchdog bounds every wait of a reader for its next bytes — an upstream's stream, where nginx's
// proxy_read_timeout and a provider's idle timeout both mean "no pause longer than this", never "no
// longer than this in total".
//
// A stream makes one Read per event, so resetting a timer around each Read would cost more than the event's
// own work. Instead Read stamps when it began waiting, and one timer per reader looks at the stamp when the
// timeout may have passed: it fires the idle action if the current wait has lasted the whole timeout, and
// otherwise looks again when it could.
//
// This package never imports Caddy.
package watchdog

import (
	"io"
	"math"
	"sync/atomic"
	"time"
)

// Reader is an io.Reader whose waits are bounded; Stop it when the reading is over.
type Reader struct {
	r       io.Reader
	timeout time.Duration
	onIdle  func()
	timer   *time.Timer
	waiting atomic.Int64 // monoNow when the pending Read began; 0: none is pending
	stopped atomic.Bool
	fired   atomic.Bool
}

// monoBase anchors monoNow, a monotonic clock reading in nanoseconds that is never 0.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// New watches r: when one Read has waited timeout (> 0), onIdle runs once, from the timer's goroutine. It
// must make the pending Read return (close the body, cancel its request).
func New(r io.Reader, timeout time.Duration, onIdle func()) *Reader {
	w := &Reader{r: r, timeout: timeout, onIdle: onIdle}
	// Armed only once w.timer is set, which check reads.
	w.timer = time.AfterFunc(time.Duration(math.MaxInt64), w.check)
	w.timer.Reset(timeout)
	return w
}

func (w *Reader) check() {
	if w.stopped.Load() {
		return
	}
	next := w.timeout
	if since := w.waiting.Load(); since != 0 {
		waited := time.Duration(monoNow() - since)
		if waited >= w.timeout {
			w.fired.Store(true)
			w.onIdle()
			return
		}
		next = w.timeout - waited
	}
	w.timer.Reset(next)
}

// Read reads from the watched reader; only the time spent in it counts (a slow consumer between two
// Reads is not a stalled producer).
func (w *Reader) Read(p []byte) (int, error) {
	w.waiting.Store(monoNow())
	n, err := w.r.Read(p)
	w.waiting.Store(0)
	return n, err
}

// Fired reports whether the timeout ran the idle action.
func (w *Reader) Fired() bool { return w.fired.Load() }

// Stop ends the watch; the idle action will not run after it returns unless it was already running.
func (w *Reader) Stop() {
	w.stopped.Store(true)
	w.timer.Stop()
}
