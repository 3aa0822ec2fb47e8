// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command controltower serves a directory of DSP manifests with the Control Tower's manifest API (package
// controltower), so FD2 can be run locally without the Python service:
//
//	go run ./examples/controltower/cmd/controltower -addr 127.0.0.1:8000 -dir ./internal/defaultmanifests
//
// ${VAR} references are resolved from the process environment when a client asks for resolve_env=true.
// Tests should not run this command: they start controltower.New in an httptest.Server.
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

	"github.com/dsp-ai/fd2/examples/controltower"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address (the Control Tower's default port is 8000)")
	dir := flag.String("dir", "./internal/defaultmanifests", "directory of <project_id>.json manifest files")
	flag.Parse()

	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		// Not fatal: like the Control Tower, an absent directory lists no manifests, and it may appear later.
		log.Printf("controltower: warning: manifest directory %q is not readable yet", *dir)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           controltower.New(*dir, controltower.Options{}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("controltower: shutting down: %v", err)
		}
	}()
	log.Printf("controltower: serving %s on http://%s", *dir, *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("controltower: serving: %v", err)
	}
}
