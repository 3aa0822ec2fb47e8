// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package rawjson reads the few fields of a hot stream event straight from its bytes and writes JSON
// strings without decoding them, for the provider stream translators' fast paths.
//
// The fast paths must produce exactly what their encoding/json paths produce, so everything here is
// defined by what encoding/json does: Valid accepts only what json.Unmarshal would parse, Field reports
// which struct field encoding/json would fill from a key (or that it cannot tell cheaply), and
// AppendString writes what decoding a string and encoding it again would write. Whenever a helper
// cannot be sure, it says so and the caller leaves the event to encoding/json.
package rawjson

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// maxDepth is encoding/json's nesting limit: deeper input is a syntax error there.
const maxDepth = 10000

// Valid reports whether json.Unmarshal would parse data: gjson's validator checks the same grammar
// (strict numbers, no control characters in strings, invalid UTF-8 allowed) but has no depth limit.
func Valid(data []byte) bool {
	if !gjson.ValidBytes(data) {
		return false
	}
	// Nesting deeper than maxDepth takes more than maxDepth opening brackets, so short events, the
	// hot ones, skip the count.
	return len(data) <= maxDepth || bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) <= maxDepth
}

// Members iterates over the members of a JSON object that Valid accepted.
type Members struct {
	data []byte
	i    int
}

// Object starts iterating over the object v (a raw value, surrounding space allowed); ok is false if
// v is not an object.
func Object(v []byte) (m Members, ok bool) {
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return Members{}, false
	}
	return Members{data: v, i: i + 1}, true
}

// Next returns the next member: key is the name as written between the quotes, still escaped, and val
// the raw value. ok is false at the end of the object.
func (m *Members) Next() (key, val []byte, ok bool) {
	d := m.data
	i := SkipSpace(d, m.i)
	if i < len(d) && d[i] == ',' {
		i = SkipSpace(d, i+1)
	}
	if i >= len(d) || d[i] != '"' {
		m.i = len(d)
		return nil, nil, false
	}
	end := StringEnd(d, i)
	key = d[i+1 : max(i+1, end-1)]
	i = SkipSpace(d, end)
	if i < len(d) && d[i] == ':' {
		i = SkipSpace(d, i+1)
	}
	end = ValueEnd(d, i)
	m.i = end
	return key, d[i:end], true
}

// Elements iterates over the elements of a JSON array that Valid accepted.
type Elements struct {
	data []byte
	i    int
}

// Array starts iterating over the array v (a raw value); ok is false if v is not an array.
func Array(v []byte) (e Elements, ok bool) {
	i := SkipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return Elements{}, false
	}
	return Elements{data: v, i: i + 1}, true
}

// Next returns the next raw element; ok is false at the end of the array.
func (e *Elements) Next() (val []byte, ok bool) {
	d := e.data
	i := SkipSpace(d, e.i)
	if i < len(d) && d[i] == ',' {
		i = SkipSpace(d, i+1)
	}
	if i >= len(d) || d[i] == ']' {
		e.i = len(d)
		return nil, false
	}
	end := ValueEnd(d, i)
	if end == i { // not a value: only on input Valid refused
		e.i = len(d)
		return nil, false
	}
	e.i = end
	return d[i:end], true
}

// Field returns the index in names of the struct field encoding/json decodes a member named key into,
// or -1 for a member it ignores. ok is false when that is not told here: keys with escapes or non-ASCII
// bytes (encoding/json folds some non-ASCII letters onto ASCII ones), and keys that match a name only
// case-insensitively, which encoding/json accepts too but no fast path expects.
func Field(key []byte, names []string) (i int, ok bool) {
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return 0, false
		}
	}
	for i, n := range names {
		if string(key) == n {
			return i, true
		}
		if foldEqual(key, n) {
			return 0, false
		}
	}
	return -1, true
}

