// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
)

// RequestID is the request-id plugin: it keeps a client's request ID or generates a UUIDv4, forwards it
// upstream and, by default, echoes it in the response.
type RequestID struct {
	Header            string // default X-Request-Id
	IncludeInResponse bool   // default true
}

func compileRequestID(raw json.RawMessage) (*RequestID, error) {
	var c struct {
		HeaderName        string `json:"header_name"`
		IncludeInResponse *bool  `json:"include_in_response"`
		Algorithm         string `json:"algorithm"`
	}
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	rid := &RequestID{Header: http.CanonicalHeaderKey(c.HeaderName), IncludeInResponse: true}
	if rid.Header == "" {
		rid.Header = "X-Request-Id"
	}
	if c.IncludeInResponse != nil {
		rid.IncludeInResponse = *c.IncludeInResponse
	}
	// algorithm uuid, nanoid and range_id all yield a unique opaque id; FD2 always uses UUIDv4.
	return rid, nil
}

// Apply makes sure the request carries an ID (fallback is used when the client sent none: the gateway's own
// request ID, so logs and the upstream agree) and echoes it into the response headers.
func (p *RequestID) Apply(r *http.Request, respHeader http.Header, fallback string) string {
	id := r.Header.Get(p.Header)
	if id == "" || len(id) > 200 {
		id = fallback
		if id == "" {
			id = NewUUID()
		}
		r.Header.Set(p.Header, id)
	}
	if p.IncludeInResponse {
		respHeader.Set(p.Header, id)
	}
	return id
}

// NewUUID returns a random RFC 9562 version 4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[c>>4], hexd[c&0xf]
		j += 2
	}
	return string(out[:])
}
