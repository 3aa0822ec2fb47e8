// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import "github.com/dsp-ai/fd2/inference/internal/rawjson"

// jv is a raw JSON value of a request body that rawjson.Valid accepted (ForEach relies on it). The
// request is walked through these, reading only the bytes each step needs: gjson's walk unescapes every
// string it passes, and encoding/json decodes all of them, while the translation copies most strings as
// they are (see esc). An absent value is empty.
type jv []byte

func (v jv) Exists() bool   { return len(v) > 0 }
func (v jv) Null() bool     { return string(v) == "null" }
func (v jv) IsObject() bool { return len(v) > 0 && v[0] == '{' }
func (v jv) IsArray() bool  { return len(v) > 0 && v[0] == '[' }
func (v jv) IsString() bool { return len(v) > 0 && v[0] == '"' }
func (v jv) True() bool     { return string(v) == "true" }
func (v jv) IsBool() bool   { return string(v) == "true" || string(v) == "false" }
func (v jv) IsNumber() bool { return len(v) > 0 && (v[0] == '-' || ('0' <= v[0] && v[0] <= '9')) }

// Raw is the value's JSON text.
func (v jv) Raw() string { return string(v) }

// esc is the escaped contents of a string value.
func (v jv) esc() esc { return esc(v[1 : len(v)-1]) }

// String is a string value decoded, or any other value's JSON text.
func (v jv) String() string {
	if v.IsString() {
		return v.esc().text()
	}
	return string(v)
}

// ForEach calls fn with each member of an object (its key still escaped) or each element of an array
// (with an empty key), until fn returns false.
func (v jv) ForEach(fn func(key esc, val jv) bool) {
	if !v.IsObject() && !v.IsArray() {
		return
	}
	object := v[0] == '{'
	for i := rawjson.SkipSpace(v, 1); i < len(v); {
		if v[i] == ',' {
			i = rawjson.SkipSpace(v, i+1)
		}
		if v[i] == '}' || v[i] == ']' {
			return
		}
		var key esc
		if object {
			end := rawjson.StringEnd(v, i)
			key = esc(v[i+1 : end-1])
			i = rawjson.SkipSpace(v, end)
			i = rawjson.SkipSpace(v, i+1) // the colon
		}
		end := rawjson.ValueEnd(v, i)
		if !fn(key, v[i:end]) {
			return
		}
		i = rawjson.SkipSpace(v, end)
	}
}

// Get returns the member name of an object (the first, if the client repeated it).
func (v jv) Get(name string) jv {
	var out jv
	if v.IsObject() {
		v.ForEach(func(k esc, val jv) bool {
			if string(k) == name {
				out = val
				return false
			}
			return true
		})
	}
	return out
}

// Array returns the elements of an array.
func (v jv) Array() []jv {
	var out []jv
	v.ForEach(func(_ esc, el jv) bool {
		out = append(out, el)
		return true
	})
	return out
}
