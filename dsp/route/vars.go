// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

type varSource uint8

const (
	srcURI varSource = iota + 1
	srcMethod
	srcHost
	srcRemoteAddr
	srcArg
	srcHTTP
	srcCookie
)

type opKind uint8

const (
	opEq opKind = iota + 1
	opNe
	opGt
	opLt
	opGe
	opLe
	opRe
	opReI
	opIn
	opHas
)

var opNames = map[string]opKind{
	"==": opEq, "~=": opNe, ">": opGt, "<": opLt, ">=": opGe, "<=": opLe,
	"~~": opRe, "~*": opReI, "in": opIn, "has": opHas,
}

// operand is a manifest value, kept both as text and, when it is a JSON number or numeric string, as a number.
type operand struct {
	s     string
	num   float64
	isNum bool
}

// varExpr is one compiled APISIX vars expression.
type varExpr struct {
	src  varSource
	key  string // query arg name, canonical header key or cookie name
	neg  bool
	op   opKind
	null bool // == / ~= against JSON null: tests presence
	val  operand
	list []operand
	re   *regexp.Regexp
}

// compileVars compiles every expression, failing on the first one it cannot honour exactly.
func compileVars(vs [][]any) ([]varExpr, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make([]varExpr, 0, len(vs))
	for i, v := range vs {
		e, err := compileVar(v)
		if err != nil {
			return nil, fmt.Errorf("vars[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func compileVar(v []any) (varExpr, error) {
	var e varExpr
	if len(v) == 0 {
		return e, errors.New("empty expression")
	}
	varName, ok := v[0].(string)
	if !ok {
		return e, fmt.Errorf("variable name must be a string, got %T", v[0])
	}
	// Logical forms such as ["OR", [...], [...]] are not supported: "OR" fails here as an unknown
	// variable, which drops the route instead of ignoring the condition.
	if err := e.setSource(varName); err != nil {
		return e, err
	}
	rest := v[1:]
	if len(rest) > 0 {
		if s, _ := rest[0].(string); s == "!" {
			e.neg = true
			rest = rest[1:]
		}
	}
	var opName string
	var val any
	switch len(rest) {
	case 1: // [var, value]: lua-resty-expr defaults the operator to ==.
		opName, val = "==", rest[0]
	case 2:
		s, ok := rest[0].(string)
		if !ok {
			return e, fmt.Errorf("operator must be a string, got %T", rest[0])
		}
		opName, val = s, rest[1]
	default:
		return e, fmt.Errorf("expression %v must be [var, op, value] or [var, \"!\", op, value]", v)
	}
	op, ok := opNames[opName]
	if !ok {
		return e, fmt.Errorf("unsupported operator %q", opName)
	}
	e.op = op
	switch op {
	case opEq, opNe:
		if val == nil {
			e.null = true
			return e, nil
		}
		o, err := scalar(val)
		if err != nil {
			return e, fmt.Errorf("%s: %w", opName, err)
		}
		e.val = o
	case opHas:
		o, err := scalar(val)
		if err != nil {
			return e, fmt.Errorf("%s: %w", opName, err)
		}
		e.val = o
	case opGt, opLt, opGe, opLe:
		o, err := scalar(val)
		if err != nil {
			return e, fmt.Errorf("%s: %w", opName, err)
		}
		if !o.isNum {
			if f, ok := parseNum(o.s); ok {
				o.num, o.isNum = f, true
			} else {
				return e, fmt.Errorf("%s needs a number, got %q", opName, o.s)
			}
		}
		e.val = o
	case opRe, opReI:
		s, ok := val.(string)
		if !ok {
			return e, fmt.Errorf("%s needs a regex string, got %T", opName, val)
		}
		if op == opReI {
			s = "(?i)" + s
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return e, fmt.Errorf("compiling regex: %w", err)
		}
		e.re = re
	case opIn:
		list, ok := val.([]any)
		if !ok {
			return e, fmt.Errorf("in needs a list, got %T", val)
		}
		e.list = make([]operand, 0, len(list))
		for _, x := range list {
			o, err := scalar(x)
			if err != nil {
				return e, fmt.Errorf("in: %w", err)
			}
			e.list = append(e.list, o)
		}
	}
	return e, nil
}

func (e *varExpr) setSource(name string) error {
	switch name {
	case "uri":
		e.src = srcURI
	case "request_method":
		e.src = srcMethod
	case "host":
		e.src = srcHost
	case "remote_addr":
		e.src = srcRemoteAddr
	default:
		switch {
		case strings.HasPrefix(name, "arg_") && len(name) > len("arg_"):
			e.src, e.key = srcArg, name[len("arg_"):]
		case strings.HasPrefix(name, "http_") && len(name) > len("http_"):
			// nginx exposes header X-Api-Key as $http_x_api_key.
			e.src = srcHTTP
			e.key = textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name[len("http_"):], "_", "-"))
		case strings.HasPrefix(name, "cookie_") && len(name) > len("cookie_"):
			e.src, e.key = srcCookie, name[len("cookie_"):]
		default:
			return fmt.Errorf("unsupported variable %q", name)
		}
	}
	return nil
}

// scalar converts a decoded JSON string or number. Booleans and objects have no APISIX meaning in vars
// (they never equal a request variable), so they are errors rather than conditions that can never hold.
func scalar(v any) (operand, error) {
	switch x := v.(type) {
	case string:
		return operand{s: x}, nil
	case float64:
		return operand{s: strconv.FormatFloat(x, 'f', -1, 64), num: x, isNum: true}, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return operand{}, fmt.Errorf("number %q: %w", x, err)
		}
		return operand{s: x.String(), num: f, isNum: true}, nil
	case int:
		return operand{s: strconv.Itoa(x), num: float64(x), isNum: true}, nil
	}
	return operand{}, fmt.Errorf("value must be a string or number, got %T", v)
}

