// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package route compiles a DSP project manifest into an immutable route table and matches requests against
// it on the hot path without allocating.
//
// A Table is built once per manifest version by Compile and is then only read, so any number of goroutines
// may call Match at the same time. Reloading a project means compiling a new Table and swapping the pointer.
//
// # Where routes come from
//
// Explicit routes are the APISIX routes of every api_gateway module whose status is not "disabled", whatever
// its gateway_type. The original Front Door only translated api_gateway modules with "apisix" in their
// name (spec §3.3); FD2 fixes that bug and reads every gateway module. A route with "status": 0 is skipped,
// as in APISIX. Each route serves its "uri" and every entry of "uris".
//
// Module routes are synthesized for enabled modules, under the project id the manifest was fetched with
// (the Control Tower looks manifests up by file stem, which may differ from the manifest's project_id):
//
//	inference_endpoint  /{project}/{module} and /{project}/{module}/*        KindInference
//	rag_service         /{project}/{module} and /{project}/{module}/*        KindRAG
//	                    /{project}/rag/{module}/*     (legacy alias)
//	model_server        /{project}/{module} and /{project}/{module}/*        KindModelServer
//	                    /{project}/models/{module}/*  (legacy alias)
//	jwt_config          POST /{project}/{module}/token                       KindTokenBroker
//
// Route.StripPrefix is what dispatch removes before forwarding (for example "/p/rag/kb"); the rest of the
// path is appended to Upstream.BasePath. Other module types (vault, monitoring, langgraph_workflow, …)
// are not routed.
//
// # Matching precedence
//
// Match takes the canonical request path "/{project}/…" (an empty path counts as "/"; anything from "?"
// on is ignored; matching is case-sensitive and "/a" is not "/a/"). It picks the route like this:
//
//  1. Explicit routes, with APISIX radixtree semantics. The candidates are the routes with a pattern that
//     matches the path, ranked in three classes:
//     a. exact patterns ("/p/convert");
//     b. parameter patterns, in which a segment ":name" matches one non-empty segment and a final "*"
//     (or "*name") matches "/" plus anything ("/p/users/:id", "/p/users/:id/*");
//     c. prefix patterns ending in "*", longest prefix first. "/a/*" matches "/a/" and "/a/b", but not
//     "/a"; "/a*" matches "/a", "/ab" and "/a/b".
//     Within a class, and between prefix patterns of the same length, a higher "priority" comes first and
//     then manifest order (module order, route order, uri order). The first candidate whose methods, host
//     and vars all hold wins. When the pattern matched but the rest did not, matching falls through to the
//     next candidate and then to module routes.
//  2. Module routes: the second path segment names the module, through a map lookup. For the legacy
//     aliases the second segment is "rag" or "models" and the third one names a rag_service or
//     model_server module. An alias wins over a module that is literally named "rag" or "models"
//     only when the third segment names such a module. Module routes match any method and host, except
//     the token broker, which answers POST only.
//     An explicit route owns the patterns it names exactly. A module route's exact pattern "/p/m" is not
//     served when an explicit route has that exact uri, and its prefix "/p/m/" is not served when an
//     explicit route has the prefix pattern "/p/m/*". In sas2py, for example, the api_gateway route
//     "/sas2py/convert" (POST) is the public face of the inference module "convert". GET /sas2py/convert
//     therefore matches nothing, while /sas2py/convert/v1/chat/completions still reaches the module.
//  3. Nothing matches: Match returns nil, and the caller answers 404.
//
// Hosts are "host" and "hosts": either exact names or "*.example.com", which matches any name below
// example.com but not example.com itself. They are compared case-insensitively, ignoring the request's
// port. No host means any host.
//
// # Vars
//
// Route vars are APISIX (lua-resty-expr) expressions [var, op, value] or [var, "!", op, value], and all of
// them must hold. The operators are ==, ~=, >, <, >=, <=, ~~ (regex), ~* (case-insensitive regex), in and
// has. The variables are uri (the matched path), request_method, host (without port, compared
// case-insensitively), remote_addr (without port), arg_<name> (first query value, decoded), http_<name>
// (first header value; underscores become dashes) and cookie_<name>. A missing variable equals only the
// value null, so it fails every other operator except ~= (and its negations).
// When the value is a number, == and in compare numerically, as lua-resty-expr does for ==.
// Regexes use Go's RE2 syntax instead of PCRE and are compiled once, by Compile.
// has matches a value of a multi-valued variable: every query value of arg_x, or every comma-separated
// element of every http_x header.
//
// An unsupported operator or variable, a malformed expression, an invalid regex or method name, or an
// invalid upstream drops the route with a warning. The route is never kept with the condition ignored,
// because that would route traffic the manifest meant to exclude.
//
// # Upstreams and plugins
//
// An explicit route's upstream is its inline "upstream", or else the module's upstreams[] entry whose id
// (then name) equals "upstream_id", or equals it without a "{project}-" prefix: the original FD2 created
// upstreams in APISIX as "{project}-{name}" and manifests reference them so. Defaults follow the original APISIX translation: scheme https, type
// roundrobin, timeouts of 30 s, 1 retry, pass_host "pass", and node ports 443/80 by scheme. A route without an
// upstream is kept with a nil Upstream and a warning. Dispatch then answers 502, whereas the original
// failed the whole route on "upstream": null.
//
// Module route upstreams come from service_url: the scheme, host and port (443 or 80 by default, where
// the original defaulted to 8080/8000), and the URL path as BasePath. The original dropped that path, so
// its RAG and model routes missed "/api/v1".
//
// A route's plugins are its owning gateway module's enabled global_plugins with the route's own plugins
// on top (a route's config for a plugin replaces the global one). The original pushed global_plugins as
// an APISIX global rule that applied to every route of every project. FD2 scopes them to the project:
// module routes get the global plugins of all the project's gateway modules, plus jwt-auth when a
// rag_service or model_server sets jwt_auth_enabled, and key-auth when a model_server sets
// api_key_enabled with an api_key (as the original's auto routes did). The token broker gets no plugins,
// because the original served it outside APISIX. Table.Consumers returns the consumers of this project
// only, where the original's APISIX consumers were global.
//
// # Warnings
//
// Compile returns warnings for an operator, never logging them. They cover routes without an upstream,
// route patterns outside "/{project}/" (langgraph-summarizer's "/summarizer/llm" is routed anyway, as the
// original forwarded the full path), dropped routes, renamed duplicate route IDs, module routes whose
// patterns are all shadowed, and upstream oddities such as unresolved "${…}" node hosts.
//
// This package never imports Caddy.
package route
