// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package caddyfileopt

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// reader is a value helper under test, its result made comparable.
type reader func(d *caddyfile.Dispenser) (any, error)

func onOff(d *caddyfile.Dispenser) (any, error)    { return OnOff(d) }
func dur(d *caddyfile.Dispenser) (any, error)      { return Duration(d) }
func posDur(d *caddyfile.Dispenser) (any, error)   { return PositiveDuration(d) }
func size(d *caddyfile.Dispenser) (any, error)     { return Size(d) }
func natural(d *caddyfile.Dispenser) (any, error)  { return Int(d, 0) }
func positive(d *caddyfile.Dispenser) (any, error) { return Int(d, 1) }
func list(d *caddyfile.Dispenser) (any, error) {
	v, err := List(d)
	return strings.Join(v, ","), err
}
func pair(d *caddyfile.Dispenser) (any, error) {
	var a, b string
	err := Args(d, &a, &b)
	return a + "=" + b, err
}

// probe is the shape of an option that takes off or a duration (vault's probe_interval).
func probe(d *caddyfile.Dispenser) (any, error) {
	if Off(d) {
		return "off", nil
	}
	return PositiveDuration(d)
}

// TestValues runs each helper on one option of a block: what it returns, and the error a bad value gets.
func TestValues(t *testing.T) {
	cases := []struct {
		name, input string
		read        reader
		want        any
		wantErr     string
	}{
		{"on", "x {\n opt on\n}", onOff, true, ""},
		{"true", "x {\n opt true\n}", onOff, true, ""},
		{"yes upper case", "x {\n opt YES\n}", onOff, true, ""},
		{"off", "x {\n opt off\n}", onOff, false, ""},
		{"false", "x {\n opt false\n}", onOff, false, ""},
		{"no", "x {\n opt no\n}", onOff, false, ""},
		{"bad switch", "x {\n opt maybe\n}", onOff, nil, `opt: want on or off, got "maybe"`},
		{"switch missing", "x {\n opt\n}", onOff, nil, "wrong argument count"},
		{"switch extra", "x {\n opt on off\n}", onOff, nil, "wrong argument count"},

		{"duration", "x {\n opt 1m30s\n}", dur, caddy.Duration(90 * time.Second), ""},
		{"duration days", "x {\n opt 2d\n}", dur, caddy.Duration(48 * time.Hour), ""},
		{"zero duration", "x {\n opt 0s\n}", dur, caddy.Duration(0), ""},
		{"bad duration", "x {\n opt soon\n}", dur, nil, `opt: invalid duration "soon"`},
		{"negative duration", "x {\n opt -1s\n}", dur, nil, `opt: invalid duration "-1s"`},
		{"duration missing", "x {\n opt\n}", dur, nil, "wrong argument count"},
		{"duration extra", "x {\n opt 1s 2s\n}", dur, nil, "wrong argument count"},
		{"positive duration", "x {\n opt 5s\n}", posDur, caddy.Duration(5 * time.Second), ""},
		{"zero positive duration", "x {\n opt 0\n}", posDur, nil, `opt: want a duration above zero, got "0"`},

		{"off", "x {\n opt off\n}", probe, "off", ""},
		{"not off", "x {\n opt 30s\n}", probe, caddy.Duration(30 * time.Second), ""},
		{"off with extra", "x {\n opt off now\n}", probe, nil, "wrong argument count"},
		{"neither off nor a duration", "x {\n opt never\n}", probe, nil, `opt: invalid duration "never"`},

		{"size", "x {\n opt 10MiB\n}", size, int64(10 << 20), ""},
		{"size in MB", "x {\n opt 4MB\n}", size, int64(4_000_000), ""},
		{"bad size", "x {\n opt lots\n}", size, nil, `opt: invalid size "lots"`},
		{"zero size", "x {\n opt 0\n}", size, nil, `opt: invalid size "0"`},
		{"huge size", "x {\n opt 2TiB\n}", size, nil, `opt: invalid size "2TiB"`},
		{"size missing", "x {\n opt\n}", size, nil, "wrong argument count"},

		{"number", "x {\n opt 0\n}", natural, 0, ""},
		{"negative number", "x {\n opt -1\n}", natural, nil, `opt: want a whole number from 0 to 2147483647, got "-1"`},
		{"positive number", "x {\n opt 7\n}", positive, 7, ""},
		{"zero positive number", "x {\n opt 0\n}", positive, nil, `opt: want a whole number from 1 to 2147483647, got "0"`},
		{"number with suffix", "x {\n opt 7x\n}", positive, nil, `got "7x"`},
		{"number too large", "x {\n opt 3000000000\n}", positive, nil, `got "3000000000"`},
		{"number extra", "x {\n opt 1 2\n}", positive, nil, "wrong argument count"},

		{"list", "x {\n opt a b\n}", list, "a,b", ""},
		{"empty list", "x {\n opt\n}", list, nil, "wrong argument count"},
		{"args", "x {\n opt a b\n}", pair, "a=b", ""},
		{"args missing", "x {\n opt a\n}", pair, nil, "wrong argument count"},
		{"args extra", "x {\n opt a b c\n}", pair, nil, "wrong argument count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			var got any
			err := Directive(d, func(string) error {
				var err error
				got, err = tc.read(d)
				return err
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

// TestBlock checks the walk itself: every option seen once, duplicates refused unless repeatable, nested
// blocks walked at their own level, arguments no callback read refused.
func TestBlock(t *testing.T) {
	cases := []struct {
		name, input string
		repeatable  []string
		want        string
		wantErr     string
	}{
		{"bare directive", "x", nil, "", ""},
		{"empty block", "x {\n}", nil, "", ""},
		{"options in order", "x {\n a\n b\n}", nil, "a b", ""},
		{"duplicate", "x {\n a\n b\n a\n}", nil, "", `duplicate subdirective "a"`},
		{"repeatable", "x {\n a\n a\n b\n}", []string{"a"}, "a a b", ""},
		{"nested", "x {\n n {\n a\n a\n }\n a\n}", nil, "n n.a n.a a", ""},
		{"argument to the directive", "x y", nil, "", "wrong argument count"},
		{"argument nobody read", "x {\n a extra\n}", nil, "", "wrong argument count"},
		{"callback error", "x {\n fail\n}", nil, "", "fail: refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tc.input)
			var got []string
			var walk func(prefix string) func(string) error
			walk = func(prefix string) func(string) error {
				return func(name string) error {
					got = append(got, prefix+name)
					switch name {
					case "fail":
						return d.Errf("fail: refused")
					case "n":
						// Inside a nested block every name may repeat.
						return Block(d, walk(prefix+"n."), "a")
					}
					return nil
				}
			}
			err := Directive(d, walk(""), tc.repeatable...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Fatalf("walked %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestSeen checks keys of the caller's choosing: `cache memory` and `cache redis` are two keys.
func TestSeen(t *testing.T) {
	d := caddyfile.NewTestDispenser("x")
	s := Seen{}
	for _, key := range []string{"cache memory", "cache redis", "vault a"} {
		if err := s.Once(d, key); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	if err := s.Once(d, "cache memory"); err == nil || !strings.Contains(err.Error(), `duplicate subdirective "cache memory"`) {
		t.Fatalf("second cache memory: %v", err)
	}
}
