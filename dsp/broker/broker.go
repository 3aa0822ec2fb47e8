// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package broker is the client half of FD2's token broker, POST /{project}/{jwt_module}/token (spec
// dsp-platform.md §3.6): it forwards a client's username and password, together with the jwt_config
// module's config, to that module's JWT service and maps the answer.
//
// The caller (the dsp_auth handler) finds the module in the Control-Tower-resolved manifest and passes its
// config object. Broker.Token then
//
//  1. takes service_url from the config (missing or empty: ErrNoServiceURL);
//  2. reads "username" and "password" from the client's JSON object, ignoring other keys (ErrBadRequest);
//  3. POSTs {service_url}/token with {"username","password","api_key_config": <config minus service_url>},
//     keeping every other key, null values included, exactly as the Control Tower served it, because the
//     JWT service reads the claims and jwe_config from it;
//  4. passes a 200 answer through unchanged, and turns any other status into the same status with a
//     FastAPI-style body {"detail": <upstream JSON value, or the upstream text as a JSON string>}, e.g.
//     401 {"detail":{"error":"Invalid username or password"}};
//  5. reports connection errors, timeouts and oversized answers as ErrUnavailable.
//
// The broker neither logs nor puts credentials in its errors: error texts name the failing field, never
// a value. Redirects are not followed by the default client (the original's httpx client does not follow
// them either), so a 3xx is mapped like any other non-200 status.
//
// This package never imports Caddy.
package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultTimeout bounds one token request with the default client, as the original FD2's 30 s httpx
	// timeout does.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponse is the default cap on the JWT service's answer. Two JWE tokens are a few KiB.
	DefaultMaxResponse = 1 << 20
)

// defaultClient is shared by every Broker without a Client, so that keep-alive connections to the JWT
// service are pooled across handlers and config reloads.
var defaultClient = &http.Client{
	Timeout:   DefaultTimeout,
	Transport: http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Broker forwards logins to JWT services. The zero value is ready to use and safe for concurrent use.
type Broker struct {
	// Client sends the token requests. Nil uses a shared client with a DefaultTimeout (30 s) timeout,
	// keep-alives and no redirect following. A custom client's redirect policy and timeout apply as set.
	Client *http.Client
	// MaxResponse caps the size of the JWT service's answer; a larger answer is ErrUnavailable. Zero or
	// less means DefaultMaxResponse (1 MiB).
	MaxResponse int64
}

// Result is the answer to give the client. For a 200 from the JWT service it is that answer unchanged;
// otherwise Status is the upstream status and Body the {"detail": …} mapping, as application/json.
type Result struct {
	// Status is the HTTP status code.
	Status int
	// Body is the response body.
	Body []byte
	// ContentType is the Content-Type to send; for a 200 it is the upstream's, possibly empty.
	ContentType string
}

// Token forwards a client's login to the JWT service of a jwt_config module.
// moduleConfig is the module's config object as served by the Control Tower (JSON object); its
// service_url names the JWT service. clientBody is the client's request body.
//
// Errors wrap ErrInvalidConfig or ErrNoServiceURL (answer 500), ErrBadRequest (400) or ErrUnavailable
// (502, or 504 when IsTimeout). A non-200 answer from the JWT service is not an error: it is a Result.
func (b *Broker) Token(ctx context.Context, moduleConfig json.RawMessage, clientBody []byte) (Result, error) {
	serviceURL, apiKeyConfig, err := splitConfig(moduleConfig)
	if err != nil {
		return Result{}, err
	}
	endpoint, err := tokenURL(serviceURL)
	if err != nil {
		return Result{}, err
	}
	username, password, err := credentials(clientBody)
	if err != nil {
		return Result{}, err
	}
	body, err := forwardBody(username, password, apiKeyConfig)
	if err != nil {
		return Result{}, err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("%w: building request: %w", ErrInvalidConfig, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := b.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error texts carry the URL with any password redacted, never the body.
		return Result{}, fmt.Errorf("%w: posting token request: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()

	limit := b.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Result{}, fmt.Errorf("%w: reading token response: %w", ErrUnavailable, err)
	}
	if int64(len(data)) > limit {
		return Result{}, fmt.Errorf("%w: token response larger than %d bytes", ErrUnavailable, limit)
	}
	if resp.StatusCode == http.StatusOK {
		return Result{Status: resp.StatusCode, Body: data, ContentType: resp.Header.Get("Content-Type")}, nil
	}
	return Result{Status: resp.StatusCode, Body: detailBody(data), ContentType: "application/json"}, nil
}

// IsTimeout reports whether a Token error is a timeout (the client's deadline, the context's, or a
// dial/read timeout), for which the handler answers 504 rather than 502.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// splitConfig returns the service_url of a module config and the config without it. The other members
// keep their order and their values byte for byte (json.RawMessage), so nulls, number spellings and keys
// the broker does not know about reach the JWT service as the Control Tower served them.
func splitConfig(cfg json.RawMessage) (string, json.RawMessage, error) {
	trimmed := bytes.TrimSpace(cfg)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return "", nil, fmt.Errorf("%w: config is not a JSON object", ErrInvalidConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // the opening brace, known to be there
		return "", nil, fmt.Errorf("%w: reading config: %w", ErrInvalidConfig, err)
	}
	var (
		out        bytes.Buffer
		serviceURL string
		n          int
	)
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", nil, fmt.Errorf("%w: reading config: %w", ErrInvalidConfig, err)
		}
		key, _ := tok.(string) // object keys are always strings in valid JSON
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return "", nil, fmt.Errorf("%w: reading config member %q: %w", ErrInvalidConfig, key, err)
		}
		if key == "service_url" {
			// Python's dict keeps the last duplicate; a non-string counts as not configured.
			serviceURL = ""
			_ = json.Unmarshal(val, &serviceURL)
			continue
		}
		if n > 0 {
			out.WriteByte(',')
		}
		n++
		kb, err := marshalNoEscape(key)
		if err != nil {
			return "", nil, fmt.Errorf("%w: encoding config key: %w", ErrInvalidConfig, err)
		}
		out.Write(kb)
		out.WriteByte(':')
		out.Write(val)
	}
	out.WriteByte('}')
	if strings.TrimSpace(serviceURL) == "" {
		return "", nil, ErrNoServiceURL
	}
	return serviceURL, out.Bytes(), nil
}

