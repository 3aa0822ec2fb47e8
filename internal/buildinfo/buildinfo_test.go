// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/dsp-ai/fd2", Version: "v0.16.1-0.20261207100000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-06T09:30:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/dsp-ai/fd2", Version: "(devel)"}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
		wantLine              string
	}{
		{
			name: "stamped wins over the toolchain", version: "v0.17.0", commit: "abc1234", date: "2026-12-07T10:00:00Z", bi: vcs,
			want:     Info{Version: "v0.17.0", Commit: "abc1234", Date: "2026-12-07T10:00:00Z"},
			wantLine: "v0.17.0 (commit abc1234, built 2026-12-07T10:00:00Z)",
		},
		{
			name: "toolchain fallback", bi: vcs,
			want:     Info{Version: "v0.16.1-0.20261207100000-0123456789ab+dirty", Commit: "0123456", Date: "2026-12-06T09:30:00Z", CommitDate: true},
			wantLine: "v0.16.1-0.20261207100000-0123456789ab+dirty (commit 0123456, committed 2026-12-06T09:30:00Z)",
		},
		{
			name: "each field falls back on its own", version: "v0.17.0", bi: vcs,
			want: Info{Version: "v0.17.0", Commit: "0123456", Date: "2026-12-06T09:30:00Z", CommitDate: true},
		},
		{
			name: "no build info", version: "", bi: nil,
			want:     Info{Version: DevVersion, Commit: Unknown, Date: Unknown},
			wantLine: "dev (commit unknown, built unknown)",
		},
		{
			name: "devel main module and no vcs", bi: devel,
			want: Info{Version: DevVersion, Commit: Unknown, Date: Unknown},
		},
		{
			name: "a short revision is kept whole", bi: &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}},
			want: Info{Version: DevVersion, Commit: "abc", Date: Unknown},
		},
		{
			name: "a stamped value with a newline stays on one line", version: "v1\nfd2 v9", commit: "abc1234", date: "2026-12-07T10:00:00Z",
			want:     Info{Version: "v1\nfd2 v9", Commit: "abc1234", Date: "2026-12-07T10:00:00Z"},
			wantLine: "v1 fd2 v9 (commit abc1234, built 2026-12-07T10:00:00Z)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.version, tc.commit, tc.date, tc.bi)
			if got != tc.want {
				t.Fatalf("resolve = %+v, want %+v", got, tc.want)
			}
			if tc.wantLine != "" {
				if line := got.String(); line != tc.wantLine {
					t.Fatalf("String = %q, want %q", line, tc.wantLine)
				}
			}
		})
	}
}

// TestReadUsesStampedValues checks that Read takes the variables -ldflags -X sets.
func TestReadUsesStampedValues(t *testing.T) {
	saved := [3]string{Version, Commit, Date}
	t.Cleanup(func() { Version, Commit, Date = saved[0], saved[1], saved[2] })
	Version, Commit, Date = "v9.9.9", "feedbee", "2026-01-02T03:04:05Z"
	want := Info{Version: "v9.9.9", Commit: "feedbee", Date: "2026-01-02T03:04:05Z"}
	if got := Read(); got != want {
		t.Fatalf("Read = %+v, want %+v", got, want)
	}
}
