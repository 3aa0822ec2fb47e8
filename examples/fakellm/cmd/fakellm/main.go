// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command fakellm serves the deterministic fake provider of internal/fakellm (the OpenAI API, plus
// Anthropic's /v1/messages and Gemini's /v1beta/models/{model}:generateContent, which only check that a
// key is present), for manual runs and load benchmarks of FD2 against an upstream that needs no real key:
//
//	go run ./examples/fakellm/cmd/fakellm -addr 127.0.0.1:9099 -token-delay 50ms
//
// Tests should not run this command: they start fakellm.New in an httptest.Server on a free port.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9099", "listen address")
	tokenDelay := flag.Duration("token-delay", 0, "pause after each streamed chunk")
	latency := flag.Duration("latency", 0, "delay before the first byte of every answer")
	model := flag.String("model", fakellm.DefaultModel, "model id answered when a request names none")
	flag.Parse()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           fakellm.New(fakellm.Options{TokenDelay: *tokenDelay, Latency: *latency, Model: *model}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("fakellm: shutting down: %v", err)
		}
	}()
	log.Printf("fakellm: listening on http://%s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("fakellm: serving: %v", err)
	}
}
