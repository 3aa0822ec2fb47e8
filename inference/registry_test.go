// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"encoding/json"
	"testing"
	"time"
)

func TestBreakerRegistry(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := NewBreakerRegistry()
	r.Now = func() time.Time { return now }
	r.Record(DeploymentKey{"b-deployment", "m"}, BreakerOpen, 30*time.Second)
	r.Record(DeploymentKey{"a-deployment", "m"}, BreakerHalfOpen, 30*time.Second)
	opened := now

	steps := []struct {
		name    string
		advance time.Duration
		record  func()
		want    []BreakerReport
	}{
		{name: "open within its open period", want: []BreakerReport{
			{Deployment: "a-deployment", Model: "m", State: BreakerHalfOpen.String(), Since: opened},
			{Deployment: "b-deployment", Model: "m", State: BreakerOpen.String(), Since: opened, RetryAt: ptr(opened.Add(30 * time.Second))},
		}},
		{name: "open past its open period reads half_open", advance: 31 * time.Second, want: []BreakerReport{
			{Deployment: "a-deployment", Model: "m", State: BreakerHalfOpen.String(), Since: opened},
			{Deployment: "b-deployment", Model: "m", State: BreakerHalfOpen.String(), Since: opened.Add(30 * time.Second)},
		}},
		{name: "closed after a good probe", record: func() { r.Record(DeploymentKey{"b-deployment", "m"}, BreakerClosed, 30*time.Second) }, want: []BreakerReport{
			{Deployment: "a-deployment", Model: "m", State: BreakerHalfOpen.String(), Since: opened},
			{Deployment: "b-deployment", Model: "m", State: BreakerClosed.String(), Since: opened.Add(31 * time.Second)},
		}},
		{name: "open without a known period stays open", record: func() { r.Record(DeploymentKey{"a-deployment", "m"}, BreakerOpen, 0) }, advance: time.Hour, want: []BreakerReport{
			{Deployment: "a-deployment", Model: "m", State: BreakerOpen.String(), Since: opened.Add(31 * time.Second)},
			{Deployment: "b-deployment", Model: "m", State: BreakerClosed.String(), Since: opened.Add(31 * time.Second)},
		}},
	}
	for _, s := range steps {
		if s.record != nil {
			s.record()
		}
		now = now.Add(s.advance)
		got, _ := json.Marshal(r.Snapshot())
		want, _ := json.Marshal(s.want)
		if string(got) != string(want) {
			t.Fatalf("%s:\n got %s\nwant %s", s.name, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
