// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package upstream is FD2's reverse proxy to the nodes of an APISIX upstream: the hot path of every manifest
// route that proxies. It does what such a route needs — node selection (weighted round robin, least
// connections, client-IP hash), retries on another node when a connection cannot be made, APISIX's
// connect/send/read timeouts with nginx's meaning, the Host policy, forwarding headers — on a tuned
// connection pool, and streams event-stream and unsized answers unbuffered (a flush per read).
//
// It is leaner than a general-purpose proxy by design: no per-request configuration lookups, logging or
// placeholders; the answer's status and time to headers are returned to the caller, which records them.
// Protocol upgrades (WebSocket) are not proxied here: the caller hands them to a proxy that hijacks.
//
// This package never imports Caddy.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dsp-ai/fd2/internal/watchdog"
)

// Policy chooses the node of a request.
type Policy uint8

const (
	// RoundRobin cycles through the nodes in proportion to their weights (APISIX "roundrobin").
	RoundRobin Policy = iota
	// LeastConn picks the node with the fewest requests in flight (APISIX "least_conn" and "ewma").
	LeastConn
	// IPHash keeps a client on one node (APISIX "chash").
	IPHash
)

// HostMode is the Host header sent upstream (APISIX pass_host).
type HostMode uint8

const (
	// HostPass sends the client's Host.
	HostPass HostMode = iota
	// HostNode sends the chosen node's host:port.
	HostNode
	// HostRewrite sends Config.Host.
	HostRewrite
)

// Node is one backend.
type Node struct {
	Addr   string // host:port
	Weight int    // RoundRobin share; 0 takes no traffic (unless it is the only node)
}

// Config is an upstream.
type Config struct {
	Scheme   string // "http" or "https"
	Nodes    []Node
	Policy   Policy
	HostMode HostMode
	Host     string // for HostRewrite
	// Retries is how many other attempts a request may make when a node cannot be connected to (or, for a
	// GET, when the exchange fails before an answer).
	Retries int
	// ConnectTimeout bounds a connection attempt; SendTimeout each write of the request; ReadTimeout the
	// wait for the answer's headers and every pause between two reads of its body (nginx's
	// proxy_read_timeout: a stream that keeps producing is never cut). 0: the defaults (10 s, none, none).
	ConnectTimeout, SendTimeout, ReadTimeout time.Duration
}

// Result is what a proxied exchange yielded, for the caller's metrics.
type Result struct {
	Status int           // the upstream's status (0: no answer)
	TTFB   time.Duration // to the answer's headers
}

// Error is a failure before anything was written to the client; Status is the status to answer with:
// 502 (no connection, a broken exchange), 504 (a timeout) or 499 (the client went away).
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrAborted is returned when the answer broke off after it had begun: its status and part of its body are
// out, so the caller must abort the response (net/http: panic(http.ErrAbortHandler)) so that the client sees
// a broken transfer, never a clean end.
var ErrAborted = errors.New("the upstream's answer broke off after it had begun")

var errNoNode = errors.New("no upstream node takes traffic")

// Proxy proxies requests to one upstream. It is safe for concurrent use.
type Proxy struct {
	cfg   Config
	tr    *http.Transport
	nodes []node
	// takes marks the nodes that take traffic: weight > 0, or all of them when every weight is 0.
	takes []bool
	// wrr is the weighted round-robin order: node indexes, each as often as its weight (reduced).
	wrr  []int
	next atomic.Uint64
}

type node struct {
	addr   string
	active atomic.Int64
}

// New returns a proxy for cfg. Close it when it is no longer used.
func New(cfg Config) (*Proxy, error) {
	if cfg.Scheme != "http" && cfg.Scheme != "https" {
		return nil, fmt.Errorf("upstream scheme %q is not http or https", cfg.Scheme)
	}
	if len(cfg.Nodes) == 0 {
		return nil, errors.New("upstream has no nodes")
	}
	p := &Proxy{cfg: cfg, nodes: make([]node, len(cfg.Nodes))}
	for i, n := range cfg.Nodes {
		if _, _, err := net.SplitHostPort(n.Addr); err != nil {
			return nil, fmt.Errorf("upstream node %q: %w", n.Addr, err)
		}
		p.nodes[i].addr = n.Addr
	}
	p.wrr = roundRobinOrder(cfg.Nodes)
	p.takes = make([]bool, len(cfg.Nodes))
	for _, i := range p.wrr {
		p.takes[i] = true
	}
	connect := cfg.ConnectTimeout
	if connect <= 0 {
		connect = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if cfg.SendTimeout > 0 {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &sendTimeoutConn{Conn: c, timeout: cfg.SendTimeout}, nil
		}
	}
	p.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		// Every in-flight request of a busy route keeps its connection afterwards: a pool smaller than
		// the concurrency makes connections churn (a dial and a TCP handshake per request).
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		ExpectContinueTimeout: time.Second,
		TLSHandshakeTimeout:   connect,
		// Bodies pass through as the upstream encoded them; the client negotiated that encoding.
		DisableCompression: true,
		ForceAttemptHTTP2:  cfg.Scheme == "https",
		TLSClientConfig:    &tls.Config{MinVersion: tls.VersionTLS12},
		ReadBufferSize:     16 << 10,
		WriteBufferSize:    16 << 10,
	}
	return p, nil
}

