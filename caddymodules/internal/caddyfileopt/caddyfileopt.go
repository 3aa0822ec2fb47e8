// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package caddyfileopt is the one set of Caddyfile option helpers every FD2 directive parses with, so that
// duplicate options, on/off switches, durations, sizes and numbers are accepted and refused alike, with the
// same messages, in every block.
//
// The value helpers are called with the dispenser on the option's name (as a Block callback gets it); they
// read exactly one argument, refuse a missing or an extra one, and name the option in their errors.
package caddyfileopt

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// MaxSize is the largest size Size accepts: far above any body or manifest, low enough that a typo such
// as 10PB is refused instead of turning a cap off.
const MaxSize = 1 << 40

// Directive parses a directive that takes no arguments, only an optional block: it consumes the
// directive's name, refuses arguments, and walks the block as Block does.
func Directive(d *caddyfile.Dispenser, fn func(name string) error, repeatable ...string) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	return Block(d, fn, repeatable...)
}

// Block calls fn for each subdirective of the block that opens on the current line, with the dispenser on
// the subdirective's name. A name may appear once unless it is listed in repeatable. Arguments fn leaves
// unread are refused, because NextBlock would otherwise take them for the next subdirective.
func Block(d *caddyfile.Dispenser, fn func(name string) error, repeatable ...string) error {
	seen := Seen{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if !slices.Contains(repeatable, name) {
			if err := seen.Once(d, name); err != nil {
				return err
			}
		}
		if err := fn(name); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Seen tracks the options of one block, for blocks whose duplicate key is not just the option's name
// (the dsp global option allows `cache memory` beside `cache redis`).
type Seen map[string]bool

// Once records key and refuses it when the block already had it.
func (s Seen) Once(d *caddyfile.Dispenser, key string) error {
	if s[key] {
		return d.Errf("duplicate subdirective %q", key)
	}
	s[key] = true
	return nil
}

// Args fills dst with exactly len(dst) arguments.
func Args(d *caddyfile.Dispenser, dst ...*string) error {
	if !d.AllArgs(dst...) {
		return d.ArgErr()
	}
	return nil
}

// List returns the option's arguments, at least one.
func List(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

// arg returns the option's name and its single argument.
func arg(d *caddyfile.Dispenser) (name, v string, err error) {
	name = d.Val()
	if !d.AllArgs(&v) {
		return name, "", d.ArgErr()
	}
	return name, v, nil
}

// OnOff parses a switch: on, true or yes; off, false or no (any case).
func OnOff(d *caddyfile.Dispenser) (bool, error) {
	name, v, err := arg(d)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(v) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, d.Errf("%s: want on or off, got %q", name, v)
}

// Off reports whether the option's only argument is the word off, consuming it if so; otherwise the
// dispenser is left where it was, for an option that takes off or a value.
func Off(d *caddyfile.Dispenser) bool {
	if d.CountRemainingArgs() != 1 {
		return false
	}
	d.NextArg()
	if d.Val() == "off" {
		return true
	}
	d.Prev()
	return false
}

// Duration parses a duration of zero or more (Caddy's syntax: 1m30s, 2d).
func Duration(d *caddyfile.Dispenser) (caddy.Duration, error) { return duration(d, false) }

// PositiveDuration parses a duration above zero.
func PositiveDuration(d *caddyfile.Dispenser) (caddy.Duration, error) { return duration(d, true) }

func duration(d *caddyfile.Dispenser, positive bool) (caddy.Duration, error) {
	name, v, err := arg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	switch {
	case err != nil || dur < 0:
		return 0, d.Errf("%s: invalid duration %q", name, v)
	case positive && dur == 0:
		return 0, d.Errf("%s: want a duration above zero, got %q", name, v)
	}
	return caddy.Duration(dur), nil
}

// Size parses a byte size such as 10MiB or 4MB, above zero and at most MaxSize.
func Size(d *caddyfile.Dispenser) (int64, error) {
	name, v, err := arg(d)
	if err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n == 0 || n > MaxSize {
		return 0, d.Errf("%s: invalid size %q", name, v)
	}
	return int64(n), nil
}

// Int parses a whole number of at least min and at most math.MaxInt32.
func Int(d *caddyfile.Dispenser, min int) (int, error) {
	name, v, err := arg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < int64(min) || n > math.MaxInt32 {
		return 0, d.Errf("%s: want a whole number from %d to %d, got %q", name, min, math.MaxInt32, v)
	}
	return int(n), nil
}
