// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"fmt"
	"log/slog"

	"go.uber.org/zap/zapcore"
)

// Redacted is what every rendering of a Value prints.
const Redacted = "[redacted]"

// Value is a resolved secret. Every way Go, encoding/json, encoding (text), log/slog and zap have of
// printing it yields "[redacted]": the point is that a struct holding a Value can be logged or dumped
// without review. Reveal returns the plain text and is the one call to audit.
//
// The zero Value is the empty secret.
type Value struct {
	s string
}

// NewValue wraps a plain string.
func NewValue(s string) Value { return Value{s: s} }

// Reveal returns the secret in plain text. Do not log the result.
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the secret is empty.
func (v Value) IsZero() bool { return v.s == "" }

// String implements fmt.Stringer (and so zap.Stringer).
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (v Value) GoString() string { return Redacted }

// Format implements fmt.Formatter, so that every verb (%v, %+v, %s, %q, %x, %d…) is redacted; without it
// %x would print the hex of the String result but %+v on a containing struct would show the field.
func (v Value) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = fmt.Fprintf(f, "%q", Redacted)
		return
	}
	_, _ = f.Write([]byte(Redacted))
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used for map keys, YAML, zap's reflection encoder).
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalLogObject implements zapcore.ObjectMarshaler: zap.Any and zap.Object pick it before Stringer.
func (v Value) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("value", Redacted)
	return nil
}

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Stringer            = Value{}
	_ fmt.GoStringer          = Value{}
	_ fmt.Formatter           = Value{}
	_ zapcore.ObjectMarshaler = Value{}
	_ slog.LogValuer          = Value{}
)
