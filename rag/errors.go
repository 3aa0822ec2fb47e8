// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package rag

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// maxMessage bounds the client message taken from a RAG2 answer.
const maxMessage = 300

// genericFailure replaces a message that is nothing but internals.
const genericFailure = "the RAG service failed"

// wrapPrefix is how RAG2's /query re-wraps every error, 401 included, as a 500.
const wrapPrefix = "Internal server error:"

// recoverable are the statuses that a "NNN: detail" inside a wrapped 500 names unambiguously (Starlette's
// str() of an HTTPException).
var recoverable = map[int]bool{400: true, 401: true, 403: true, 404: true, 422: true, 503: true}

// authMessages start RAG2's 401 details, recognised when the status was not kept.
var authMessages = []string{"Authorization header is required", "Invalid authentication scheme", "Token has expired", "Invalid token"}

// MapError turns a RAG2 error answer into FD2's error: the status RAG2 meant (recovered from its 500
// wrapping where unambiguous), and a message safe for clients (no trace, file or address).
func MapError(status int, body []byte) *apierr.Error {
	detail := readDetail(body)
	inner := strings.TrimSpace(detail)
	if status == http.StatusInternalServerError {
		if rest, ok := strings.CutPrefix(inner, wrapPrefix); ok {
			inner = strings.TrimSpace(rest)
		}
		if st, rest, ok := leadingStatus(inner); ok {
			status, inner = st, rest
		} else if isAuthMessage(inner) {
			status = http.StatusUnauthorized
		} else if configurationNotFound.MatchString(inner) {
			// A missing configuration is a KeyError that /query wraps without a status.
			status = http.StatusNotFound
		}
	} else if st, rest, ok := leadingStatus(inner); ok && st == status {
		inner = rest
	}
	var code string
	switch {
	case status == http.StatusUnauthorized:
		code = "unauthorized"
	case status == http.StatusForbidden:
		code = "forbidden"
	case status == http.StatusNotFound:
		code = "not_found"
	case status == http.StatusServiceUnavailable:
		code = "service_unavailable"
	case status == http.StatusTooManyRequests:
		code = "rate_limited"
	case status == http.StatusRequestEntityTooLarge:
		code = "request_too_large"
	case status >= 400 && status < 500:
		code = "invalid_request"
	default:
		status, code = http.StatusBadGateway, "upstream_error"
	}
	msg := Sanitize(inner)
	switch {
	case status == http.StatusBadGateway && (msg == "" || msg == genericFailure):
		msg = genericFailure
	case status == http.StatusBadGateway:
		msg = genericFailure + ": " + msg
	case msg == "":
		msg = apierr.FromError(status, nil).Message
	}
	return apierr.Wrap(status, code, msg, fmt.Errorf("rag service answered %d: %s", status, truncate(string(body), 1024)))
}

// configurationNotFound is the whole detail of RAG2's KeyError for an unknown configuration, as Python's
// str() renders it: `"Configuration 'x' not found"` (quoted), or unquoted from other paths.
var configurationNotFound = regexp.MustCompile(`^"?Configuration '[^']*' not found"?$`)

// readDetail reads RAG2's shapes: {"error":…, "detail":"…"}, {"detail":"…"}, {"detail":[validation
// items]} and the OpenAI router's {"error":{"message":…}}.
func readDetail(body []byte) string {
	var b struct {
		Detail json.RawMessage `json:"detail"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(b.Detail, &s) == nil && s != "" {
		return s
	}
	var items []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(b.Detail, &items) == nil && len(items) > 0 {
		parts := make([]string, 0, len(items))
		for _, it := range items {
			parts = append(parts, locString(it.Loc)+it.Msg)
		}
		return strings.Join(parts, "; ")
	}
	if json.Unmarshal(b.Error, &s) == nil && s != "" {
		return s
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b.Error, &e) == nil {
		return e.Message
	}
	return ""
}

// locString renders a validation location without its "body" root: "k: ".
func locString(loc []any) string {
	var parts []string
	for i, l := range loc {
		if i == 0 && l == "body" {
			continue
		}
		parts = append(parts, fmt.Sprint(l))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ".") + ": "
}

// leadingStatus splits "NNN: rest" when NNN is a recoverable status.
func leadingStatus(s string) (int, string, bool) {
	if len(s) < 5 || s[3] != ':' {
		return 0, "", false
	}
	n, err := strconv.Atoi(s[:3])
	if err != nil || !recoverable[n] {
		return 0, "", false
	}
	return n, strings.TrimSpace(s[4:]), true
}

func isAuthMessage(s string) bool {
	for _, m := range authMessages {
		if strings.HasPrefix(s, m) {
			return true
		}
	}
	return false
}

var (
	urlRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>]+`)
	// An absolute path starts a word: "team/a/b" (a configuration name) is not one.
	pathRE = regexp.MustCompile(`(^|[\s'"(\[=,:])((?:[A-Za-z]:\\|~?/)(?:[\w.\-@]+[/\\])+[\w.\-@]*)`)
)

// Sanitize makes an upstream message safe for clients: it cuts at a Python traceback, drops frame lines
// (File "…"), replaces URLs and absolute paths, and bounds the length; a message with nothing but
// internals left becomes "the RAG service failed", an empty one stays empty.
func Sanitize(s string) string {
	if i := strings.Index(s, "Traceback"); i >= 0 {
		s = s[:i]
	}
	var keep []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, `File "`) {
			continue
		}
		if line = strings.TrimSpace(line); line != "" {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	s = strings.Join(keep, " ")
	s = urlRE.ReplaceAllString(s, "<url>")
	s = pathRE.ReplaceAllString(s, "${1}<path>")
	s = strings.ToValidUTF8(s, "")
	if letters(strings.NewReplacer("<url>", "", "<path>", "").Replace(s)) < 3 {
		return genericFailure
	}
	return truncate(s, maxMessage)
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// truncate bounds s to n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
