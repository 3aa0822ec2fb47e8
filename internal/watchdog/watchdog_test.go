// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package watchdog

import (
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchdog: a Read that waits the whole timeout fires the idle action (which here ends the read);
// a consumer slower than the timeout between Reads does not; a stopped watch never fires.
func TestWatchdog(t *testing.T) {
	t.Run("stalled read fires", func(t *testing.T) {
		pr, pw := io.Pipe()
		var fired atomic.Int32
		w := New(pr, 50*time.Millisecond, func() {
			fired.Add(1)
			pw.CloseWithError(io.ErrUnexpectedEOF) // the pending Read returns
		})
		defer w.Stop()
		go func() { _, _ = pw.Write([]byte("x")) }()
		buf := make([]byte, 4)
		if n, err := w.Read(buf); n != 1 || err != nil {
			t.Fatalf("first read: %d %v", n, err)
		}
		time.Sleep(120 * time.Millisecond) // a slow consumer: not a stall
		if fired.Load() != 0 || w.Fired() {
			t.Fatal("fired while nobody was waiting on the producer")
		}
		t0 := time.Now()
		if _, err := w.Read(buf); err != io.ErrUnexpectedEOF {
			t.Fatalf("stalled read returned %v", err)
		}
		if d := time.Since(t0); d < 40*time.Millisecond || d > time.Second || fired.Load() != 1 || !w.Fired() {
			t.Fatalf("fired %d times after %v", fired.Load(), d)
		}
	})
	t.Run("steady producer never fires", func(t *testing.T) {
		pr, pw := io.Pipe()
		w := New(pr, 60*time.Millisecond, func() { t.Error("fired on a producer that keeps producing") })
		go func() {
			for range 8 {
				time.Sleep(25 * time.Millisecond)
				_, _ = pw.Write([]byte("x"))
			}
			pw.Close()
		}()
		if b, err := io.ReadAll(w); err != nil || len(b) != 8 {
			t.Fatalf("%q %v", b, err)
		}
		w.Stop()
	})
	t.Run("stopped watch never fires", func(t *testing.T) {
		pr, _ := io.Pipe()
		w := New(pr, 20*time.Millisecond, func() { t.Error("fired after Stop") })
		w.Stop()
		time.Sleep(60 * time.Millisecond)
	})
}
