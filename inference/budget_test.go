// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEventEnd(t *testing.T) {
	if eventEnd([]byte("data: x\n\ndata: y")) != 9 || eventEnd([]byte("data: x\r\n\r\n")) != 11 || eventEnd([]byte("data: x\n")) != -1 {
		t.Fatal("eventEnd")
	}
}

// TestBudgetWriterEndsStreamCleanly: a stream that outgrows its completion budget ends between two events
// with a finish_reason "length" chunk, an error event and [DONE]; the upstream is stopped and what it still
// sends is dropped; a response under the budget passes through whole.
func TestBudgetWriterEndsStreamCleanly(t *testing.T) {
	chunk := `data: {"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("word ", 40) + `"}}]}` + "\n\n"
	for _, tc := range []struct {
		name   string
		cap    int64
		cut    bool
		events int
	}{{"over the budget", 30, true, 1}, {"within the budget", 100000, false, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			stopped := false // the proxy copying the upstream stops at the first failed write
			bw := &BudgetWriter{ResponseWriter: rec, CapTokens: tc.cap}
			bw.Header().Set("Content-Type", "text/event-stream")
			bw.WriteHeader(http.StatusOK)
			for i := 0; i < 5; i++ {
				// events split across writes, as a proxy hands them over
				half := len(chunk) / 2
				for _, part := range []string{chunk[:half], chunk[half:]} {
					if _, err := bw.Write([]byte(part)); err != nil {
						if !errors.Is(err, ErrBudgetReached) {
							t.Fatalf("write error %v", err)
						}
						stopped = true
					}
				}
			}
			bw.Finish()
			out := rec.Body.String()
			if got := strings.Count(out, `"delta":{"content"`); got != tc.events {
				t.Errorf("%d content events forwarded, want %d", got, tc.events)
			}
			if bw.Cut() != tc.cut || stopped != tc.cut {
				t.Errorf("cut %v, upstream stopped %v; want %v", bw.Cut(), stopped, tc.cut)
			}
			if tc.cut && (!strings.HasSuffix(out, "data: [DONE]\n\n") || !strings.Contains(out, `"finish_reason":"length"`) || !rec.Flushed) {
				t.Errorf("the cut stream did not end cleanly: %q", out[max(0, len(out)-300):])
			}
			if bw.Sniffer() == nil || bw.Status() != 200 {
				t.Errorf("sniffer %v status %d", bw.Sniffer(), bw.Status())
			}
		})
	}
}

// TestBudgetWriterMetered: when the handler behind meters the response itself (Metered reports true when
// the response begins), the writer passes it through without a sniffer and never cuts it.
func TestBudgetWriterMetered(t *testing.T) {
	chunk := `data: {"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("word ", 40) + `"}}]}` + "\n\n"
	rec := httptest.NewRecorder()
	metered := false
	bw := &BudgetWriter{ResponseWriter: rec, CapTokens: 1, Metered: func() bool { return metered }}
	metered = true // claimed after the writer was made, before the response began: as dsp_openai does
	bw.Header().Set("Content-Type", "text/event-stream")
	bw.WriteHeader(http.StatusOK)
	for i := 0; i < 5; i++ {
		_, _ = bw.Write([]byte(chunk))
	}
	bw.Finish()
	if bw.Sniffer() != nil || bw.Cut() || rec.Body.String() != strings.Repeat(chunk, 5) {
		t.Fatalf("sniffer %v cut %v; body %d bytes, want %d", bw.Sniffer(), bw.Cut(), rec.Body.Len(), 5*len(chunk))
	}
}
