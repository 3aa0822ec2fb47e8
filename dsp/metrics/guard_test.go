// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"strconv"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGuardBoundsSeries(t *testing.T) {
	g := NewGuard(50)
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_total", Help: "t"}, []string{"model"})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ { // 1,000 made-up model names per worker
				c.WithLabelValues(g.Value("model-" + strconv.Itoa(w*1000+i))).Inc()
			}
		}(w)
	}
	wg.Wait()
	if n := testutil.CollectAndCount(c); n != 51 {
		t.Fatalf("%d series, want 50 admitted + other", n)
	}
	if got := testutil.ToFloat64(c.WithLabelValues(Other)); got != 4000-50 {
		t.Fatalf("other = %v", got)
	}
	if g.Value("model-x-new") != Other {
		t.Fatal("a new value passed a full guard")
	}
}

// A label value that is not UTF-8 makes Prometheus panic; the guard hands out a valid one instead.
func TestGuardRepairsInvalidUTF8(t *testing.T) {
	g := NewGuard(10)
	for _, v := range []string{"\xff\xfe", "gpt-\xc3\x28", "ok"} {
		got := g.Value(v)
		if !utf8.ValidString(got) {
			t.Fatalf("Value(%q) = %q, not UTF-8", v, got)
		}
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"l"})
		c.WithLabelValues(got).Inc() // panics on an invalid value
	}
	if got := g.Value("gpt-\xc3\x28"); got != "gpt-\uFFFD(" {
		t.Fatalf("repaired value = %q", got)
	}
}
