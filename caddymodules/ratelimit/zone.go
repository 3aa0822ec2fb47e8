// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"net/url"
	"strconv"
	"sync"
)

// A static policy's counters live in its zone: the Zone the operator named, or the handler's position in
// the config. Without a zone every site's `requests 10/m` shared one counter per consumer (issue 12 #9).
//
// Why the position is "server name + ordinal among that server's dsp_ratelimit handlers":
//   - Caddy tells a handler, while it provisions, which server it belongs to (caddyhttp.ServerCtxKey), and
//     provisions one server's routes, subroutes and error routes in config order, so the ordinal of the
//     same handler in the same config is the same on every load. (Servers themselves are provisioned in
//     map order, which is why the ordinal counts per server, never across servers; named routes, also in
//     map order, are the one place where two dsp_ratelimit handlers could swap — name their zones.)
//   - Server names are stable for a given config: JSON keys, or srv0, srv1… in the order the Caddyfile
//     first mentions each listener address, so a site added after the others moves nobody.
//   - A hash of the handler's own config would identify it too, but it changes with the limit itself:
//     `requests 5/h` → `4/h` would start from zero, and a reload must apply a changed limit to the
//     existing count (TestRateLimitStatic). The position does not depend on the handler's settings.
//
// Zone names are restricted to [A-Za-z0-9_.-]; a default zone starts with '@' and escapes the server
// name, so a named zone can never collide with a position.

// positions counts the handlers each server of the config being loaded has provisioned so far.
var positions = &positionCounter{n: map[any]int{}}

type positionCounter struct {
	mu sync.Mutex
	n  map[any]int // a config's *caddyhttp.Server (new on every load) → dsp_ratelimit handlers seen
}

// next returns the default zone of the next handler of the server known as key (named name) and counts it.
func (c *positionCounter) next(key any, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.n[key]
	c.n[key] = i + 1
	return "@" + url.PathEscape(name) + "#" + strconv.Itoa(i)
}

// forget drops a server's count once its config is gone.
func (c *positionCounter) forget(key any) {
	c.mu.Lock()
	delete(c.n, key)
	c.mu.Unlock()
}

func validZone(z string) bool {
	if z == "" || len(z) > 128 {
		return false
	}
	for _, r := range z {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}
