// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const plain = "gsk_super_secret_value"

func TestValueRedaction(t *testing.T) {
	v := NewValue(plain)
	holder := struct {
		Name string
		Key  Value
		Ptr  *Value
	}{"groq", v, &v}
	tests := []struct {
		name   string
		render func() string
	}{
		{"%v", func() string { return fmt.Sprintf("%v", v) }},
		{"%s", func() string { return fmt.Sprintf("%s", v) }},
		{"%+v", func() string { return fmt.Sprintf("%+v", v) }},
		{"%#v", func() string { return fmt.Sprintf("%#v", v) }},
		{"%q", func() string { return fmt.Sprintf("%q", v) }},
		{"%x", func() string { return fmt.Sprintf("%x", v) }},
		{"struct %+v", func() string { return fmt.Sprintf("%+v", holder) }},
		{"struct %#v", func() string { return fmt.Sprintf("%#v", holder) }},
		{"pointer %v", func() string { return fmt.Sprintf("%v", &v) }},
		{"String", v.String},
		{"error wrap", func() string { return fmt.Errorf("bad: %v", v).Error() }},
		{"json", func() string { b, _ := json.Marshal(holder); return string(b) }},
		{"json map key", func() string { b, _ := json.Marshal(map[Value]int{v: 1}); return string(b) }},
		{"text", func() string { b, _ := v.MarshalText(); return string(b) }},
		{"zap", func() string {
			return zapRender(zap.Any("k", v), zap.Stringer("s", v), zap.Object("o", v), zap.Reflect("r", holder))
		}},
		{"slog", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "k", v, "h", holder)
			return buf.String()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.render()
			if strings.Contains(out, plain) || strings.Contains(out, fmt.Sprintf("%x", plain)) {
				t.Fatalf("leaked: %s", out)
			}
			if !strings.Contains(out, Redacted) {
				t.Fatalf("no %s marker in %s", Redacted, out)
			}
		})
	}
	if v.Reveal() != plain {
		t.Fatal("Reveal lost the value")
	}
	if !(Value{}).IsZero() || v.IsZero() {
		t.Fatal("IsZero")
	}
}

func zapRender(fields ...zap.Field) string {
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel)
	zap.New(core).Info("m", fields...)
	return buf.String()
}