// foldEqual reports whether the ASCII key equals name but for letter case.
func foldEqual(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i, c := range key {
		if lower(c) != lower(name[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// String returns the contents of the raw string value v, between its quotes and still escaped; ok is
// false if v is not a string (null included).
func String(v []byte) (s []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// Int returns the raw number v as encoding/json decodes it into an int64 (or an int on 64-bit
// platforms); ok is false for anything else: fractions, exponents, null, and integers of more than 18
// digits, which may overflow.
func Int(v []byte) (n int64, ok bool) {
	digits := v
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(v) {
		n = -n
	}
	return n, true
}

// Bool returns the raw value v as a bool; ok is false if it is not true or false.
func Bool(v []byte) (b, ok bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

const hex = "0123456789abcdef"

// AppendString appends, quoted, the string whose escaped contents (as String returns them) are raw,
// exactly as encoding/json writes the string it decodes from them: with escapeHTML as in
// json.Marshal (true) or an Encoder with SetEscapeHTML(false). Decoding turns invalid UTF-8 and lone
// surrogate escapes into U+FFFD; encoding escapes only what it must, so the common text, plain ASCII
// and UTF-8 with \n, \" or \\ escapes, is copied as it stands.
func AppendString(dst, raw []byte, escapeHTML bool) []byte {
	dst = append(dst, '"')
	dst = AppendStringContents(dst, raw, escapeHTML)
	return append(dst, '"')
}

// AppendStringContents is AppendString without the quotes. Strings appended one after the other make
// the encoding of their concatenation: each decodes to whole runes, which encode one by one.
func AppendStringContents(dst, raw []byte, escapeHTML bool) []byte {
	start := 0
	for i := 0; i < len(raw); {
		b := raw[i]
		if b < utf8.RuneSelf {
			if b != '\\' && safe(b, escapeHTML) {
				i++
				continue
			}
			dst = append(dst, raw[start:i]...)
			if b != '\\' {
				dst = appendASCII(dst, b, escapeHTML)
				i++
				start = i
				continue
			}
			if i+1 >= len(raw) { // a dangling backslash: only on input Valid refused
				dst = append(dst, `\\`...)
				i++
				start = i
				continue
			}
			switch e := raw[i+1]; e {
			case 'u':
				r, n := unicodeEscape(raw[i:])
				if n == 0 { // not four hex digits: only on input Valid refused
					dst = append(dst, `\\`...)
					i++
					start = i
					continue
				}
				dst = appendRune(dst, r, escapeHTML)
				i += n
			case 'b':
				dst = appendASCII(dst, '\b', escapeHTML)
				i += 2
			case 'f':
				dst = appendASCII(dst, '\f', escapeHTML)
				i += 2
			case 'n':
				dst = appendASCII(dst, '\n', escapeHTML)
				i += 2
			case 'r':
				dst = appendASCII(dst, '\r', escapeHTML)
				i += 2
			case 't':
				dst = appendASCII(dst, '\t', escapeHTML)
				i += 2
			default: // '"', '\\' and '/' stand for themselves
				dst = appendASCII(dst, e, escapeHTML)
				i += 2
			}
			start = i
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, raw[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, raw[start:i]...)
			dst = appendRune(dst, r, escapeHTML)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, raw[start:]...)
}

// safe reports whether encoding/json writes the ASCII byte b as it is.
func safe(b byte, escapeHTML bool) bool {
	if b < 0x20 || b == '"' || b == '\\' {
		return false
	}
	return !escapeHTML || (b != '<' && b != '>' && b != '&')
}

// appendASCII writes the ASCII byte b as encoding/json does.
func appendASCII(dst []byte, b byte, escapeHTML bool) []byte {
	if safe(b, escapeHTML) {
		return append(dst, b)
	}
	switch b {
	case '"', '\\':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
}

// appendRune writes the valid rune r as encoding/json does.
func appendRune(dst []byte, r rune, escapeHTML bool) []byte {
	switch {
	case r < utf8.RuneSelf:
		return appendASCII(dst, byte(r), escapeHTML)
	case r == '\u2028' || r == '\u2029':
		return append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
	}
	return utf8.AppendRune(dst, r)
}

// unicodeEscape decodes the \uXXXX escape at the start of s as encoding/json does: a surrogate pair
// makes one rune from two escapes (n is 12), and a surrogate without its partner is U+FFFD, the escape
// after it (if any) being decoded on its own. n is 0 if s does not start with an escape.
func unicodeEscape(s []byte) (r rune, n int) {
	r = hex4(s)
	if r < 0 {
		return 0, 0
	}
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if r2 := hex4(s[6:]); r2 >= 0 {
		if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
			return dec, 12
		}
	}
	return utf8.RuneError, 6
}

// hex4 returns the code unit of the \uXXXX escape at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func SkipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// StringEnd returns the index after the string starting with the quote at d[i] (len(d) when it does not
// end). Text is most of a document's bytes, so quotes are looked for with IndexByte (vectorised), and a
// quote ends the string unless an odd number of backslashes precede it.
func StringEnd(d []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(d[j:], '"')
		if k < 0 {
			return len(d)
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && d[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// ValueEnd returns the index after the value starting at d[i], in a document known to be valid JSON.
func ValueEnd(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return StringEnd(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = StringEnd(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(d)
	}
	for ; i < len(d); i++ {
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return len(d)
}
