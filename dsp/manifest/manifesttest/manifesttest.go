// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package manifesttest builds manifests for tests and benchmarks. Never imported by production code.
package manifesttest

import (
	"bytes"
	"fmt"
)

// Routes returns a valid manifest of project id with one api_gateway module of n routes, shaped like the
// Control Tower's examples (~250 bytes a route: exact and :param URIs, methods, an inline upstream, a
// proxy-rewrite and a limit-count plugin, ${environments…} templating), so that 40 000 routes make the
// ~10 MB manifest of issue 12.
func Routes(id string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"project_id":%q,"project_name":"Bench","environment":"development",`, id)
	b.WriteString(`"environments":{"development":{"urls":{"upstream":"127.0.0.1:9"}}},"modules":[`)
	b.WriteString(`{"module_type":"api_gateway","name":"gw","config":{"gateway_type":"apisix","routes":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		uri := fmt.Sprintf("/%s/svc%d/items", id, i)
		if i%2 == 1 {
			uri = fmt.Sprintf("/%s/svc%d/items/:item", id, i)
		}
		fmt.Fprintf(&b, `{"name":"r%d","uri":%q,"methods":["GET","POST"],`+
			`"upstream":{"type":"roundrobin","scheme":"http","nodes":{"${environments.${environment}.urls.upstream}":1}},`+
			`"plugins":{"proxy-rewrite":{"regex_uri":["^/%s/svc%d/(.*)","/$1"]},"limit-count":{"count":100,"time_window":60}}}`,
			i, uri, id, i)
	}
	b.WriteString(`]}}]}`)
	return b.Bytes()
}
