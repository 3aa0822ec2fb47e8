// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"strconv"
	"sync"
	"testing"

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
