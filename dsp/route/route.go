// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"strings"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Kind says which stage serves a matched route.
type Kind uint8

// Route kinds. The zero Kind is invalid, so a Route that was never filled in cannot pass for a proxy route.
const (
	// KindUpstream is an explicit APISIX route, proxied to its upstream.
	KindUpstream Kind = iota + 1
	// KindInference is an inference_endpoint module, served by the OpenAI-compatible inference module.
	KindInference
	// KindRAG is a rag_service module, served by the RAG module in front of its service_url.
	KindRAG
	// KindModelServer is a model_server module, proxied to its service_url.
	KindModelServer
	// KindTokenBroker is the token endpoint of a jwt_config module.
	KindTokenBroker
	// KindModule is the route of any other module type; the module type registered for it serves it.
	KindModule
)

// String returns the kind's stable name, fit for a metric label.
func (k Kind) String() string {
	switch k {
	case KindUpstream:
		return "upstream"
	case KindInference:
		return "inference"
	case KindRAG:
		return "rag"
	case KindModelServer:
		return "model_server"
	case KindTokenBroker:
		return "token_broker"
	case KindModule:
		return "module"
	}
	return "unknown"
}

// MethodSet is a set of HTTP methods, one bit each. The zero set means any method.
type MethodSet uint16

// The methods APISIX accepts in a route's "methods".
const (
	MethodGet MethodSet = 1 << iota
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodConnect
	MethodOptions
	MethodTrace
	MethodPurge
)

var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PURGE"}

// ParseMethod returns the bit of an HTTP method name, or 0 for a method APISIX does not know. Names are
// case-sensitive, as in HTTP. It does not allocate.
func ParseMethod(m string) MethodSet {
	switch m {
	case "GET":
		return MethodGet
	case "HEAD":
		return MethodHead
	case "POST":
		return MethodPost
	case "PUT":
		return MethodPut
	case "PATCH":
		return MethodPatch
	case "DELETE":
		return MethodDelete
	case "CONNECT":
		return MethodConnect
	case "OPTIONS":
		return MethodOptions
	case "TRACE":
		return MethodTrace
	case "PURGE":
		return MethodPurge
	}
	return 0
}

// Allows reports whether a request with method m may use a route with this set. The empty set allows
// every method, including ones APISIX does not know.
func (s MethodSet) Allows(m string) bool {
	return s == 0 || s&ParseMethod(m) != 0
}

// String lists the methods comma-separated, in a fixed order, or "*" for the empty set.
func (s MethodSet) String() string {
	if s == 0 {
		return "*"
	}
	var b strings.Builder
	for i, name := range methodNames {
		if s&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// Route is one compiled route. A Route belongs to its Table and is shared by every request that matches it,
// so callers must treat it, and everything it points to, as read-only.
type Route struct {
	// ID is unique within the Table and stable across recompiles of the same manifest, so it is a bounded
	// metric label. It is "<module>/<route name>" for explicit routes, "<module>" for module routes and
	// "<module>/legacy" for the legacy /rag/ and /models/ aliases. A clash gets "#2", "#3", … appended.
	ID string
	// Name is the APISIX route name for explicit routes and the module name for module routes.
	Name string
	// Module is the owning module: the api_gateway module for explicit routes, the target module for
	// module routes.
	Module string
	// Kind says which stage serves the route.
	Kind Kind
	// URI is the first pattern as written in the manifest, or the synthesized pattern of a module route
	// ("/p/knowledge-base/*", which serves "/p/knowledge-base" too).
	URI string
	// URIs lists every pattern an explicit route serves ("uri", then "uris"). It is nil for module routes.
	URIs []string
	// Methods restricts the request method. The zero set allows any method.
	Methods MethodSet
	// Hosts restricts the request host: lowercase exact names or "*.suffix" wildcards. Empty means any host.
	Hosts []string
	// Priority is the APISIX route priority (higher first among candidates of the same class).
	Priority int
	// Vars are the route's APISIX vars as written. Match evaluates their compiled form.
	Vars manifest.Vars
	// Upstream is where the route proxies to. It is nil when the route has none, and dispatch then answers
	// 502 "route has no upstream". It is always nil for KindInference.
	Upstream *Upstream
	// Plugins are the route's APISIX plugins with the project's global plugins merged underneath (the route's
	// config wins). Entries with enabled:false are already gone.
	Plugins manifest.Plugins
	// Globals names the entries of Plugins that come from global_plugins (not overridden by the route), sorted.
	// plugins.Compile drops such a plugin when its config fails and it is not security-relevant, as APISIX
	// drops a failing global rule, instead of closing the route.
	Globals []string
	// StripPrefix is the path prefix dispatch strips before forwarding to a module route ("/p/module" or
	// "/p/rag/module"). It is "" for explicit routes, because APISIX forwards the full path.
	StripPrefix string
	// ModuleType is the manifest module_type of Module.
	ModuleType string

	vars []varExpr
}

// Upstream is a normalised APISIX upstream: every default is filled in.
type Upstream struct {
	// Name identifies the upstream for pooling and metric labels: the upstreams[] name or id, the route ID
	// for an inline upstream, or the module name for module routes.
	Name string
	// Nodes are the backends, each with its port set (443 for https, 80 for http when absent). In the list
	// form a missing or zero weight is 1. In the map form {"host:port": weight} a weight of 0 is kept, as
	// APISIX keeps it.
	Nodes []manifest.Node
	// Scheme is "http" or "https". Explicit routes default to https, as the original translation does. Module
	// routes take the scheme of their service_url.
	Scheme string
	// Type is the balancer: "roundrobin" (default), "chash", "ewma" or "least_conn".
	Type string
	// Connect, Send and Read are the upstream timeouts. Explicit routes default to 30 s each. RAG and model
	// servers use request_timeout (60 s and 30 s by default) for Send and Read, and 10 s for Connect.
	Connect, Send, Read time.Duration
	// Retries is how many other attempts a failed request may make. Explicit routes default to 1, and
	// module routes default to their max_retries (2).
	Retries int
	// PassHost is "pass" (send the client's Host; the default for explicit routes), "node" (send the node's
	// host; the default for module routes, whose service_url names the host) or "rewrite" (send UpstreamHost).
	PassHost string
	// UpstreamHost is the Host sent when PassHost is "rewrite".
	UpstreamHost string
	// BasePath is the path of a module route's service_url without its trailing slash ("/api/v1"). Dispatch
	// puts it in front of the path left after StripPrefix. It is "" for explicit routes.
	BasePath string
}
