// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// The model server is a FastAPI app: its errors are {"detail": "..."} (HTTPException) or, for a body that
// fails validation, 422 {"detail": [{"loc", "msg", "type", ...}]}. Its endpoints wrap every exception,
// their own HTTPExceptions included, as 500 "<Op> failed: <text>", so a model it does not have arrives as
// 500 "Embedding generation failed: 500: Failed to load model: 404: Embedding model 'x' not available
// locally. Please download it first.": MapError unwraps that one case to the 404 it was. The text may carry
// Python tracebacks, file paths and internal URLs, none of which reach a client.

const (
	maxErrorBody    = 64 << 10 // an error body larger than this is not parsed
	maxErrorMessage = 300      // bytes of upstream text a client message carries
	maxDetailItems  = 5        // 422 items named in a message
)

// MapError maps a non-2xx answer of the model server to FD2's error (nil for a status below 400):
//   - 400, 404, 413 and 422 stay the client's fault, with the model server's detail, sanitised, as the
//     message — except FastAPI's own 404 "Not Found" for a path it does not serve, which means the module's
//     *_endpoint fields are wrong: 502;
//   - 429 stays 429 (the client should back off), 503 stays 503 and 504 stays 504;
//   - a 500 that wraps a model the server does not have is 404 model_not_found;
//   - any other status is 502 upstream_error with a generic message: a 401 or 403 concerns FD2's own
//     credentials, a 405 its configuration, a 500 the model server's internals. The detail is kept as the
//     error's Cause, for logs.
func MapError(status int, body []byte) *apierr.Error {
	if status < 400 {
		return nil
	}
	detail := sanitize(errorDetail(body))
	clientMsg := func(fallback string) string {
		if detail == "" {
			return "model server: " + fallback
		}
		return "model server: " + detail
	}
	var cause error
	if detail != "" {
		cause = errors.New(detail)
	}
	switch status {
	case http.StatusBadRequest:
		return apierr.New(status, "invalid_request", clientMsg("the request is invalid"))
	case http.StatusUnprocessableEntity:
		return apierr.New(status, "validation_error", clientMsg("the request failed validation"))
	case http.StatusRequestEntityTooLarge:
		return apierr.New(status, "request_too_large", clientMsg("the request is too large"))
	case http.StatusNotFound:
		if detail == "" || detail == "Not Found" {
			return apierr.Wrap(http.StatusBadGateway, "upstream_error",
				"the model server does not serve the path this module calls: check the module's *_endpoint fields and service_url", cause)
		}
		code := "not_found"
		if strings.Contains(strings.ToLower(detail), "model") {
			code = "model_not_found"
		}
		return apierr.New(status, code, clientMsg("not found"))
	case http.StatusTooManyRequests:
		return apierr.Wrap(status, "rate_limited", "the model server is rate limiting requests; retry later", cause)
	case http.StatusServiceUnavailable:
		return apierr.Wrap(status, "service_unavailable", "the model server is temporarily unavailable", cause)
	case http.StatusGatewayTimeout:
		return apierr.Wrap(status, "upstream_timeout", "the model server timed out", cause)
	}
	if status >= 500 {
		if m := missingModel(detail); m != "" {
			return apierr.New(http.StatusNotFound, "model_not_found", "model server: "+m)
		}
		return apierr.Wrap(http.StatusBadGateway, "upstream_error", fmt.Sprintf("the model server failed (status %d)", status), cause)
	}
	return apierr.Wrap(http.StatusBadGateway, "upstream_error", fmt.Sprintf("the model server refused the gateway's request (status %d)", status), cause)
}

// missingModel returns the innermost message of a wrapped "… not available locally" error, or "".
func missingModel(detail string) string {
	i := strings.Index(detail, "not available locally")
	if i < 0 {
		return ""
	}
	if j := strings.LastIndex(detail[:i], "404: "); j >= 0 {
		return detail[j+len("404: "):]
	}
	return detail
}

// errorDetail reads the message of a FastAPI error body: detail as a string, or a 422's detail list as
// "field: msg; …"; else a RAG2-style error or an OpenAI-style error.message. It returns "" for a body it
// cannot read.
func errorDetail(body []byte) string {
	if len(body) > maxErrorBody || !gjson.ValidBytes(body) {
		return ""
	}
	doc := gjson.ParseBytes(body)
	d := doc.Get("detail")
	switch {
	case d.Type == gjson.String:
		return d.String()
	case d.IsArray():
		var parts []string
		items := d.Array()
		for _, it := range items {
			if len(parts) == maxDetailItems {
				parts = append(parts, fmt.Sprintf("and %d more", len(items)-maxDetailItems))
				break
			}
			msg := it.Get("msg").String()
			if msg == "" {
				continue
			}
			// loc is ["body", "texts", 0]: the first element says where, the rest which field.
			var loc []string
			for i, l := range it.Get("loc").Array() {
				if i == 0 && (l.String() == "body" || l.String() == "query" || l.String() == "path") {
					continue
				}
				loc = append(loc, l.String())
			}
			if len(loc) > 0 {
				msg = strings.Join(loc, ".") + ": " + msg
			}
			parts = append(parts, msg)
		}
		return strings.Join(parts, "; ")
	}
	for _, p := range []string{"error.message", "error", "message"} {
		if v := doc.Get(p); v.Type == gjson.String {
			return v.String()
		}
	}
	return ""
}

var (
	// An absolute path of at least two segments (a single one, like /embeddings, is an API path), or a
	// Windows path, where a word starts.
	absPath = regexp.MustCompile(`(^|[\s'"(=,\[])(/[^\s'"/]+/[^\s'"]*|[A-Za-z]:\\[^\s'"]*)`)
	// URLs name internal hosts.
	anyURL = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s'"]+`)
	spaces = regexp.MustCompile(`\s+`)
)

// sanitize makes upstream text fit for a client: no traceback (the text stops where one starts), no
// `File "…"` frame lines, no absolute paths or URLs, no control characters, one line, bounded.
func sanitize(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "Traceback") {
			break
		}
		if strings.Contains(t, `File "`) {
			continue
		}
		keep = append(keep, t)
	}
	s = strings.Join(keep, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = anyURL.ReplaceAllString(s, "[url]")
	s = absPath.ReplaceAllString(s, "${1}[path]")
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	if len(s) > maxErrorMessage {
		s = truncateUTF8(s, maxErrorMessage) + "…"
	}
	return s
}
