// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// CORS is the cors plugin (APISIX defaults: origins "*", methods "*", headers "*", max_age 5 s, no
// credentials). Like APISIX, "*" origins with allow_credential is rejected as a config error, because
// browsers refuse it and silently reflecting every origin with credentials would be a security hole.
type CORS struct {
	AnyOrigin   bool
	Origins     map[string]bool
	Methods     string
	Headers     string
	Expose      string
	MaxAge      string
	Credentials bool
}

func compileCORS(raw json.RawMessage) (*CORS, error) {
	var c struct {
		AllowOrigins    string `json:"allow_origins"`
		AllowMethods    string `json:"allow_methods"`
		AllowHeaders    string `json:"allow_headers"`
		ExposeHeaders   string `json:"expose_headers"`
		MaxAge          *int   `json:"max_age"`
		AllowCredential bool   `json:"allow_credential"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	cc := &CORS{Credentials: c.AllowCredential, Origins: map[string]bool{}}
	origins := strings.TrimSpace(c.AllowOrigins)
	if origins == "" || origins == "*" || origins == "**" {
		cc.AnyOrigin = true
		if c.AllowCredential {
			return nil, errors.New(`allow_origins "*" cannot be combined with allow_credential`)
		}
	} else {
		for _, o := range strings.Split(origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cc.Origins[strings.ToLower(o)] = true
			}
		}
	}
	cc.Methods = orDefault(c.AllowMethods, "*")
	if cc.Methods == "*" || cc.Methods == "**" {
		cc.Methods = "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE"
	}
	cc.Headers = orDefault(c.AllowHeaders, "*")
	cc.Expose = c.ExposeHeaders
	age := 5
	if c.MaxAge != nil {
		age = *c.MaxAge
	}
	cc.MaxAge = strconv.Itoa(age)
	return cc, nil
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}

// allowed returns the Access-Control-Allow-Origin value for origin, or "".
func (c *CORS) allowed(origin string) string {
	if origin == "" {
		return ""
	}
	if c.AnyOrigin {
		return "*"
	}
	if c.Origins[strings.ToLower(origin)] {
		return origin
	}
	return ""
}

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// Apply sets the CORS response headers for r. It reports false when the origin is not allowed (the
// response then carries no CORS headers and the browser blocks it).
func (c *CORS) Apply(r *http.Request, h http.Header) bool {
	allow := c.allowed(r.Header.Get("Origin"))
	if allow == "" {
		return false
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if allow != "*" {
		h.Add("Vary", "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if c.Expose != "" {
		h.Set("Access-Control-Expose-Headers", c.Expose)
	}
	if IsPreflight(r) {
		h.Set("Access-Control-Allow-Methods", c.Methods)
		hdrs := c.Headers
		if hdrs == "*" || hdrs == "**" {
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				hdrs = req
			}
		}
		h.Set("Access-Control-Allow-Headers", hdrs)
		h.Set("Access-Control-Max-Age", c.MaxAge)
	}
	return true
}
