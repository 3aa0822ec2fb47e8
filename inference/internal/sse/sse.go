// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package sse reads server-sent event streams for FD2's stream translators without allocating per line or
// per event: what it returns is valid until the next read. (The engine's own pass-through reader keeps
// whole events, framing included, and lives with the engine.)
package sse

import (
	"bufio"
	"bytes"
	"errors"
)

// MaxKept bounds the buffers kept from one read to the next, so that one huge event does not pin its
// memory for the rest of a stream.
const MaxKept = 1 << 20

// ErrLineTooLong is returned for a line over Lines.Max.
var ErrLineTooLong = errors.New("server-sent event line too long")

// Lines reads lines, as br.ReadBytes('\n') would, without its allocation per line: a line longer than br's
// buffer is gathered in a buffer reused from line to line.
type Lines struct {
	// Max bounds a line (0: no bound).
	Max  int
	long []byte
}

// Next returns the next line, its "\n" included; at the end of the stream, the last bytes with the
// reader's error.
func (l *Lines) Next(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	if cap(l.long) > MaxKept {
		l.long = nil
	}
	l.long = append(l.long[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		l.long = append(l.long, line...)
		if l.Max > 0 && len(l.long) > l.Max {
			return nil, ErrLineTooLong
		}
	}
	return l.long, err
}

// Events reads the data of events: an event's data lines joined by "\n", after the WHATWG EventSource
// rules ("data:" and one optional space); event:, id: and comment lines are skipped, since the JSON of
// the APIs FD2 translates carries its type. An event ends at a blank line; a last event without one (the
// peer closed right after it) is still returned, and a stream ending between events yields the reader's
// error (io.EOF).
type Events struct {
	Lines
	data []byte
}

// Next returns the data of the next event.
func (e *Events) Next(br *bufio.Reader) ([]byte, error) {
	if cap(e.data) > MaxKept {
		e.data = nil
	}
	data := e.data[:0]
	has := false
	for {
		line, err := e.Lines.Next(br)
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if has {
				e.data = data
				return data, nil
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if has {
				data = append(data, '\n')
			}
			data = append(data, v...)
			has = true
		}
		if err != nil {
			if has {
				e.data = data
				return data, nil
			}
			return nil, err
		}
	}
}

// Reset drops the buffers (a reader going back to a pool).
func (e *Events) Reset() { e.data, e.long = nil, nil }
