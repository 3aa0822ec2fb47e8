// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
)

// ProxyRewrite is the proxy-rewrite plugin: it rewrites the upstream path (uri or regex_uri), method, Host
// and headers. Values may contain nginx variables ($uri, $host, $http_x_name, $arg_name, $remote_addr,
// $request_method, $request_uri, $scheme, $cookie_name), expanded per request; an unknown variable expands
// to the empty string, as nginx's unset variables do.
type ProxyRewrite struct {
	URI        *Template
	Regex      *regexp.Regexp
	RegexRepl  string
	Method     string
	Host       string
	SetHeaders []headerOp
	AddHeaders []headerOp
	DelHeaders []string
}

type headerOp struct {
	name  string
	value *Template
}

func compileProxyRewrite(raw json.RawMessage) (*ProxyRewrite, error) {
	var c struct {
		URI      string          `json:"uri"`
		RegexURI []string        `json:"regex_uri"`
		Method   string          `json:"method"`
		Host     string          `json:"host"`
		Headers  json.RawMessage `json:"headers"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	p := &ProxyRewrite{Method: strings.ToUpper(c.Method), Host: c.Host}
	if c.URI != "" {
		p.URI = ParseTemplate(c.URI)
	}
	if len(c.RegexURI) > 0 {
		if len(c.RegexURI) != 2 {
			return nil, errors.New("regex_uri must be [pattern, replacement]")
		}
		re, err := regexp.Compile(c.RegexURI[0])
		if err != nil {
			return nil, fmt.Errorf("regex_uri pattern: %w", err)
		}
		p.Regex = re
		// nginx/PCRE captures are $1; Go's expansion needs ${1} when a letter may follow.
		p.RegexRepl = reDollarNum.ReplaceAllString(c.RegexURI[1], "$${$1}")
	}
	set, add, del, err := decodeHeaders(c.Headers)
	if err != nil {
		return nil, err
	}
	p.SetHeaders, p.AddHeaders, p.DelHeaders = headerOps(set), headerOps(add), del
	return p, nil
}

var reDollarNum = regexp.MustCompile(`\$(\d+)`)

// decodeHeaders reads the header edits of proxy-rewrite and response-rewrite, which share two forms: the
// structured {"set": {…}, "add": …, "remove": […]} ("add" is a map in proxy-rewrite and a list of
// "Name: value" strings in response-rewrite; both are accepted), and the older flat map, where every key is
// set and an empty value removes the header. Names come back canonical.
func decodeHeaders(raw json.RawMessage) (set, add map[string]string, remove []string, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil, nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, nil, nil, fmt.Errorf("decoding headers: %w", err)
	}
	_, hasSet := generic["set"]
	_, hasAdd := generic["add"]
	_, hasRemove := generic["remove"]
	if !hasSet && !hasAdd && !hasRemove {
		var flat map[string]string
		if err := json.Unmarshal(raw, &flat); err != nil {
			return nil, nil, nil, fmt.Errorf("decoding headers: %w", err)
		}
		set = make(map[string]string, len(flat))
		for k, v := range flat {
			if v == "" {
				remove = append(remove, http.CanonicalHeaderKey(k))
			} else {
				set[http.CanonicalHeaderKey(k)] = v
			}
		}
		return set, nil, remove, nil
	}
	var s struct {
		Set    map[string]string `json:"set"`
		Add    json.RawMessage   `json:"add"`
		Remove []string          `json:"remove"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, nil, fmt.Errorf("decoding headers set/add/remove: %w", err)
	}
	set = make(map[string]string, len(s.Set))
	for k, v := range s.Set {
		set[http.CanonicalHeaderKey(k)] = v
	}
	add = map[string]string{}
	if len(s.Add) > 0 && string(s.Add) != "null" {
		var list []string
		if json.Unmarshal(s.Add, &list) == nil {
			for _, kv := range list {
				name, value, ok := strings.Cut(kv, ":")
				if !ok {
					return nil, nil, nil, fmt.Errorf("headers add: %q is not \"Name: value\"", kv)
				}
				add[http.CanonicalHeaderKey(strings.TrimSpace(name))] = strings.TrimSpace(value)
			}
		} else {
			var m map[string]string
			if err := json.Unmarshal(s.Add, &m); err != nil {
				return nil, nil, nil, fmt.Errorf("decoding headers add: %w", err)
			}
			for k, v := range m {
				add[http.CanonicalHeaderKey(k)] = v
			}
		}
	}
	for _, h := range s.Remove {
		remove = append(remove, http.CanonicalHeaderKey(h))
	}
	return set, add, remove, nil
}

