// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"testing"
)

func TestUsageSinkContext(t *testing.T) {
	var got Usage
	sink := UsageSinkFunc(func(u Usage) { got = u })
	tests := []struct {
		name    string
		ctx     context.Context
		wantNil bool
	}{
		{name: "absent", ctx: context.Background(), wantNil: true},
		{name: "present", ctx: WithUsageSink(context.Background(), sink)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := UsageSinkFrom(tc.ctx)
			if (s == nil) != tc.wantNil {
				t.Fatalf("UsageSinkFrom = %v, want nil=%v", s, tc.wantNil)
			}
			if s != nil {
				s.ReportUsage(Usage{Total: 7})
				if got.Total != 7 {
					t.Errorf("sink received %+v", got)
				}
			}
		})
	}
}