// tokenURL is {service_url}/token. A trailing slash of service_url is dropped, where the original would
// request "//token".
func tokenURL(serviceURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(serviceURL), "/") + "/token")
	if err != nil {
		// The parse error quotes the URL, which may hold credentials, so it is not wrapped.
		return nil, fmt.Errorf("%w: service_url is not a valid URL", ErrInvalidConfig)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: service_url %q is not an absolute http(s) URL", ErrInvalidConfig, u.Redacted())
	}
	return u, nil
}

// credentials extracts username and password from the client's body. Other keys are ignored, as in the
// original (a client cannot inject its own api_key_config or secret). Errors never quote the body.
func credentials(body []byte) (string, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return "", "", fmt.Errorf("%w: body is not a JSON object", ErrBadRequest)
	}
	field := func(name string) (string, error) {
		raw, ok := m[name]
		if !ok {
			return "", fmt.Errorf("%w: missing %s", ErrBadRequest, name)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("%w: decoding %s", ErrBadRequest, name)
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%w: %s is not a string", ErrBadRequest, name)
		}
		if s == "" {
			// The JWT service would answer 400 "Missing username or password"; save the round trip.
			return "", fmt.Errorf("%w: empty %s", ErrBadRequest, name)
		}
		return s, nil
	}
	user, err := field("username")
	if err != nil {
		return "", "", err
	}
	pw, err := field("password")
	if err != nil {
		return "", "", err
	}
	return user, pw, nil
}

// forwardBody builds {"username","password","api_key_config"} compactly, without HTML escaping, so the
// config reaches the service byte-identical to its compact form.
func forwardBody(username, password string, apiKeyConfig json.RawMessage) ([]byte, error) {
	body, err := marshalNoEscape(struct {
		Username     string          `json:"username"`
		Password     string          `json:"password"`
		APIKeyConfig json.RawMessage `json:"api_key_config"`
	}{username, password, apiKeyConfig})
	if err != nil {
		return nil, fmt.Errorf("%w: encoding token request: %w", ErrInvalidConfig, err)
	}
	return body, nil
}

// detailBody is FastAPI's HTTPException body for a non-200 answer: the upstream JSON value, or its text.
func detailBody(upstream []byte) []byte {
	var detail bytes.Buffer
	if json.Valid(upstream) {
		_ = json.Compact(&detail, upstream) // cannot fail on valid JSON
	} else {
		text, _ := marshalNoEscape(string(upstream)) // a string always encodes (invalid UTF-8 becomes U+FFFD)
		detail.Write(text)
	}
	out := make([]byte, 0, detail.Len()+12)
	out = append(out, `{"detail":`...)
	out = append(out, detail.Bytes()...)
	return append(out, '}')
}

// marshalNoEscape is json.Marshal without HTML escaping of <, > and &, which Python's json never does.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