// Close drops the idle connections; requests in flight finish.
func (p *Proxy) Close() { p.tr.CloseIdleConnections() }

// roundRobinOrder spreads node indexes over one cycle in proportion to their weights (divided by their
// greatest common divisor, capped so a cycle stays small), interleaved rather than in runs. Nodes of
// weight 0 take no traffic; if every node weighs 0 they share it equally.
func roundRobinOrder(nodes []Node) []int {
	g := 0
	for _, n := range nodes {
		if n.Weight > 0 {
			g = gcd(g, n.Weight)
		}
	}
	if g == 0 {
		order := make([]int, len(nodes))
		for i := range order {
			order[i] = i
		}
		return order
	}
	w := make([]int, len(nodes))
	total := 0
	for i, n := range nodes {
		if n.Weight > 0 {
			w[i] = min(n.Weight/g, 1000)
			total += w[i]
		}
	}
	// Smooth weighted round robin (nginx's): each step every node gains its weight and the richest is
	// chosen and pays the total, so a 5:1 split alternates instead of sending five in a row.
	cur := make([]int, len(nodes))
	order := make([]int, 0, total)
	for range total {
		best := -1
		for i := range w {
			if w[i] == 0 {
				continue
			}
			cur[i] += w[i]
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		order = append(order, best)
	}
	return order
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick chooses the node of an attempt; tried holds the nodes already tried by this request (bit i).
func (p *Proxy) pick(clientIP string, tried uint64) (int, error) {
	if len(p.nodes) == 1 {
		return 0, nil
	}
	switch p.cfg.Policy {
	case LeastConn:
		best := -1
		for i := range p.nodes {
			if tried&(1<<(i%64)) != 0 || !p.takes[i] {
				continue
			}
			if best < 0 || p.nodes[i].active.Load() < p.nodes[best].active.Load() {
				best = i
			}
		}
		if best >= 0 {
			return best, nil
		}
	case IPHash:
		h := fnv.New32a()
		_, _ = io.WriteString(h, clientIP)
		i := p.wrr[int(h.Sum32()%uint32(len(p.wrr)))]
		for k := 0; tried&(1<<(i%64)) != 0 && k < len(p.wrr); k++ {
			i = p.wrr[(int(h.Sum32())+k+1)%len(p.wrr)]
		}
		return i, nil
	}
	// Round robin, skipping nodes this request has tried (as long as another is left).
	for range len(p.wrr) {
		i := p.wrr[p.next.Add(1)%uint64(len(p.wrr))]
		if tried&(1<<(i%64)) == 0 {
			return i, nil
		}
	}
	if len(p.wrr) == 0 {
		return 0, errNoNode
	}
	return p.wrr[p.next.Add(1)%uint64(len(p.wrr))], nil
}

// dialError marks a failure to connect: the request was never sent, so another node may take it.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connecting to the upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// sendTimeoutConn bounds every write (APISIX's send timeout: between two writes, not in total).
type sendTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *sendTimeoutConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// hopHeaders are meaningful for one connection only and are never forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

var emptyUA = []string{""}

// outgoing is the request sent to node n: the client's, with the upstream's URL and Host, without
// hop-by-hop headers, with the forwarding headers.
func (p *Proxy) outgoing(r *http.Request, n int, clientIP string, body io.ReadCloser) *http.Request {
	out := new(http.Request)
	*out = *r
	out.URL = &url.URL{Scheme: p.cfg.Scheme, Host: p.nodes[n].addr, Path: r.URL.Path, RawPath: r.URL.RawPath,
		RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Close = false
	out.Header = r.Header.Clone()
	te := out.Header.Get("Te")
	removeHopHeaders(out.Header)
	if strings.Contains(strings.ToLower(te), "trailers") {
		out.Header["Te"] = []string{"trailers"} // gRPC needs it end to end
	}
	switch p.cfg.HostMode {
	case HostNode:
		out.Host = p.nodes[n].addr
	case HostRewrite:
		out.Host = p.cfg.Host
	}
	if clientIP != "" {
		out.Header["X-Forwarded-For"] = []string{clientIP}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	out.Header["X-Forwarded-Proto"] = []string{proto}
	out.Header["X-Forwarded-Host"] = []string{r.Host}
	out.Header["Via"] = append(out.Header["Via"], fmt.Sprintf("%d.%d fd2", r.ProtoMajor, r.ProtoMinor))
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = emptyUA // not Go's own: the upstream should see the client's, or none
	}
	if r.ContentLength == 0 {
		out.Body = nil // an empty body is not sent chunked
	} else {
		out.Body = body
	}
	return out
}

// replayBody lets a request body be sent again after a failed connection: the transport closes the body
// of a request it could not send, so Close is deferred to the proxy, and a body that was read cannot be
// replayed.
type replayBody struct {
	rc   io.ReadCloser
	read bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.read = true
	return b.rc.Read(p)
}

func (*replayBody) Close() error { return nil }

// Serve proxies r (its URL.Path already the upstream's path) and writes the answer to w. clientIP is the
// client's address for X-Forwarded-For (the caller knows which proxies in front it trusts).
//
// It returns an *Error when nothing has been written, ErrAborted when the answer broke off after it began,
// or nil.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, clientIP string) (Result, error) {
	var body *replayBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = &replayBody{rc: r.Body}
		defer r.Body.Close()
	}
	var tried uint64
	var res *http.Response
	var err error
	start := time.Now()
	for attempt := 0; ; attempt++ {
		n, perr := p.pick(clientIP, tried)
		if perr != nil {
			return Result{}, &Error{Status: http.StatusBadGateway, Err: perr}
		}
		tried |= 1 << (n % 64)
		var rb io.ReadCloser
		if body != nil {
			rb = body
		}
		p.nodes[n].active.Add(1)
		res, err = p.tr.RoundTrip(p.outgoing(r, n, clientIP, rb))
		if err == nil {
			defer p.nodes[n].active.Add(-1)
			break
		}
		p.nodes[n].active.Add(-1)
		if attempt >= p.cfg.Retries || !p.retryable(r, err, body) {
			return Result{}, statusError(r.Context(), err)
		}
		if body != nil && body.read {
			// An idempotent call whose body went out: send it again from the start.
			fresh, gerr := r.GetBody()
			if gerr != nil {
				return Result{}, statusError(r.Context(), err)
			}
			body = &replayBody{rc: fresh}
		}
	}
	result := Result{Status: res.StatusCode, TTFB: time.Since(start)}
	if err := p.respond(w, res); err != nil {
		return result, err
	}
	return result, nil
}

// retryable reports whether a failed attempt may be made again on another node: always when no
// connection could be made (and the body is unread), for a GET (no body) or a call marked Idempotent with
// a replayable body when the exchange failed.
func (p *Proxy) retryable(r *http.Request, err error, body *replayBody) bool {
	if r.Context().Err() != nil {
		return false
	}
	if idempotent(r.Context()) && (body == nil || r.GetBody != nil) {
		return true
	}
	if body != nil && body.read {
		return false
	}
	var de *dialError
	return errors.As(err, &de) || r.Method == http.MethodGet
}

type idempotentKey struct{}

// Idempotent marks a call that is idempotent though its method is not (a RAG query is a POST that
// changes nothing): when its exchange fails it is retried like a GET, its body sent again from
// Request.GetBody.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func idempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}

func statusError(ctx context.Context, err error) *Error {
	status := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		status = 499 // the client went away; nobody reads this
	}
	return &Error{Status: status, Err: fmt.Errorf("proxying to the upstream: %w", err)}
}

