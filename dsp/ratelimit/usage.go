// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import "context"

// Usage is the token count of one completion.
type Usage struct {
	Prompt, Completion, Total int64
}

// UsageSink receives the usage of a request once it is known. The rate limiter installs one in the request
// context before calling the next handler; the inference module and the proxy path report to it, which is
// how a token limit learns the real cost without either side importing the other.
type UsageSink interface {
	ReportUsage(u Usage)
}

// UsageSinkFunc adapts a function to a UsageSink.
type UsageSinkFunc func(Usage)

// ReportUsage calls f(u).
func (f UsageSinkFunc) ReportUsage(u Usage) { f(u) }

type usageSinkKey struct{}

// WithUsageSink returns a context carrying s.
func WithUsageSink(ctx context.Context, s UsageSink) context.Context {
	return context.WithValue(ctx, usageSinkKey{}, s)
}

// UsageSinkFrom returns the sink in ctx, or nil when there is none.
func UsageSinkFrom(ctx context.Context) UsageSink {
	s, _ := ctx.Value(usageSinkKey{}).(UsageSink)
	return s
}