func headerOps(m map[string]string) []headerOp {
	ops := make([]headerOp, 0, len(m))
	for k, v := range m {
		ops = append(ops, headerOp{name: http.CanonicalHeaderKey(k), value: ParseTemplate(v)})
	}
	// stable order keeps requests reproducible
	for i := 1; i < len(ops); i++ {
		for j := i; j > 0 && ops[j].name < ops[j-1].name; j-- {
			ops[j], ops[j-1] = ops[j-1], ops[j]
		}
	}
	return ops
}

// Path returns the rewritten upstream path for the request path, or path unchanged.
func (p *ProxyRewrite) Path(r *http.Request, path string) string {
	switch {
	case p.URI != nil:
		return p.URI.Expand(r)
	case p.Regex != nil:
		if p.Regex.MatchString(path) {
			out := p.Regex.ReplaceAllString(path, p.RegexRepl)
			if out == "" {
				out = "/"
			}
			return out
		}
	}
	return path
}

// ApplyHeaders rewrites method, Host and headers in place. Variables are expanded against the request as
// it arrived, before any of this plugin's header changes.
func (p *ProxyRewrite) ApplyHeaders(r *http.Request) {
	var vals []string
	if n := len(p.SetHeaders) + len(p.AddHeaders); n > 0 {
		vals = make([]string, 0, n)
		for _, op := range p.SetHeaders {
			vals = append(vals, op.value.Expand(r))
		}
		for _, op := range p.AddHeaders {
			vals = append(vals, op.value.Expand(r))
		}
	}
	for i, op := range p.SetHeaders {
		r.Header.Set(op.name, vals[i])
	}
	for i, op := range p.AddHeaders {
		r.Header.Add(op.name, vals[len(p.SetHeaders)+i])
	}
	for _, h := range p.DelHeaders {
		r.Header.Del(h)
	}
	if p.Method != "" {
		r.Method = p.Method
	}
	if p.Host != "" {
		r.Host = p.Host
	}
}

// Template is a string with nginx-style $variables, split once into literal and variable parts.
type Template struct {
	parts []tmplPart
	lit   string // the whole template when it has no variables
}

type tmplPart struct {
	lit string
	v   string // variable name, "" for a literal part
}

var reNginxVar = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// ParseTemplate splits s into parts.
func ParseTemplate(s string) *Template {
	locs := reNginxVar.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return &Template{lit: s}
	}
	t := &Template{}
	last := 0
	for _, l := range locs {
		if l[0] > last {
			t.parts = append(t.parts, tmplPart{lit: s[last:l[0]]})
		}
		t.parts = append(t.parts, tmplPart{v: s[l[2]:l[3]]})
		last = l[1]
	}
	if last < len(s) {
		t.parts = append(t.parts, tmplPart{lit: s[last:]})
	}
	return t
}

// Expand renders the template for r. A template without variables costs nothing.
func (t *Template) Expand(r *http.Request) string {
	if t.parts == nil {
		return t.lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.v == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(NginxVar(r, p.v))
		}
	}
	return b.String()
}

// NginxVar returns the value of an nginx variable for r.
func NginxVar(r *http.Request, name string) string {
	switch {
	case strings.HasPrefix(name, "http_"):
		return r.Header.Get(strings.ReplaceAll(name[5:], "_", "-"))
	case strings.HasPrefix(name, "arg_"):
		return r.URL.Query().Get(name[4:])
	case strings.HasPrefix(name, "cookie_"):
		if c, err := r.Cookie(name[7:]); err == nil {
			return c.Value
		}
		return ""
	}
	switch name {
	case "uri":
		return r.URL.Path
	case "request_uri":
		return r.URL.RequestURI()
	case "args", "query_string":
		return r.URL.RawQuery
	case "host":
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			return r.Host
		}
		return host
	case "request_method":
		return r.Method
	case "remote_addr":
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	case "scheme":
		if r.TLS != nil {
			return "https"
		}
		return "http"
	}
	return ""
}
