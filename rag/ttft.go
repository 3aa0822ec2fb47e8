// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

// FirstContent watches an OpenAI SSE chat stream, fed as written in arbitrary splits, for the first
// non-empty "content" member of a data line: the first token a client sees (RAG2 generates the whole answer
// before its first chunk, so this measures its real time to first token). It keeps a few counters and no
// buffer, so it costs nothing per chunk. Its zero value is ready.
//
// The byte sequence "content" followed by a colon only appears as a key: inside a JSON string a quote is
// escaped, and "reasoning_content" has no quote before its "content". A data line split over several
// "data:" lines of one event is not recognised.
type FirstContent struct {
	found   bool
	state   uint8 // one of the fc* states
	matched uint8 // bytes of the prefix or key matched so far
}

const (
	fcLineStart = iota // matching "data:" at the start of a line
	fcSkipLine         // not a data line: wait for its end
	fcScan             // in a data line: matching the key
	fcColon            // after the key: want ':'
	fcOpen             // after the colon: want '"'
	fcFirst            // after the opening quote: '"' means empty content
)

const (
	dataPrefix = "data:"
	contentKey = `"content"`
)

// Found reports whether a non-empty content has been seen.
func (f *FirstContent) Found() bool { return f.found }

// Reset prepares f for another stream.
func (f *FirstContent) Reset() { *f = FirstContent{} }

// Feed scans p and reports whether the first non-empty content ends within it (true exactly once).
func (f *FirstContent) Feed(p []byte) bool {
	if f.found {
		return false
	}
	for _, c := range p {
		if c == '\n' || c == '\r' {
			f.state, f.matched = fcLineStart, 0
			continue
		}
		switch f.state {
		case fcLineStart:
			if c != dataPrefix[f.matched] {
				f.state = fcSkipLine
				continue
			}
			if f.matched++; int(f.matched) == len(dataPrefix) {
				f.state, f.matched = fcScan, 0
			}
		case fcSkipLine:
		case fcScan:
			f.matchKey(c)
		case fcColon:
			switch c {
			case ' ', '\t':
			case ':':
				f.state = fcOpen
			default:
				f.state, f.matched = fcScan, 0
				f.matchKey(c)
			}
		case fcOpen:
			switch c {
			case ' ', '\t':
			case '"':
				f.state = fcFirst
			default: // null, or not a string
				f.state, f.matched = fcScan, 0
			}
		case fcFirst:
			if c != '"' {
				f.found = true
				return true
			}
			f.state, f.matched = fcScan, 0
		}
	}
	return false
}

func (f *FirstContent) matchKey(c byte) {
	if c == contentKey[f.matched] {
		if f.matched++; int(f.matched) == len(contentKey) {
			f.state, f.matched = fcColon, 0
		}
		return
	}
	f.matched = 0
	if c == contentKey[0] {
		f.matched = 1
	}
}
