// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package loadgen is the load generator and process meter of FD2's side-by-side benchmarks: closed-loop
// clients on keep-alive connections that time every request (latency, and time to first byte for streams)
// and check every answer, and the CPU time and resident memory of a server process read from /proc.
//
// It measures what wrk and hey do not: time to first byte of a server-sent event stream, and whether each
// stream arrived whole (a stream cut short is a failure, not a fast request).
//
// This package never imports Caddy.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request is what every client of a run sends.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Stream expects a server-sent event stream: the answer must end with StreamEnd, and time to first
	// byte is recorded.
	Stream bool
	// StreamEnd is the event a complete stream ends with; default "data: [DONE]" (OpenAI's), the Messages
	// API's is "event: message_stop".
	StreamEnd []byte
	// Want, when set, must occur in every non-stream answer (a stream must end with [DONE] instead).
	Want []byte
}

// Result is one run of Load.
type Result struct {
	Elapsed  time.Duration
	OK       int
	Failed   int
	FirstErr error
	Latency  []time.Duration // of every successful request, complete answer read
	TTFB     []time.Duration // of every successful stream: until the first byte of the body
}

// Throughput is successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// NewClient returns a client holding up to conns keep-alive connections to one host, without the
// transparent gzip a benchmark must not measure.
func NewClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}, Timeout: 30 * time.Second}
}

var done = []byte("data: [DONE]")

// Load runs conns closed-loop clients for d, each sending req again as soon as its answer is complete.
func Load(ctx context.Context, c *http.Client, req Request, conns int, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		res Result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			var lat, ttfb []time.Duration
			ok, failed := 0, 0
			var firstErr error
			buf := make([]byte, 32<<10)
			for ctx.Err() == nil {
				l, t, err := once(ctx, c, &req, buf)
				if err != nil {
					if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
						break // the run ended mid-request: neither a success nor a failure
					}
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				ok++
				lat = append(lat, l)
				if req.Stream {
					ttfb = append(ttfb, t)
				}
			}
			mu.Lock()
			res.OK += ok
			res.Failed += failed
			if res.FirstErr == nil {
				res.FirstErr = firstErr
			}
			res.Latency = append(res.Latency, lat...)
			res.TTFB = append(res.TTFB, ttfb...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// once sends one request and reads its whole answer into buf's window, returning its latency and time to
// first byte.
func once(ctx context.Context, c *http.Client, r *Request, buf []byte) (lat, ttfb time.Duration, err error) {
	hr, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range r.Header {
		hr.Header[k] = v
	}
	t0 := time.Now()
	resp, err := c.Do(hr)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	// Keep the answer's head (for Want) and its tail (for [DONE]) without holding a whole stream.
	var head, tail []byte
	first := true
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if first {
				ttfb, first = time.Since(t0), false
			}
			if len(head) < 4096 {
				head = append(head, buf[:min(n, 4096-len(head))]...)
			}
			tail = append(tail, buf[:n]...)
			if len(tail) > 256 {
				tail = tail[len(tail)-256:]
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, fmt.Errorf("reading the answer: %w", rerr)
		}
	}
	lat = time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %d: %.200s", resp.StatusCode, head)
	}
	if r.Stream {
		end, name := r.StreamEnd, string(r.StreamEnd)
		if end == nil {
			end, name = done, "[DONE]"
		}
		if !bytes.Contains(tail, end) {
			return 0, 0, fmt.Errorf("stream ended without %s: ...%q", name, tail)
		}
	} else if len(r.Want) > 0 && !bytes.Contains(head, r.Want) {
		return 0, 0, fmt.Errorf("answer lacks %q: %.200s", r.Want, head)
	}
	return lat, ttfb, nil
}

// Percentile returns the q-quantile (0..1) of d, sorting d in place; 0 for none.
func Percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*q)]
}

// Median is the median of v (sorted in place); 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
