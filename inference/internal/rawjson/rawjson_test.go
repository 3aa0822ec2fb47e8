// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// reference is what encoding/json writes for the string whose JSON form is quoted: decoded, then
// encoded again with escapeHTML.
func reference(t testing.TB, quoted []byte, escapeHTML bool) []byte {
	t.Helper()
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		t.Fatalf("reference decoding %q: %v", quoted, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// checkString compares AppendString with encoding/json on the escaped string contents raw, in both HTML
// modes, if raw is a valid JSON string.
func checkString(t testing.TB, raw []byte) {
	t.Helper()
	quoted := append(append([]byte{'"'}, raw...), '"')
	if !Valid(quoted) {
		if json.Valid(quoted) {
			t.Fatalf("Valid refuses %q, which encoding/json accepts", quoted)
		}
		return
	}
	for _, html := range []bool{false, true} {
		got := AppendString([]byte("x"), raw, html)
		if want := reference(t, quoted, html); !bytes.Equal(got[1:], want) {
			t.Fatalf("AppendString(%q, escapeHTML %v) = %q, encoding/json writes %q", raw, html, got[1:], want)
		}
	}
}

var stringSeeds = []string{
	``, `plain words `, `check <the> weather & more`, `line\nbreak\ttab\r\b\f`, `quote \" and backslash \\ and slash \/`,
	`\u0041\u00e9\u4e2d`, `\u003c\u003e\u0026\u0027`, `\u0000\u001f\u007f\u0080`, `\ud83d\ude00 emoji pair`, `\ud83d alone`,
	`\ude00 low first`, `\ud83d\u0041 broken pair`, `\ud83d\ud83d\ude00`, `\uD83D\uDE00 upper hex`, `\u2028\u2029 separators`,
	"raw \u2028 and \u2029", "caf\u00e9 \u4e2d\u6587 \U0001F600", "bad \xff\xfe utf8", "cut \xe4\xb8", "\x7f del",
	"\xed\xa0\x80 encoded surrogate", `\u00`, `trailing \`, `\x`,
}

func TestAppendString(t *testing.T) {
	for _, s := range stringSeeds {
		checkString(t, []byte(s))
	}
	// Every ASCII byte, bare and escaped.
	for b := range 128 {
		checkString(t, []byte{byte(b)})
		checkString(t, []byte(`\u00`+string(hex[b>>4])+string(hex[b&0xF])))
	}
}

// TestAppendStringContents checks that strings appended one after the other encode their concatenation,
// split surrogate pairs and UTF-8 sequences included.
func TestAppendStringContents(t *testing.T) {
	for _, pair := range [][2]string{{`a\ud83d`, `\ude00b`}, {"caf\xc3", "\xa9"}, {`<`, `\u0026`}, {"", `\n`}} {
		got := AppendStringContents(AppendStringContents([]byte(`"`), []byte(pair[0]), true), []byte(pair[1]), true)
		var a, b string
		if err := json.Unmarshal([]byte(`"`+pair[0]+`"`), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(`"`+pair[1]+`"`), &b); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(a + b)
		if got = append(got, '"'); !bytes.Equal(got, want) {
			t.Errorf("%q then %q = %s, want %s", pair[0], pair[1], got, want)
		}
	}
}

// FuzzAppendString holds AppendString to encoding/json's decode-then-encode on arbitrary strings.
func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkString(t, raw) })
}

// FuzzValid holds Valid to json.Valid: what Valid accepts encoding/json parses, and what encoding/json
// parses Valid accepts unless it has more than maxDepth brackets.
func FuzzValid(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5e3,-0,true,null,"x\u0041"]}`, ` [ ] `, `01`, `1.`, `-`, `"\'"`, "\"\x01\"",
		`{"a":1,}`, `[1,]`, `{"a" 1}`, "\"\xff\"", `1e+`, `[[[[]]]]`, `{"a":{"b":{}}}`, `tru`, `nul`, `"`, `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, j := Valid(data), json.Valid(data)
		if v && !j {
			t.Fatalf("Valid accepts %q, which encoding/json refuses", data)
		}
		if j && !v && bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) <= maxDepth {
			t.Fatalf("Valid refuses %q, which encoding/json accepts", data)
		}
		if v {
			checkWalk(t, data)
		}
	})
}

