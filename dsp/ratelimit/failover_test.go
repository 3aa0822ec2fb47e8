// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// redisProcess is a redis-server the test can kill and restart on the same port with the same arguments,
// which redistest deliberately does not offer.
type redisProcess struct {
	t    *testing.T
	bin  string
	args []string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedisProcess(t *testing.T) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required under CI=true: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	p := &redisProcess{
		t: t, bin: bin, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()},
	}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *redisProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting redis-server: %v", err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(p.cmd, p.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("redis-server on %s exited at start", p.addr)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on %s not ready", p.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *redisProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func TestFailover(t *testing.T) {
	rule := Rule{Policy: "limit-count", Limit: 10, Window: time.Minute}
	tests := []struct {
		name string
		mode FailMode
	}{
		{name: "fail open", mode: FailOpen},
		{name: "fail closed", mode: FailClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proc := startRedisProcess(t)
			client, hook := newRedisClient(t, proc.addr)
			clock := newFakeClock()
			var mu sync.Mutex
			var transitions []bool
			f := &Failover{
				Primary:   &RedisStore{Client: client, Now: clock.Now},
				Fallback:  NewMemoryStore(clock.Now),
				Mode:      tc.mode,
				Instances: 3,
				OnOutage: func(down bool) {
					mu.Lock()
					transitions = append(transitions, down)
					mu.Unlock()
				},
				Now: clock.Now,
			}
			ctx := context.Background()
			// admitted takes until the first rejection and returns the count.
			admitted := func(key string) int {
				t.Helper()
				for i := range 100 {
					d, err := f.Take(ctx, key, rule, 1)
					if err != nil {
						t.Fatalf("Take %d: %v", i, err)
					}
					if !d.Allowed {
						return i
					}
				}
				t.Fatal("never rejected")
				return 0
			}

			if got := admitted("up"); got != 10 {
				t.Fatalf("admitted with Redis up = %d, want 10", got)
			}

			proc.kill()
			sent := hook.count()
			d, err := f.Take(ctx, "outage", rule, 1)
			switch tc.mode {
			case FailOpen:
				if err != nil || !d.Allowed || d.Limit != 4 {
					t.Fatalf("first Take during outage = %+v, %v; want allowed by the fallback at ceil(10/3)=4", d, err)
				}
				// The first Take used 1 of the 4 local units.
				if got := admitted("outage"); got != 3 {
					t.Errorf("admitted during outage = %d more, want 3 (4 per instance)", got)
				}
			case FailClosed:
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("Take during outage error = %v, want ErrUnavailable", err)
				}
				for range 5 {
					if _, err := f.Take(ctx, "outage", rule, 1); !errors.Is(err, ErrUnavailable) {
						t.Fatalf("Take during outage error = %v, want ErrUnavailable", err)
					}
				}
			}
			if got := hook.count() - sent; got != 1 {
				t.Errorf("%d commands sent to the dead Redis before the probe interval, want 1 (the failure)", got)
			}
			if !f.Down() {
				t.Error("Down() = false during the outage")
			}

			// One probe per interval, even with many calls.
			clock.Advance(DefaultProbeInterval)
			sent = hook.count()
			for range 5 {
				_, _ = f.Take(ctx, "probe", rule, 1)
			}
			if got := hook.count() - sent; got != 1 {
				t.Errorf("%d commands sent in one probe interval, want 1", got)
			}

			proc.start()
			if _, err := f.Take(ctx, "before-probe", rule, 1); tc.mode == FailClosed && !errors.Is(err, ErrUnavailable) {
				t.Errorf("Take before the next probe = %v, want still ErrUnavailable", err)
			}
			clock.Advance(DefaultProbeInterval)
			// Exact Redis limiting resumes with the first probe (the restarted Redis is empty and has no
			// scripts: NOSCRIPT is handled transparently).
			if got := admitted("after"); got != 10 {
				t.Errorf("admitted after restart = %d, want 10", got)
			}
			if f.Down() {
				t.Error("Down() = true after recovery")
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []bool{true, false}; !slices.Equal(transitions, want) {
				t.Errorf("OnOutage calls = %v, want %v", transitions, want)
			}
		})
	}
}

// failingStore fails every call with err.
type failingStore struct{ err error }

func (s failingStore) Take(context.Context, string, Rule, int64) (Decision, error) {
	return Decision{}, s.err
}

func (s failingStore) Adjust(context.Context, string, Rule, int64, int64) error { return s.err }

func TestFailoverPassesThroughNonOutageErrors(t *testing.T) {
	bug := errors.New("script bug")
	tests := []struct {
		name     string
		err      error
		wantDown bool
	}{
		{name: "logic error is returned, no failover", err: bug, wantDown: false},
		{name: "outage fails over", err: ErrUnavailable, wantDown: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			f := &Failover{
				Primary:  failingStore{err: tc.err},
				Fallback: NewMemoryStore(nil),
				OnOutage: func(bool) { calls++ },
			}
			_, err := f.Take(context.Background(), "k", Rule{Limit: 1, Window: time.Second}, 1)
			if tc.wantDown && err != nil {
				t.Errorf("Take error = %v, want fallback decision", err)
			}
			if !tc.wantDown && !errors.Is(err, bug) {
				t.Errorf("Take error = %v, want %v", err, bug)
			}
			if f.Down() != tc.wantDown || (calls == 1) != tc.wantDown {
				t.Errorf("Down() = %v, OnOutage calls = %d; want down=%v", f.Down(), calls, tc.wantDown)
			}
		})
	}
}