// parseNum is Lua's tonumber for decimal strings. It checks the syntax first because strconv allocates an
// error for every string it rejects, and vars run on the hot path.
func parseNum(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	digits := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return 0, false
		}
	}
	if !digits {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// eval reports whether the expression holds for the request.
func (e *varExpr) eval(q *request) bool {
	return e.test(q) != e.neg
}

// test follows lua-resty-expr's compare functions: a number operand turns == into a numeric comparison,
// the ordering operators need both sides numeric, and an absent variable (Lua nil) fails everything but ~=.
func (e *varExpr) test(q *request) bool {
	fold := e.src == srcHost
	if e.op == opHas {
		return e.has(q)
	}
	v, ok := e.lookup(q)
	switch e.op {
	case opEq, opNe:
		var eq bool
		if e.null {
			eq = !ok
		} else {
			eq = ok && equal(v, e.val, fold)
		}
		return eq == (e.op == opEq)
	case opGt, opLt, opGe, opLe:
		if !ok {
			return false
		}
		f, good := parseNum(v)
		if !good {
			return false
		}
		switch e.op {
		case opGt:
			return f > e.val.num
		case opLt:
			return f < e.val.num
		case opGe:
			return f >= e.val.num
		default:
			return f <= e.val.num
		}
	case opRe, opReI:
		if !ok {
			return false
		}
		if fold && hasUpper(v) {
			v = strings.ToLower(v) // nginx's $host is lowercase; rare, so the allocation is acceptable
		}
		return e.re.MatchString(v)
	case opIn:
		if !ok {
			return false
		}
		for _, o := range e.list {
			if equal(v, o, fold) {
				return true
			}
		}
		return false
	}
	return false
}

func equal(v string, o operand, fold bool) bool {
	if o.isNum {
		f, ok := parseNum(v)
		return ok && f == o.num
	}
	if fold {
		return strings.EqualFold(v, o.s)
	}
	return v == o.s
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// lookup returns the variable's scalar value and whether the request has it.
func (e *varExpr) lookup(q *request) (string, bool) {
	switch e.src {
	case srcURI:
		return q.path, true
	case srcMethod:
		return q.method, true
	case srcHost:
		return q.host, q.host != ""
	case srcRemoteAddr:
		return q.remoteAddr(), q.r != nil && q.r.RemoteAddr != ""
	case srcHTTP:
		if q.r == nil {
			return "", false
		}
		if vs := q.r.Header[e.key]; len(vs) > 0 {
			return vs[0], true
		}
	case srcArg:
		// APISIX reads arg_* from ngx.req.get_uri_args: decoded, case-sensitive names, first value. The query is
		// scanned in place rather than through URL.Query, which would build a map on every request.
		if q.r == nil || q.r.URL == nil {
			return "", false
		}
		raw := q.r.URL.RawQuery
		for raw != "" {
			var pair string
			pair, raw, _ = strings.Cut(raw, "&")
			k, val, _ := strings.Cut(pair, "=")
			if queryUnescape(k) == e.key {
				return queryUnescape(val), true
			}
		}
	case srcCookie:
		// Scanned in place: r.Cookie allocates a Cookie per call.
		if q.r == nil {
			return "", false
		}
		for _, line := range q.r.Header["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
				if ok && k == e.key {
					if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
						val = val[1 : len(val)-1]
					}
					return val, true
				}
			}
		}
	}
	return "", false
}

// has reports whether any value of a multi-valued variable equals the operand.
func (e *varExpr) has(q *request) bool {
	switch e.src {
	case srcArg:
		if q.r == nil || q.r.URL == nil {
			return false
		}
		raw := q.r.URL.RawQuery
		for raw != "" {
			var pair string
			pair, raw, _ = strings.Cut(raw, "&")
			k, val, _ := strings.Cut(pair, "=")
			if queryUnescape(k) == e.key && equal(queryUnescape(val), e.val, false) {
				return true
			}
		}
		return false
	case srcHTTP:
		if q.r == nil {
			return false
		}
		for _, line := range q.r.Header[e.key] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ",")
				if equal(strings.TrimSpace(part), e.val, false) {
					return true
				}
			}
		}
		return false
	}
	v, ok := e.lookup(q)
	return ok && equal(v, e.val, e.src == srcHost)
}

// queryUnescape decodes a query component, allocating only when it actually contains an escape.
func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}
