// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// SecretHeader carries ControlTower.Secret. The Control Tower ignores it on the manifest GET endpoints, but
// DSP FD2 sends it (as CONTROL_TOWER_SECRET) and deployments may put an authenticating proxy in front.
const SecretHeader = "X-DSPAI-Client-Secret"

const (
	defaultCTTimeout   = 10 * time.Second
	defaultCTRetries   = 2
	defaultBackoffBase = 100 * time.Millisecond
	defaultBackoffMax  = 2 * time.Second
)

// ControlTower is a client of the DSP Control Tower manifest API (spec §1.1). Configure it by setting the
// fields before first use and do not copy it afterwards. It is safe for concurrent use.
//
// Retries: connection errors, timeouts and 5xx answers are retried with exponential backoff and full jitter
// (sleep = random(0, min(BackoffMax, BackoffBase·2^attempt))), which spreads the retries of many gateway
// instances after a Control Tower restart instead of synchronising them. Other statuses are not retried.
type ControlTower struct {
	// BaseURL is the Control Tower root, e.g. http://127.0.0.1:8000. Required.
	BaseURL string
	// Secret, when set, is sent as the X-DSPAI-Client-Secret header. It never appears in errors, and the
	// default client drops it when a redirect leaves the original host.
	Secret string
	// Timeout bounds each attempt, body included. Default 10s.
	Timeout time.Duration
	// Retries is the number of extra attempts after a retryable failure. 0 means the default 2; a negative
	// value disables retries.
	Retries int
	// BackoffBase is the backoff ceiling of the first retry, doubled per retry. Default 100ms.
	BackoffBase time.Duration
	// BackoffMax caps the backoff ceiling. Default 2s.
	BackoffMax time.Duration
	// Client sends the requests. Default: a client with keep-alives and bounded dial/TLS timeouts.
	Client *http.Client
	// MaxSize caps a manifest response body, in bytes; a larger one is ErrTooLarge (not retried: the next
	// attempt would read the same body). Default DefaultMaxSize.
	MaxSize int64

	once   sync.Once
	client *http.Client
}

// Name returns "control_tower".
func (*ControlTower) Name() string { return "control_tower" }

// Fetch returns GET {BaseURL}/manifests/{id}?resolve_env=true. 404 and 400 are ErrNotFound (the Control
// Tower also answers 404 for a manifest file that does not parse); an id that fails manifest.ValidProjectID
// is ErrNotFound without a request.
func (c *ControlTower) Fetch(ctx context.Context, id string) ([]byte, error) {
	if !manifest.ValidProjectID(id) {
		return nil, fmt.Errorf("fetching manifest %q: invalid project id: %w", id, ErrNotFound)
	}
	u := c.base() + "/manifests/" + url.PathEscape(id) + "?resolve_env=true"
	b, err := c.get(ctx, u, true)
	if err != nil {
		return nil, fmt.Errorf("fetching manifest %q from the control tower: %w", id, err)
	}
	return b, nil
}

// List returns the project ids of GET {BaseURL}/manifests, sorted and deduplicated. Note that the Control
// Tower lists the project_id found inside each file, which can differ from the file stem it is fetched by.
func (c *ControlTower) List(ctx context.Context) ([]string, error) {
	b, err := c.get(ctx, c.base()+"/manifests", false)
	if err != nil {
		return nil, fmt.Errorf("listing manifests from the control tower: %w", err)
	}
	var resp struct {
		Manifests []struct {
			ProjectID string `json:"project_id"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("decoding the control tower manifest list: %w: %w", ErrUnavailable, err)
	}
	ids := make([]string, 0, len(resp.Manifests))
	for _, m := range resp.Manifests {
		if m.ProjectID != "" {
			ids = append(ids, m.ProjectID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

func (c *ControlTower) base() string { return strings.TrimRight(c.BaseURL, "/") }

func (c *ControlTower) httpClient() *http.Client {
	c.once.Do(func() {
		c.client = c.Client
		if c.client == nil {
			c.client = newDefaultClient()
		}
	})
	return c.client
}

func newDefaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// Go strips Authorization and cookies on cross-host redirects but not custom headers, so the
		// secret would follow a redirect anywhere.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				req.Header.Del(SecretHeader)
			}
			return nil
		},
	}
}

// get runs the retry loop. notFound says whether 404/400 mean ErrNotFound (single manifests) or are just
// unexpected (the list endpoint, where they mean a wrong BaseURL).
func (c *ControlTower) get(ctx context.Context, u string, notFound bool) ([]byte, error) {
	retries := c.Retries
	if retries == 0 {
		retries = defaultCTRetries
	}
	retries = max(retries, 0)
	var lastErr error
	for attempt := 0; ; attempt++ {
		body, status, err := c.attempt(ctx, u)
		switch {
		case err == nil && status == http.StatusOK:
			return body, nil
		case err == nil && notFound && (status == http.StatusNotFound || status == http.StatusBadRequest):
			return nil, fmt.Errorf("%s: %w", statusText(status, body), ErrNotFound)
		case err == nil && status < 500:
			return nil, fmt.Errorf("%w: unexpected %s", ErrUnavailable, statusText(status, body))
		case errors.Is(err, ErrTooLarge):
			return nil, err
		case err == nil:
			lastErr = errors.New(statusText(status, body))
		default:
			lastErr = err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), lastErr)
		}
		if attempt >= retries {
			return nil, fmt.Errorf("%w: giving up after %d attempts: %w", ErrUnavailable, attempt+1, lastErr)
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
}

// backoff returns a full-jitter delay for the retry after attempt (0-based).
func (c *ControlTower) backoff(attempt int) time.Duration {
	base, ceil := c.BackoffBase, c.BackoffMax
	if base <= 0 {
		base = defaultBackoffBase
	}
	if ceil <= 0 {
		ceil = defaultBackoffMax
	}
	d := ceil
	if attempt < 30 && base<<attempt < ceil && base<<attempt > 0 {
		d = base << attempt
	}
	// Jitter needs no cryptographic randomness. rand.N returns [0, d); +1ns keeps the delay positive.
	return rand.N(d) + 1 //nolint:gosec // G404: jitter, not a secret
}

// attempt performs one request. It returns the body only for 200; for other statuses a capped prefix of the
// body, used for the error message.
func (c *ControlTower) attempt(ctx context.Context, u string) ([]byte, int, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultCTTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Secret != "" {
		req.Header.Set(SecretHeader, c.Secret)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, 0, err // *url.Error: the URL has no secret, and net/http strips any password in it
	}
	defer resp.Body.Close()
	limit := c.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if resp.StatusCode == http.StatusOK && resp.ContentLength > limit {
		return nil, 0, tooLarge(resp.ContentLength, limit) // refused before reading a byte of it
	}
	if resp.StatusCode != http.StatusOK {
		limit = 4 << 10
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode == http.StatusOK && int64(len(body)) > limit {
		return nil, 0, tooLarge(int64(len(body)), limit)
	}
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return body, resp.StatusCode, nil
}

// statusText formats a non-200 answer, with the Control Tower's {"detail": "..."} when it is a string.
func statusText(status int, body []byte) string {
	var e struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil {
		if d, ok := e.Detail.(string); ok && d != "" {
			if len(d) > 200 {
				d = d[:200] + "…"
			}
			return fmt.Sprintf("status %d: %s", status, d)
		}
	}
	return fmt.Sprintf("status %d", status)
}
