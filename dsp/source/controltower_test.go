// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "dspsa_p@ssword"

func TestControlTowerFetch(t *testing.T) {
	good := doc("p1", "1")
	tests := []struct {
		name      string
		id        string
		statuses  []int // answer per attempt; the last one repeats; 200 serves good
		bodyLen   int   // when set, a 200 body of this size instead of good
		secret    string
		retries   int
		wantErr   error
		wantCalls int32
	}{
		{name: "ok with secret", id: "p1", statuses: []int{200}, secret: testSecret, wantCalls: 1},
		{name: "ok without secret", id: "p1", statuses: []int{200}, wantCalls: 1},
		{name: "404 is not found", id: "p1", statuses: []int{404}, secret: testSecret, wantErr: ErrNotFound, wantCalls: 1},
		{name: "400 is not found", id: "p1", statuses: []int{400}, wantErr: ErrNotFound, wantCalls: 1},
		{name: "invalid id makes no request", id: "../x", statuses: []int{200}, wantErr: ErrNotFound, wantCalls: 0},
		{name: "401 is not retried", id: "p1", statuses: []int{401}, secret: testSecret, wantErr: ErrUnavailable, wantCalls: 1},
		{name: "422 is not retried", id: "p1", statuses: []int{422}, wantErr: ErrUnavailable, wantCalls: 1},
		{name: "5xx retried then success", id: "p1", statuses: []int{503, 500, 200}, secret: testSecret, wantCalls: 3},
		{name: "retries exhausted", id: "p1", statuses: []int{502}, secret: testSecret, wantErr: ErrUnavailable, wantCalls: 3},
		{name: "negative retries disable retrying", id: "p1", statuses: []int{503}, retries: -1, wantErr: ErrUnavailable, wantCalls: 1},
		{name: "oversized body", id: "p1", statuses: []int{200}, bodyLen: DefaultMaxSize + 1, wantErr: ErrTooLarge, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				if r.URL.Path != "/manifests/"+tc.id || r.URL.Query().Get("resolve_env") != "true" {
					t.Errorf("request %s?%s, want /manifests/%s?resolve_env=true", r.URL.Path, r.URL.RawQuery, tc.id)
				}
				if got := r.Header.Get("Accept"); got != "application/json" {
					t.Errorf("Accept = %q", got)
				}
				if got := r.Header.Get(SecretHeader); got != tc.secret {
					t.Errorf("%s = %q, want %q", SecretHeader, got, tc.secret)
				}
				if _, sent := r.Header[http.CanonicalHeaderKey(SecretHeader)]; tc.secret == "" && sent {
					t.Errorf("%s sent although no secret is configured", SecretHeader)
				}
				st := tc.statuses[min(n, len(tc.statuses))-1]
				w.WriteHeader(st)
				switch {
				case st == 200 && tc.bodyLen > 0:
					_, _ = w.Write([]byte(strings.Repeat(" ", tc.bodyLen)))
				case st == 200:
					_, _ = w.Write(good)
				default:
					_, _ = w.Write([]byte(`{"detail":"nope"}`))
				}
			}))
			defer srv.Close()
			ct := &ControlTower{BaseURL: srv.URL + "/", Secret: tc.secret, Retries: tc.retries, BackoffBase: time.Millisecond, BackoffMax: 4 * time.Millisecond}
			raw, err := ct.Fetch(context.Background(), tc.id)
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
					t.Errorf("error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if string(raw) != string(good) {
				t.Errorf("body = %q", raw)
			}
		})
	}
}

func TestControlTowerConnectionErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		ct := &ControlTower{BaseURL: base, Secret: testSecret, BackoffBase: time.Millisecond}
		_, err := ct.Fetch(context.Background(), "p1")
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error %q contains the secret", err)
		}
	})
	t.Run("slow attempt times out and is retried", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return
			}
			_, _ = w.Write(doc("p1", "1"))
		}))
		defer srv.Close()
		ct := &ControlTower{BaseURL: srv.URL, Timeout: 50 * time.Millisecond, BackoffBase: time.Millisecond}
		if _, err := ct.Fetch(context.Background(), "p1"); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if got := calls.Load(); got != 2 {
			t.Errorf("requests = %d, want 2", got)
		}
	})
}

func TestControlTowerBackoffHonoursContext(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	// Backoffs of up to a minute: only the context can end this quickly.
	ct := &ControlTower{BaseURL: srv.URL, Retries: 5, BackoffBase: time.Minute, BackoffMax: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ct.Fetch(ctx, "p1")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Fetch took %s; the backoff ignored the context", el)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error = %v, want ErrUnavailable", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if got := calls.Load(); got >= 6 {
		t.Errorf("requests = %d: every retry ran", got)
	}
}

func TestControlTowerBackoffBounds(t *testing.T) {
	ct := &ControlTower{BackoffBase: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond}
	for attempt, ceil := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond} {
		for range 200 {
			if d := ct.backoff(attempt); d <= 0 || d > ceil {
				t.Fatalf("backoff(%d) = %s, want in (0, %s]", attempt, d, ceil)
			}
		}
	}
	if d := ct.backoff(100); d <= 0 || d > 300*time.Millisecond {
		t.Errorf("backoff(100) = %s: the shift overflowed the cap", d)
	}
}

func TestControlTowerSecretNotForwardedCrossHost(t *testing.T) {
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get(SecretHeader))
		_, _ = w.Write(doc("p1", "1"))
	}))
	defer other.Close()
	// 127.0.0.1 vs localhost: a different host for the redirect check.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusFound)
	}))
	defer srv.Close()
	ct := &ControlTower{BaseURL: srv.URL, Secret: testSecret}
	if _, err := ct.Fetch(context.Background(), "p1"); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got, _ := leaked.Load().(string); got != "" {
		t.Errorf("the secret followed a cross-host redirect: %q", got)
	}
}

func TestControlTowerList(t *testing.T) {
	f := newFakeCT(t)
	f.set("b", doc("b", "1"))
	f.set("a", doc("a", "1"))
	got, err := f.client().List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := (&ControlTower{BaseURL: srv.URL}).List(context.Background()); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Errorf("List against a wrong base URL: error = %v, want ErrUnavailable only", err)
	}
}
