// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"net/http"
	"strings"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Table is a compiled, immutable route table for one project. It is safe for concurrent use.
type Table struct {
	project    string
	projPrefix string // "/{project}/"

	exact    map[string][]*entry // by exact path, each list in precedence order
	params   []*entry            // precedence order
	prefixes []*entry            // longest prefix first, then precedence

	modules     map[string]*moduleEntry // by module name (second path segment)
	ragAlias    map[string]*moduleEntry // /{project}/rag/{module}/*
	modelsAlias map[string]*moduleEntry // /{project}/models/{module}/*

	routes    []*Route
	consumers []manifest.Consumer
}

// entry is one pattern of an explicit route. A route with several uris has several entries.
type entry struct {
	route    *Route
	kind     patKind
	prefix   string   // patPrefix: the literal prefix before "*"
	segs     []string // patParam: path segments, params start with ':'
	lit      string   // patParam: the literal text before the first parameter, checked first to reject fast
	wildcard bool     // patParam: a trailing "*" follows the segments
	order    int      // manifest order, the last tie-breaker
}

// moduleEntry is a module route with the patterns explicit routes have not taken over.
type moduleEntry struct {
	route  *Route
	exact  bool // serves "/p/m" (the token broker: "/p/m/token")
	prefix bool // serves "/p/m/…"
	token  bool // the token broker: POST /p/m/token only
}

// request is what Match extracts from the request once. It lives on the stack.
type request struct {
	r      *http.Request
	path   string
	method string
	host   string
}

func (q *request) remoteAddr() string {
	if q.r == nil {
		return ""
	}
	return stripPort(q.r.RemoteAddr, false)
}

// Project returns the project id the table's module routes live under.
func (t *Table) Project() string { return t.project }

// Routes returns every route in precedence order: explicit routes ranked by their best pattern, then
// module routes in manifest order. The Routes are shared and must not be modified.
func (t *Table) Routes() []*Route {
	return append([]*Route(nil), t.routes...)
}

// Consumers returns the APISIX consumers of the project's enabled gateway modules, in manifest order.
func (t *Table) Consumers() []manifest.Consumer {
	return append([]manifest.Consumer(nil), t.consumers...)
}

// Match returns the route for a request, or nil. path is the canonical request path "/{project}/…",
// which may differ from r.URL.Path when the caller took the project from a header or a subdomain. r
// supplies the method, the host and the vars. Match does not allocate, except in vars that need a
// decoded query value or a lowercased host. The package documentation describes the precedence.
func (t *Table) Match(r *http.Request, path string) *Route {
	if path == "" {
		path = "/"
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	q := request{r: r, path: path}
	if r != nil {
		q.method = r.Method
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		q.host = stripPort(host, true)
	}
	// Each class is already in precedence order, so the first acceptable candidate wins; a candidate whose
	// pattern matched but whose methods, host or vars did not simply lets the next one try.
	for _, e := range t.exact[path] {
		if e.route.accepts(&q) {
			return e.route
		}
	}
	for _, e := range t.params {
		if strings.HasPrefix(path, e.lit) && e.matchParams(path) && e.route.accepts(&q) {
			return e.route
		}
	}
	for _, e := range t.prefixes {
		if strings.HasPrefix(path, e.prefix) && e.route.accepts(&q) {
			return e.route
		}
	}
	return t.matchModule(&q)
}

func (t *Table) matchModule(q *request) *Route {
	if !strings.HasPrefix(q.path, t.projPrefix) {
		return nil
	}
	name, tail := cutSegment(q.path[len(t.projPrefix):])
	// A legacy alias needs "/p/rag/<rag module>/"; anything else under /p/rag/ belongs to a module that
	// is literally named "rag", if there is one.
	var aliases map[string]*moduleEntry
	switch name {
	case "rag":
		aliases = t.ragAlias
	case "models":
		aliases = t.modelsAlias
	}
	if aliases != nil && len(tail) > 1 {
		if sub, subTail := cutSegment(tail[1:]); subTail != "" {
			if me := aliases[sub]; me != nil && me.prefix {
				return me.route
			}
		}
	}
	me := t.modules[name]
	if me == nil {
		return nil
	}
	if me.token {
		if me.exact && tail == "/token" && q.method == http.MethodPost {
			return me.route
		}
		return nil
	}
	if tail == "" {
		if me.exact {
			return me.route
		}
		return nil
	}
	if me.prefix {
		return me.route
	}
	return nil
}

// cutSegment splits "seg/rest" into "seg" and "/rest" ("" when there is no slash).
func cutSegment(s string) (string, string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// accepts checks everything but the path: methods, hosts and vars.
func (rt *Route) accepts(q *request) bool {
	if !rt.Methods.Allows(q.method) {
		return false
	}
	if len(rt.Hosts) > 0 && !hostMatches(rt.Hosts, q.host) {
		return false
	}
	for i := range rt.vars {
		if !rt.vars[i].eval(q) {
			return false
		}
	}
	return true
}

// hostMatches compares without allocating: patterns are lowercase, the request host may not be.
func hostMatches(patterns []string, host string) bool {
	if host == "" {
		return false
	}
	for _, p := range patterns {
		if strings.HasPrefix(p, "*.") {
			suffix := p[1:] // ".example.com"
			if len(host) > len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix) {
				return true
			}
		} else if strings.EqualFold(host, p) {
			return true
		}
	}
	return false
}

// stripPort removes a ":port" suffix. IPv6 literals keep their brackets when keepBrackets is set, as in
// a Host header ("[::1]"), and lose them otherwise, as nginx's $remote_addr does ("::1"). A trailing dot
// of a fully qualified host name is dropped.
func stripPort(hostport string, keepBrackets bool) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.IndexByte(hostport, ']'); i > 0 {
			if keepBrackets {
				return hostport[:i+1]
			}
			return hostport[1:i]
		}
		return hostport
	}
	if i := strings.IndexByte(hostport, ':'); i >= 0 && strings.IndexByte(hostport[i+1:], ':') < 0 {
		hostport = hostport[:i]
	}
	return strings.TrimSuffix(hostport, ".")
}

// matchParams matches a ":param" pattern segment by segment, without splitting the path.
func (e *entry) matchParams(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	pos := 1
	for i, seg := range e.segs {
		end := strings.IndexByte(path[pos:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += pos
		}
		s := path[pos:end]
		if len(seg) > 0 && seg[0] == ':' {
			if s == "" {
				return false
			}
		} else if s != seg {
			return false
		}
		if i == len(e.segs)-1 {
			pos = end
			break
		}
		if end == len(path) {
			return false
		}
		pos = end + 1
	}
	if e.wildcard {
		// Like "/a/*", "/a/:id/*" needs the slash after the last segment.
		return pos < len(path) && path[pos] == '/'
	}
	return pos == len(path)
}
