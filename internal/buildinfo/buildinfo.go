// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package buildinfo is FD2's own version, commit and build date, as `fd2 version` and the detailed health
// report show them beside Caddy's version.
//
// The values are stamped at link time (the Makefile and the Dockerfile do it):
//
//	go build -ldflags "-X github.com/dsp-ai/fd2/internal/buildinfo.Version=v0.17.0 \
//	  -X github.com/dsp-ai/fd2/internal/buildinfo.Commit=abc1234 \
//	  -X github.com/dsp-ai/fd2/internal/buildinfo.Date=2026-12-07T10:00:00Z" ./cmd/fd2
//
// A plain `go build` or `go install` in a checkout stamps none of them, so each falls back to what the Go
// toolchain records (runtime/debug.ReadBuildInfo: the main module's version, vcs.revision, vcs.time), and
// to "dev" / "unknown" when that is missing too (-buildvcs=false, or a build outside a repository).
//
// This package never imports Caddy.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X; empty means "not stamped". They are variables, not constants, because -X can only
// set package-level string variables.
var (
	// Version is FD2's version, e.g. `git describe --tags --always --dirty`.
	Version string
	// Commit is the commit FD2 was built from, e.g. `git rev-parse --short HEAD`.
	Commit string
	// Date is when the binary was built, in RFC 3339 UTC.
	Date string
)

// Defaults when neither the linker nor the toolchain recorded a value.
const (
	DevVersion = "dev"
	Unknown    = "unknown"
)

// shortCommit is the length a full vcs.revision is cut to, `git rev-parse --short`'s usual length.
const shortCommit = 7

// Info is one binary's build information.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Date is the build date when it was stamped, else the commit's date (see CommitDate), else "unknown".
	Date string `json:"date"`
	// CommitDate is set when Date is vcs.time, the commit's date, not the build's: a toolchain fallback.
	CommitDate bool `json:"-"`
}

// Read returns this binary's build information: the stamped values, else the toolchain's, else the defaults.
func Read() Info {
	bi, _ := debug.ReadBuildInfo() // nil when the binary carries none
	return resolve(Version, Commit, Date, bi)
}

// resolve picks each field independently, so that a build stamping only the version still reports the
// toolchain's commit.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" && s.Value != "" {
					info.Commit = s.Value[:min(len(s.Value), shortCommit)]
				}
			case "vcs.time":
				if info.Date == "" && s.Value != "" {
					info.Date, info.CommitDate = s.Value, true
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = DevVersion
	}
	if info.Commit == "" {
		info.Commit = Unknown
	}
	if info.Date == "" {
		info.Date = Unknown
	}
	return info
}

// String is the line `fd2 version` prints after "fd2 ": "v0.17.0 (commit abc1234, built
// 2026-12-07T10:00:00Z)", or "… committed …" when the date is the commit's.
func (i Info) String() string {
	when := "built"
	if i.CommitDate {
		when = "committed"
	}
	return fmt.Sprintf("%s (commit %s, %s %s)", oneLine(i.Version), oneLine(i.Commit), when, oneLine(i.Date))
}

// oneLine keeps a stamped value from breaking the output into lines that scripts would misread.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
