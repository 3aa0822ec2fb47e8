// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package background_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/dsp/metrics"
)

// TestGoRecoversAndCounts: without the recovery a panic in a goroutine ends the test binary, so this test
// failing means the process would have died.
func TestGoRecoversAndCounts(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	log := zap.New(core)
	before := testutil.ToFloat64(metrics.BackgroundPanics.WithLabelValues("test_go"))
	done := make(chan struct{})
	background.Go(log, "test_go", func() {
		defer close(done)
		nilMap()["x"] = 1 // the nil-map write of issue 12 item 1
	}, zap.String("project", "p1"))
	<-done
	waitFor(t, func() bool { return logs.Len() == 1 })
	if got := testutil.ToFloat64(metrics.BackgroundPanics.WithLabelValues("test_go")) - before; got != 1 {
		t.Fatalf("fd2_background_panics_total{task=test_go} grew by %v, want 1", got)
	}
	e := logs.All()[0]
	f := e.ContextMap()
	if e.Level != zapcore.ErrorLevel || f["task"] != "test_go" || f["project"] != "p1" ||
		!strings.Contains(f["panic"].(string), "nil map") {
		t.Fatalf("log entry = %v %v", e.Level, f)
	}
}

func TestRecoverKeepsALoopAlive(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	log := zap.New(core)
	ran := 0
	for i := range 3 {
		func() {
			defer background.Recover(log, "test_loop")
			ran++
			if i == 1 {
				panic("the secret is hunter2")
			}
		}()
	}
	if ran != 3 || logs.Len() != 1 {
		t.Fatalf("ran %d iterations, logged %d panics; want 3 and 1", ran, logs.Len())
	}
	// A value handed to panic could be anything: only its type is logged.
	if p := logs.All()[0].ContextMap()["panic"].(string); strings.Contains(p, "hunter2") {
		t.Fatalf("the panic value reached the log: %q", p)
	}
}

func TestRunTurnsPanicIntoError(t *testing.T) {
	before := testutil.ToFloat64(metrics.BackgroundPanics.WithLabelValues("test_run"))
	err := background.Run(zap.NewNop(), "test_run", func() error {
		var s []int
		_ = s[3]
		return nil
	})
	if !errors.Is(err, background.ErrPanic) || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("Run = %v, want an error wrapping ErrPanic naming the runtime error", err)
	}
	if got := testutil.ToFloat64(metrics.BackgroundPanics.WithLabelValues("test_run")) - before; got != 1 {
		t.Fatalf("counter grew by %v, want 1", got)
	}
	want := errors.New("plain")
	if err := background.Run(zap.NewNop(), "test_run", func() error { return want }); err != want {
		t.Fatalf("Run without panic = %v, want fn's error", err)
	}
}

// TestCollectorRegistered: the family must reach /metrics with the others.
func TestCollectorRegistered(t *testing.T) {
	for _, c := range metrics.All() {
		if c == metrics.BackgroundPanics {
			return
		}
	}
	t.Fatal("metrics.All() does not include fd2_background_panics_total")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nilMap hides its nil from static analysis: the tests need the real runtime panic.
func nilMap() map[string]any { return nil }
