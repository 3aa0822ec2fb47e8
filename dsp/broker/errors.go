// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package broker

import "errors"

var (
	// ErrNoServiceURL means the jwt_config module has no (non-empty string) service_url. The handler answers
	// 500 "JWT service URL not configured in module <m>", without the config: unlike the original FD2 it
	// must not echo it, because it holds secrets (JWE keys, provider API keys in static claims).
	ErrNoServiceURL = errors.New("jwt service url not configured")

	// ErrInvalidConfig means the module config is not a JSON object, or its service_url is not an absolute
	// http(s) URL. The handler answers 500.
	ErrInvalidConfig = errors.New("invalid jwt_config module config")

	// ErrBadRequest means the client's body is not a JSON object with non-empty string "username" and
	// "password". The handler answers 400. The error text never contains the body.
	ErrBadRequest = errors.New("token request needs a JSON object with string username and password")

	// ErrUnavailable means the JWT service could not be reached or did not answer in time, or its answer
	// was larger than Broker.MaxResponse. The error chain also holds the cause, so the handler can answer
	// 504 when IsTimeout reports true and 502 otherwise.
	ErrUnavailable = errors.New("jwt service unavailable")
)