func TestValidDepth(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	if !Valid(deep(maxDepth)) || !json.Valid(deep(maxDepth)) {
		t.Error("nesting of maxDepth refused")
	}
	if Valid(deep(maxDepth+1)) || json.Valid(deep(maxDepth+1)) {
		t.Error("nesting beyond maxDepth accepted")
	}
}

// checkWalk walks the valid JSON data with Object/Array, nested values included, and compares every
// member and element with what encoding/json's decoder sees.
func checkWalk(t *testing.T, data []byte) {
	t.Helper()
	if m, ok := Object(data); ok {
		dec := json.NewDecoder(bytes.NewReader(data))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("Object accepts %q, which does not start an object (%v, %v)", data, tok, err)
		}
		for {
			key, val, ok := m.Next()
			if !ok {
				break
			}
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("walking %q: Next returned key %q where encoding/json has %v (%v)", data, key, tok, err)
			}
			var k string
			if err := json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k); err != nil || k != tok {
				t.Fatalf("walking %q: key %q, encoding/json has %q (%v)", data, key, tok, err)
			}
			checkRaw(t, dec, data, val)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
			t.Fatalf("walking %q: members ended where encoding/json has %v (%v)", data, tok, err)
		}
		return
	}
	if e, ok := Array(data); ok {
		dec := json.NewDecoder(bytes.NewReader(data))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			t.Fatalf("Array accepts %q, which does not start an array (%v, %v)", data, tok, err)
		}
		for {
			val, ok := e.Next()
			if !ok {
				break
			}
			checkRaw(t, dec, data, val)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			t.Fatalf("walking %q: elements ended where encoding/json has %v (%v)", data, tok, err)
		}
	}
}

// checkRaw decodes the next value from dec and compares it with val.
func checkRaw(t *testing.T, dec *json.Decoder, data, val []byte) {
	t.Helper()
	var want json.RawMessage
	if err := dec.Decode(&want); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("walking %q: %v", data, err)
	}
	if !bytes.Equal(val, want) {
		t.Fatalf("walking %q: value %q, encoding/json has %q", data, val, want)
	}
	checkWalk(t, val)
}

func TestField(t *testing.T) {
	names := []string{"type", "content_block", "index"}
	for _, tc := range []struct {
		key   string
		i     int
		known bool
	}{
		{"type", 0, true}, {"index", 2, true}, {"content_block", 1, true}, {"other", -1, true}, {"", -1, true},
		{"Type", 0, false}, {"INDEX", 0, false}, {`typ\u0065`, 0, false}, {"t\u0131pe", 0, false}, {"\u017fomething", 0, false},
		{"content-block", -1, true}, {"types", -1, true},
	} {
		i, ok := Field([]byte(tc.key), names)
		if ok != tc.known || (ok && i != tc.i) {
			t.Errorf("Field(%q) = %d, %v; want %d, %v", tc.key, i, ok, tc.i, tc.known)
		}
	}
}

func TestIntAndBool(t *testing.T) {
	for _, tc := range []struct {
		raw string
		n   int64
		ok  bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {"42", 42, true}, {"-7", -7, true}, {"999999999999999999", 999999999999999999, true},
		{"9999999999999999999", 0, false}, {"1.0", 0, false}, {"1e3", 0, false}, {"null", 0, false}, {`"1"`, 0, false}, {"", 0, false}, {"-", 0, false},
	} {
		n, ok := Int([]byte(tc.raw))
		if ok != tc.ok || n != tc.n {
			t.Errorf("Int(%q) = %d, %v; want %d, %v", tc.raw, n, ok, tc.n, tc.ok)
		}
		if ok {
			var want int64
			if err := json.Unmarshal([]byte(tc.raw), &want); err != nil || want != n {
				t.Errorf("Int(%q) = %d, encoding/json decodes %d (%v)", tc.raw, n, want, err)
			}
		}
	}
	for raw, want := range map[string]bool{"true": true, "false": false} {
		if b, ok := Bool([]byte(raw)); !ok || b != want {
			t.Errorf("Bool(%q) = %v, %v", raw, b, ok)
		}
	}
	if _, ok := Bool([]byte("null")); ok {
		t.Error("Bool accepts null")
	}
	if _, ok := String([]byte("null")); ok {
		t.Error("String accepts null")
	}
}
