// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package background runs FD2's own goroutines (manifest refresh, Redis pub/sub listeners, Vault probes and
// renewals, key revocation listeners, shared loads) so that none of them can take the process down.
//
// net/http recovers a panic in a request's goroutine, but nothing recovers one in a goroutine FD2 starts
// itself: the Go runtime then ends the process, and every project goes down with it (issue 12: a manifest
// file holding null did exactly that from a background refresh). Every such goroutine runs through Go or
// defers Recover; work a caller waits on (a single-flight load, whose panic singleflight re-raises on a fresh
// goroutine on purpose) runs through Run, which turns the panic into an error.
//
// A recovered panic is logged at error level with the task (and the project or instance where the caller
// knows it) and counted in fd2_background_panics_total{task}. Task names are fixed strings chosen by the
// caller, so the label stays bounded.
//
// This package never imports Caddy.
package background

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/metrics"
)

var fallback atomic.Pointer[zap.Logger]

// SetLogger sets the logger of tasks started with a nil logger (libraries that have none of their own). The
// dsp app sets it to Caddy's process logger.
func SetLogger(l *zap.Logger) { fallback.Store(l) }

// ErrPanic is wrapped by the error Run returns for a recovered panic.
var ErrPanic = errors.New("recovered panic")

// Go runs fn on a new goroutine; a panic in fn is recovered, logged and counted under task.
func Go(log *zap.Logger, task string, fn func(), fields ...zap.Field) {
	go func() {
		defer Recover(log, task, fields...)
		fn()
	}()
}

// Recover stops a panic in the goroutine it is deferred in, then logs and counts it. It must be deferred
// directly (`defer background.Recover(…)`): recover only works in the deferred function itself. Deferred
// around one iteration of a loop, it keeps the loop alive.
func Recover(log *zap.Logger, task string, fields ...zap.Field) {
	if v := recover(); v != nil {
		report(log, task, v, fields)
	}
}

// Run calls fn and returns its error, or an error wrapping ErrPanic if fn panicked (logged and counted as
// Recover does). Use it for work whose result a caller waits for.
func Run(log *zap.Logger, task string, fn func() error, fields ...zap.Field) (err error) {
	defer func() {
		if v := recover(); v != nil {
			report(log, task, v, fields)
			err = fmt.Errorf("%w in %s: %s", ErrPanic, task, describe(v))
		}
	}()
	return fn()
}

func report(log *zap.Logger, task string, v any, fields []zap.Field) {
	metrics.BackgroundPanics.WithLabelValues(task).Inc()
	if log == nil {
		if log = fallback.Load(); log == nil {
			log = zap.L()
		}
	}
	fs := make([]zap.Field, 0, len(fields)+3)
	fs = append(fs, zap.String("task", task))
	fs = append(fs, fields...)
	fs = append(fs, zap.String("panic", describe(v)), zap.Stack("stack"))
	log.Error("recovered a panic in a background task; the task stopped, the process keeps serving", fs...)
}

// describe renders a panic value without risking a secret: runtime errors (nil map writes, bad indexes)
// carry no data, while a value passed to panic by code could hold anything, so only its type is shown.
func describe(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("panic value of type %T", v)
}
