// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package reqbody

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLimit(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		limit    int64
		exceeded bool
	}{
		{"under", "abc", 5, false},
		{"exactly the limit", "abcde", 5, false},
		{"one over", "abcdef", 5, true},
		{"far over", strings.Repeat("x", 10000), 100, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := Limit(io.NopCloser(strings.NewReader(tc.body)), tc.limit)
			b, err := io.ReadAll(l)
			if tc.exceeded {
				if !errors.Is(err, ErrTooLarge) || !l.Exceeded() {
					t.Fatalf("err %v exceeded %v", err, l.Exceeded())
				}
				return
			}
			if err != nil || string(b) != tc.body || l.Exceeded() {
				t.Fatalf("read %q err %v", b, err)
			}
		})
	}
}

// chunked makes a request whose length is not declared, as a chunked upload is.
func chunked(body string) *http.Request {
	r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(body)))
	r.ContentLength = -1
	return r
}

// countingBody counts what was read from the client.
type countingBody struct {
	r io.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
func (c *countingBody) Close() error { return nil }

func TestRead(t *testing.T) {
	t.Run("read once, shared", func(t *testing.T) {
		cb := &countingBody{r: strings.NewReader(`{"a":1}`)}
		r := httptest.NewRequest("POST", "/", nil)
		r.Body, r.ContentLength = cb, -1
		b1, err := Read(r, 100)
		if err != nil || string(b1) != `{"a":1}` {
			t.Fatalf("first read %q %v", b1, err)
		}
		b2, err := Read(r, 100)
		if err != nil || &b2[0] != &b1[0] {
			t.Fatalf("second read did not share the first one's bytes: %v", err)
		}
		if cb.n != 7 {
			t.Fatalf("the client's body was read %d bytes, want 7", cb.n)
		}
		forwarded, _ := io.ReadAll(r.Body)
		if string(forwarded) != `{"a":1}` || r.ContentLength != 7 || r.Header.Get("Content-Length") != "7" {
			t.Fatalf("the body left for the proxy is %q (length %d)", forwarded, r.ContentLength)
		}
		again, _ := r.GetBody()
		if b, _ := io.ReadAll(again); string(b) != `{"a":1}` {
			t.Fatalf("GetBody gives %q", b)
		}
	})
	t.Run("chunked over the cap is 413, read only up to the cap", func(t *testing.T) {
		cb := &countingBody{r: strings.NewReader(strings.Repeat("x", 1<<20))}
		r := httptest.NewRequest("POST", "/", nil)
		r.Body, r.ContentLength = cb, -1
		_, err := Read(r, 1000)
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != 1000 || !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
		if cb.n > 1000+32<<10 {
			t.Fatalf("read %d bytes of a body capped at 1000", cb.n)
		}
	})
	t.Run("declared length over the cap is refused unread", func(t *testing.T) {
		cb := &countingBody{r: strings.NewReader("xxxx")}
		r := httptest.NewRequest("POST", "/", nil)
		r.Body, r.ContentLength = cb, 5000
		if _, err := Read(r, 1000); !errors.Is(err, ErrTooLarge) || cb.n != 0 {
			t.Fatalf("err = %v after reading %d bytes", err, cb.n)
		}
	})
	t.Run("a later, smaller cap applies to the shared body", func(t *testing.T) {
		r := chunked(strings.Repeat("y", 500))
		if _, err := Read(r, 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(r, 100); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a capped streaming body is too large, not a read error", func(t *testing.T) {
		r := chunked(strings.Repeat("z", 5000))
		r.Body = Limit(r.Body, 100)
		if _, err := Read(r, 1000); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a body shorter than declared is a read error", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader("abc")), 10
		if _, err := Read(r, 1000); err == nil || errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", nil)
		if b, err := Read(r, 10); b != nil || err != nil {
			t.Fatalf("%q %v", b, err)
		}
	})
}
