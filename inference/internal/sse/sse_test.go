// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package sse

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEvents(t *testing.T) {
	long := strings.Repeat("x", 100)
	in := ": comment\r\nevent: a\r\ndata: {\"a\":1}\r\n\r\n" + // CRLF, a comment and an event line
		"data:no-space\ndata:  two\n\n" + // two data lines, one space dropped only
		"\n\n" + // blank lines between events
		"data: " + long + "\n\n" + // longer than the reader's buffer
		"data: last" // no blank line at the end
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var e Events
	var got []string
	for {
		ev, err := e.Next(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev))
	}
	want := []string{`{"a":1}`, "no-space\n two", long, "last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q; want %q", got, want)
	}
}

func TestLinesMax(t *testing.T) {
	l := Lines{Max: 40}
	br := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", 100)+"\n"), 16)
	if _, err := l.Next(br); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v; want ErrLineTooLong", err)
	}
}

func TestEventsAllocs(t *testing.T) {
	in := strings.Repeat("data: {\"delta\":\"hello\"}\n\n", 100)
	r := strings.NewReader(in)
	br := bufio.NewReaderSize(r, 4096)
	var e Events
	allocs := testing.AllocsPerRun(10, func() {
		r.Reset(in)
		br.Reset(r)
		for {
			if _, err := e.Next(br); err != nil {
				break
			}
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per 100-event stream; want none", allocs)
	}
}
