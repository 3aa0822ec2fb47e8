// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"strings"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Locator finds a request's project and canonical path "/{project}/…". The client may name the project in
// four ways, tried in this order:
//  1. the header X-Project-Module: <project>/<module> (the request path is then relative to the module);
//  2. the Host, when HostSuffix is set and the Host is <project><HostSuffix> (the path is then relative to
//     the project);
//  3. the first path segment (/{project}/…, the normal form);
//  4. the header X-Project-Id when the path is "/" (the original front door's fallback).
//
// Every form becomes the canonical path, so one route table serves them all. The input is the client's and
// untrusted: Locate never fails and never panics; a project it returns is always a valid project id
// (manifest.ValidProjectID: ASCII, at most 128 bytes), so it is safe as a file name, cache key and metric
// label. An unusable one is returned as "".
type Locator struct {
	// HostSuffix enables form 2 (lower case, starting with a dot); empty disables it.
	HostSuffix string
	// Headers enables forms 1 and 4.
	Headers bool
}

// Locate returns the project and the canonical path for a request with the given URL path, Host and the
// values of the X-Project-Module and X-Project-Id headers. path is returned unchanged when no project is
// found.
func (l Locator) Locate(path, host, projectModule, projectID string) (project, canonical string) {
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		return "", path // "OPTIONS *", or a client's nonsense: no project can be named
	}
	project, canonical = l.locate(path, host, projectModule, projectID)
	if !manifest.ValidProjectID(project) {
		return "", path
	}
	return project, canonical
}

func (l Locator) locate(path, host, pm, id string) (string, string) {
	if l.Headers && pm != "" {
		i := strings.IndexByte(pm, '/')
		if i <= 0 || i == len(pm)-1 || strings.IndexByte(pm[i+1:], '/') >= 0 {
			return "", path // a malformed header is not silently ignored in favour of the path
		}
		if path == "/" {
			return pm[:i], "/" + pm
		}
		return pm[:i], "/" + pm + path
	}
	if l.HostSuffix != "" {
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if len(host) > len(l.HostSuffix) && strings.EqualFold(host[len(host)-len(l.HostSuffix):], l.HostSuffix) {
			project := host[:len(host)-len(l.HostSuffix)]
			if !strings.Contains(project, ".") {
				if path == "/" {
					return project, "/" + project
				}
				return project, "/" + project + path
			}
		}
	}
	if len(path) > 1 {
		seg := path[1:]
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg = seg[:i]
		}
		return seg, path
	}
	if l.Headers && id != "" {
		return id, "/" + id
	}
	return "", path
}
