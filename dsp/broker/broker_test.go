// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService records the token requests it gets and answers with a fixed status, type and body.
type fakeService struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  struct {
		method, path, contentType string
		body                      []byte
	}
}

func newFake(t *testing.T, status int, contentType, body string) *fakeService {
	t.Helper()
	f := &fakeService{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.last.method, f.last.path, f.last.contentType, f.last.body = r.Method, r.URL.Path, r.Header.Get("Content-Type"), b
		f.mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// moduleConfig returns a jwt_config module config whose service_url points at base.
func moduleConfig(base string) json.RawMessage {
	return json.RawMessage(`{"secret_key":null,"algorithm":"HS256","expiration_minutes":30,"issuer":null,"audience":null,
		"refresh_token_enabled":true,"id":"jwt-config","owner":"SAS2PY Team","service_url":"` + base + `",
		"claims":{"static":{"key":"sas2py-consumer-key","rate_limit":100,"project":"sas2py","environment":"development","exp_hours":1}},
		"jwe_config":null}`)
}

const login = `{"username":"admin","password":"password"}`

func TestTokenForwardsExactBody(t *testing.T) {
	f := newFake(t, http.StatusOK, "application/json", `{}`)
	// Unsorted keys, nulls, number spellings, HTML characters, non-ASCII text and an unknown key must all
	// survive; only service_url goes.
	cfg := json.RawMessage(`{ "zeta": null, "claims": {"static": {"exp_hours": 1.0, "big": 1e3, "note": "a<b & c>d", "name": "Zoë"}, "dynamic": {}},
		"service_url": "` + f.URL + `/", "jwe_config": {"enabled": false, "compression": null}, "alpha": [1, 2.50, true] }`)
	// Extra client keys (a forged api_key_config or secret) are ignored.
	client := `{"username":"ad<min>","password":"p&ss \"w\"","api_key_config":{"claims":{}},"secret":"x","api_key":"k"}`
	res, err := (&Broker{}).Token(context.Background(), cfg, []byte(client))
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("status = %d", res.Status)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last.method != http.MethodPost || f.last.path != "/token" || f.last.contentType != "application/json" {
		t.Errorf("request = %s %s (%s), want POST /token (application/json)", f.last.method, f.last.path, f.last.contentType)
	}
	want := `{"username":"ad<min>","password":"p&ss \"w\"","api_key_config":{"zeta":null,"claims":{"static":{"exp_hours":1.0,"big":1e3,"note":"a<b & c>d","name":"Zoë"},"dynamic":{}},"jwe_config":{"enabled":false,"compression":null},"alpha":[1,2.50,true]}}`
	if string(f.last.body) != want {
		t.Errorf("forwarded body =\n%s\nwant\n%s", f.last.body, want)
	}
}

func TestTokenPassesThrough200(t *testing.T) {
	const body = "{\n  \"access_token\": \"a.b.c\",\n  \"refresh_token\": \"d.e.f\"\n}\n"
	f := newFake(t, http.StatusOK, "application/json; charset=utf-8", body)
	res, err := (&Broker{}).Token(context.Background(), moduleConfig(f.URL), []byte(login))
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	want := Result{Status: 200, Body: []byte(body), ContentType: "application/json; charset=utf-8"}
	if res.Status != want.Status || !bytes.Equal(res.Body, want.Body) || res.ContentType != want.ContentType {
		t.Errorf("Result = %d %q %q, want %d %q %q", res.Status, res.Body, res.ContentType, want.Status, want.Body, want.ContentType)
	}
}

func TestTokenMapsErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string
	}{
		{"401 JSON", 401, "application/json", `{"error":"Invalid username or password"}` + "\n", `{"detail":{"error":"Invalid username or password"}}`},
		{"400 JSON is compacted", 400, "application/json", "{\n \"error\": \"Missing username or password\"\n}", `{"detail":{"error":"Missing username or password"}}`},
		{"500 text", 500, "text/html", "<h1>Internal Server Error</h1>", `{"detail":"<h1>Internal Server Error</h1>"}`},
		{"503 empty", 503, "", "", `{"detail":""}`},
		{"201 is not 200", 201, "application/json", `{"access_token":"x"}`, `{"detail":{"access_token":"x"}}`},
		{"redirect is not followed", 302, "text/plain", "moved", `{"detail":"moved"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.status, tc.contentType, tc.body)
			res, err := (&Broker{}).Token(context.Background(), moduleConfig(f.URL), []byte(login))
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if res.Status != tc.status || string(res.Body) != tc.want || res.ContentType != "application/json" {
				t.Errorf("Result = %d %s %q, want %d %s application/json", res.Status, res.Body, res.ContentType, tc.status, tc.want)
			}
		})
	}
}

func TestTokenConfigErrors(t *testing.T) {
	f := newFake(t, http.StatusOK, "application/json", `{}`)
	tests := []struct {
		name string
		cfg  string
		want error
	}{
		{"missing service_url", `{"claims":{"static":{"groq_api_key":"s3cr3t"}}}`, ErrNoServiceURL},
		{"empty service_url", `{"service_url":"","jwe_config":{"encryption_key":"s3cr3t"}}`, ErrNoServiceURL},
		{"null service_url", `{"service_url":null}`, ErrNoServiceURL},
		{"numeric service_url", `{"service_url":5000}`, ErrNoServiceURL},
		{"last duplicate wins", `{"service_url":"` + f.URL + `","service_url":""}`, ErrNoServiceURL},
		{"array", `["service_url"]`, ErrInvalidConfig},
		{"string", `"http://x"`, ErrInvalidConfig},
		{"invalid JSON", `{"service_url":`, ErrInvalidConfig},
		{"trailing data", `{"service_url":"http://x"} {}`, ErrInvalidConfig},
		{"empty", ``, ErrInvalidConfig},
		{"relative URL", `{"service_url":"jwt-service:5000"}`, ErrInvalidConfig},
		{"non-http scheme", `{"service_url":"ftp://user:s3cr3t@host"}`, ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Broker{}).Token(context.Background(), json.RawMessage(tc.cfg), []byte(login))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q leaks the config", err)
			}
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("service called %d times", n)
	}
}

func TestTokenBadClientBody(t *testing.T) {
	f := newFake(t, http.StatusOK, "application/json", `{}`)
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", `username=admin&password=hunter2`},
		{"truncated JSON", `{"username":"admin","password":"hunter2"`},
		{"JSON array", `["admin","hunter2"]`},
		{"JSON null", `null`},
		{"empty", ``},
		{"missing password", `{"username":"admin"}`},
		{"missing username", `{"password":"hunter2"}`},
		{"non-string username", `{"username":42,"password":"hunter2"}`},
		{"null username", `{"username":null,"password":"hunter2"}`},
		{"non-string password", `{"username":"admin","password":["hunter2"]}`},
		{"empty password", `{"username":"admin","password":""}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Broker{}).Token(context.Background(), moduleConfig(f.URL), []byte(tc.body))
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error = %v, want ErrBadRequest", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("service called %d times", n)
	}
}

func TestTokenUnavailable(t *testing.T) {
	// A closed server gives a free port that refuses connections.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first, so slow.Close does not wait for blocked handlers

	big := newFake(t, http.StatusOK, "application/json", `{"access_token":"`+strings.Repeat("x", 100)+`"}`)

	shortCtx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name    string
		broker  *Broker
		ctx     context.Context
		url     string
		timeout bool
	}{
		{"connection refused", &Broker{}, context.Background(), closedURL, false},
		{"client timeout", &Broker{Client: &http.Client{Timeout: 50 * time.Millisecond}}, context.Background(), slow.URL, true},
		{"context deadline", &Broker{}, shortCtx(), slow.URL, true},
		{"response too large", &Broker{MaxResponse: 64}, context.Background(), big.URL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.broker.Token(tc.ctx, moduleConfig(tc.url), []byte(`{"username":"admin","password":"hunter2"}`))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("error = %v, want ErrUnavailable", err)
			}
			if IsTimeout(err) != tc.timeout {
				t.Errorf("IsTimeout(%v) = %v, want %v", err, !tc.timeout, tc.timeout)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}