// copyBuffers recycles the body copy buffers.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// respond writes the upstream's answer: headers, status, then the body, flushed after every read when it
// is an event stream or has no declared length (a client is waiting for each piece).
func (p *Proxy) respond(w http.ResponseWriter, res *http.Response) error {
	defer res.Body.Close()
	h := w.Header()
	removeHopHeaders(res.Header)
	for k, v := range res.Header {
		h[k] = v
	}
	if len(res.Trailer) > 0 {
		// Declared trailers the client should expect; their values follow the body.
		keys := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	var rd io.Reader = res.Body
	if p.cfg.ReadTimeout > 0 {
		// nginx's proxy_read_timeout: no pause longer than this; closing the body ends the pending Read.
		wd := watchdog.New(res.Body, p.cfg.ReadTimeout, func() { _ = res.Body.Close() })
		defer wd.Stop()
		rd = wd
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	flush := res.ContentLength < 0 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := rd.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("%w: writing to the client: %w", ErrAborted, werr)
			}
			if flush {
				if ferr := rc.Flush(); ferr != nil {
					return fmt.Errorf("%w: writing to the client: %w", ErrAborted, ferr)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", ErrAborted, rerr)
		}
	}
	for k, v := range res.Trailer {
		h[http.TrailerPrefix+k] = v
	}
	return nil
}
