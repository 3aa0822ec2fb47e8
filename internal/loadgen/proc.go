// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, which Linux fixes at 100 for
// user space on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPUTime is the user plus system CPU time a process has used so far (all its threads), from
// /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the process's stat: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: no command field", pid)
	}
	f := bytes.Fields(b[i+1:])
	// After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Memory is a process's resident set size and the anonymous part of it (heap and stacks, without the
// mapped binary and files), in bytes, from VmRSS and RssAnon in /proc/<pid>/status.
func Memory(pid int) (rss, anon int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the process's status: %w", err)
	}
	found := 0
	for line := range bytes.Lines(b) {
		var dst *int64
		var v []byte
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			dst, v = &rss, rest
		} else if rest, ok := bytes.CutPrefix(line, []byte("RssAnon:")); ok {
			dst, v = &anon, rest
		} else {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("parsing /proc/%d/status: no VmRSS and RssAnon in kB", pid)
	}
	return rss, anon, nil
}
