// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package controltower

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The Control Tower serves Python dicts, which keep insertion order, through json.dumps. Go maps do not
// keep order, so documents here are trees of these values instead:
//
//	nil, bool, string, json.Number, []any, *object
//
// json.Number keeps the literal as written so that numbers are printed the way Python prints them (see
// appendNumber) rather than the way float64 would.

// object is a JSON object that keeps its key order. A repeated key keeps its first position and its last
// value, as json.load does.
type object struct {
	keys []string
	vals map[string]any
}

func newObject(n int) *object {
	return &object{keys: make([]string, 0, n), vals: make(map[string]any, n)}
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) len() int { return len(o.keys) }

// str returns the string value of key k, or "" when it is absent or not a string.
func (o *object) str(k string) string {
	s, _ := o.vals[k].(string)
	return s
}

// parseJSON decodes one JSON document into an ordered tree and rejects trailing data, as json.load does.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON document")
	}
	return v, nil
}

func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("reading JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		o := newObject(4)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("reading JSON object key: %w", err)
			}
			k, _ := kt.(string) // the decoder only yields string keys inside an object
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			o.set(k, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("reading JSON object end: %w", err)
		}
		return o, nil
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("reading JSON array end: %w", err)
		}
		return arr, nil
	default:
		return nil, fmt.Errorf("unexpected JSON delimiter %q", d)
	}
}

// marshal encodes a tree compactly, like Starlette's JSONResponse (json.dumps with separators (",", ":")
// and ensure_ascii=False).
func marshal(v any) []byte {
	return appendJSON(nil, v)
}

func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, t)
	case json.Number:
		return append(b, pyNumber(string(t))...)
	case string:
		return appendString(b, t)
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case *object:
		b = append(b, '{')
		for i, k := range t.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, t.vals[k])
		}
		return append(b, '}')
	default:
		// Only the types above are ever built; anything else is a programming error worth seeing.
		panic(fmt.Sprintf("controltower: cannot encode %T", v))
	}
}

func appendString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Python does not escape <, > and &.
	_ = enc.Encode(s)        // encoding a string cannot fail
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// pyNumber prints a JSON number literal the way json.load + json.dumps would: integers stay as written,
// everything with a fraction or an exponent becomes a Python float and is printed with repr (1.0, 1e-05).
func pyNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		if lit == "-0" {
			return "0"
		}
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return lit // out of float range: Python would answer 500 (allow_nan=False); keep the literal instead
	}
	return pyFloat(f)
}

// pyFloat formats f like Python's float repr: the shortest round-tripping digits, always with a ".0" or an
// exponent, and scientific notation below 1e-4 and from 1e16 up.
func pyFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e // Go and Python agree here: "1e+16", "1.5e-05"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// manifest.ResolveEnv decodes into Go maps and so loses key order. To keep pydantic's order through it,
// every object and array is smuggled through as an array whose first element is a marker; ResolveEnv
// resolves the keys (now array elements) and values alike, and fromResolvable rebuilds the tree. The
// markers contain neither "${" nor a secret prefix, so ResolveEnv leaves them alone.
const (
	objMark = "\x00{"
	arrMark = "\x00["
)

func toResolvable(v any) any {
	switch t := v.(type) {
	case *object:
		out := make([]any, 0, 1+2*t.len())
		out = append(out, objMark)
		for _, k := range t.keys {
			out = append(out, k, toResolvable(t.vals[k]))
		}
		return out
	case []any:
		out := make([]any, 0, 1+len(t))
		out = append(out, arrMark)
		for _, e := range t {
			out = append(out, toResolvable(e))
		}
		return out
	default:
		return v
	}
}

func fromResolvable(v any) (any, error) {
	arr, ok := v.([]any)
	if !ok {
		return v, nil
	}
	if len(arr) == 0 {
		return nil, errors.New("resolvable array without marker")
	}
	switch arr[0] {
	case objMark:
		if len(arr)%2 != 1 {
			return nil, errors.New("resolvable object with odd pair count")
		}
		o := newObject((len(arr) - 1) / 2)
		for i := 1; i < len(arr); i += 2 {
			k, ok := arr[i].(string)
			if !ok {
				return nil, fmt.Errorf("resolvable object key %T", arr[i])
			}
			val, err := fromResolvable(arr[i+1])
			if err != nil {
				return nil, err
			}
			o.set(k, val)
		}
		return o, nil
	case arrMark:
		out := make([]any, 0, len(arr)-1)
		for _, e := range arr[1:] {
			val, err := fromResolvable(e)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("resolvable array with unknown marker %v", arr[0])
	}
}
