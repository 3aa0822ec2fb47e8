// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package apierr defines the gateway's client-facing error: an HTTP status plus the OpenAI error shape
// {"error":{"message","type","code"}}, which every FD2 route answers with (inference clients parse it, and
// one shape for all routes keeps clients simple). Messages are written for clients: they never carry
// upstream addresses, secrets or internal error text.
package apierr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error is a client-facing gateway error.
type Error struct {
	Status  int    // HTTP status code
	Type    string // OpenAI-style error type, e.g. "invalid_request_error"
	Code    string // stable machine-readable code, e.g. "project_not_found"
	Message string // safe, human-readable message
	Cause   error  // internal cause, for logs only; never rendered
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with the type derived from the status.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Type: TypeFor(status), Code: code, Message: message}
}

// Wrap is New with an internal cause kept for logs.
func Wrap(status int, code, message string, cause error) *Error {
	e := New(status, code, message)
	e.Cause = cause
	return e
}

// TypeFor maps a status to the OpenAI error type clients switch on.
func TypeFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// FromError turns any error and a status into a safe client error: an *Error anywhere in the chain is used
// as is; otherwise a generic message for the status is used, so that internal text (dial addresses, file
// paths) never reaches a client.
func FromError(status int, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if status == 0 {
			status = e.Status
		}
		if e.Status == status {
			return e
		}
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	code, msg := generic(status)
	return &Error{Status: status, Type: TypeFor(status), Code: code, Message: msg}
}

func generic(status int) (string, string) {
	switch status {
	case http.StatusBadRequest:
		return "bad_request", "the request is malformed"
	case http.StatusUnauthorized:
		return "unauthorized", "authentication is required"
	case http.StatusForbidden:
		return "forbidden", "access to this resource is forbidden"
	case http.StatusNotFound:
		return "not_found", "not found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed", "method not allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large", "request body is too large"
	case http.StatusTooManyRequests:
		return "rate_limited", "too many requests"
	case 499:
		return "client_closed_request", "client closed the request"
	case http.StatusBadGateway:
		return "upstream_unavailable", "the upstream service is unavailable"
	case http.StatusServiceUnavailable:
		return "service_unavailable", "the service is temporarily unavailable"
	case http.StatusGatewayTimeout:
		return "upstream_timeout", "the upstream service timed out"
	}
	if status >= 500 {
		return "internal_error", "internal gateway error"
	}
	return "error_" + strconv.Itoa(status), http.StatusText(status)
}

type body struct {
	Error struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      string `json:"code"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// Marshal renders the client body, with the request ID when known.
func (e *Error) Marshal(requestID string) []byte {
	var b body
	b.Error.Message, b.Error.Type, b.Error.Code, b.Error.RequestID = e.Message, e.Type, e.Code, requestID
	out, _ := json.Marshal(b)
	return append(out, '\n')
}

// Write writes the error as the response.
func (e *Error) Write(w http.ResponseWriter, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Marshal(requestID))
}

// Anthropic's Messages API has its own error shape, {"type":"error","error":{"type","message"}}, which the
// Anthropic SDKs parse into typed errors; FD2 answers Messages API paths with it (AnthropicPath).

type anthropicBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// AnthropicType maps a status to the error type of Anthropic's API: OpenAI's names (TypeFor), which
// Anthropic shares, but for the statuses it names apart.
func AnthropicType(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	return TypeFor(status)
}

// MarshalAnthropic renders the client body in Anthropic's shape, with the request ID when known.
func (e *Error) MarshalAnthropic(requestID string) []byte {
	b := anthropicBody{Type: "error", RequestID: requestID}
	b.Error.Type, b.Error.Message = AnthropicType(e.Status), e.Message
	out, _ := json.Marshal(b)
	return append(out, '\n')
}

// AnthropicPath reports whether path is one of the Messages API's (…/v1/messages, …/v1/messages/
// count_tokens), whose clients expect Anthropic's error shape.
func AnthropicPath(path string) bool {
	return strings.HasSuffix(path, "/v1/messages") || strings.HasSuffix(path, "/v1/messages/count_tokens")
}

// WriteFor writes the error as the response in the shape the client of path expects.
func (e *Error) WriteFor(w http.ResponseWriter, path, requestID string) {
	if !AnthropicPath(path) {
		e.Write(w, requestID)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.MarshalAnthropic(requestID))
}
