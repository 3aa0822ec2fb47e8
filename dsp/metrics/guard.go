// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Other is the label value that values beyond a Guard's cap fold into.
const Other = "other"

// Guard caps the distinct values one label may take: the first Max values seen pass through, later new
// ones become "other". It protects Prometheus from labels a client can influence (model names on wildcard
// routes, say) — a million made-up names must not mean a million series.
type Guard struct {
	Max  int
	seen sync.Map // string → struct{}
	n    atomic.Int64
	mu   sync.Mutex
}

// NewGuard returns a guard admitting max distinct values.
func NewGuard(max int) *Guard { return &Guard{Max: max} }

// Value returns v if it is (or may become) one of the admitted values, else Other; a v that is not valid
// UTF-8 is admitted with its bad bytes replaced by U+FFFD. A known value costs one lock-free map read.
func (g *Guard) Value(v string) string {
	if _, ok := g.seen.Load(v); ok {
		return v
	}
	if !utf8.ValidString(v) {
		// Prometheus refuses (panics on) a label value that is not UTF-8, and some values come from clients.
		v = strings.ToValidUTF8(v, "\uFFFD")
		if _, ok := g.seen.Load(v); ok {
			return v
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen.Load(v); ok {
		return v
	}
	if g.n.Load() >= int64(g.Max) {
		return Other
	}
	g.seen.Store(v, struct{}{})
	g.n.Add(1)
	return v
}

// Label guards shared by FD2's collectors.
var (
	// Models caps model label values (fd2_tokens_total, fd2_time_to_first_token_seconds,
	// fd2_provider_request_duration_seconds).
	Models = NewGuard(500)
	// Projects caps project label values. Projects come from manifests the operator controls (requests for
	// unknown projects are counted under ""), so this only bounds a fleet with a very large catalogue.
	Projects = NewGuard(2000)
)
