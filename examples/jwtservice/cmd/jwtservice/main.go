// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command jwtservice serves the fake DSP AI JWT service of package jwtservice, for manual runs of FD2's
// token broker against a JWT service without Python:
//
//	go run ./examples/jwtservice/cmd/jwtservice -addr 127.0.0.1:5000 \
//		-users testdata/platform/jwt-service/users.yaml \
//		-api-keys testdata/platform/jwt-service/api_keys
//
// Without -users it knows admin, hk, ps and ds (password "password"). The secret defaults to
// $JWT_SECRET_KEY, then to jwtservice.DefaultSecret. Tests should not run this command: they start
// jwtservice.New in an httptest.Server on a free port.
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

	"github.com/dsp-ai/fd2/examples/jwtservice"
)

func main() {
	secretDefault := os.Getenv("JWT_SECRET_KEY")
	if secretDefault == "" {
		secretDefault = jwtservice.DefaultSecret
	}
	addr := flag.String("addr", "127.0.0.1:5000", "listen address")
	users := flag.String("users", "", "users.yaml (default: built-in admin/hk/ps/ds with password \"password\")")
	apiKeys := flag.String("api-keys", "", "directory of <api_key>.yaml files and base_api_key.yaml")
	secret := flag.String("secret", secretDefault, "HS256 signing secret (JWT_SECRET_KEY)")
	flag.Parse()

	svc, err := jwtservice.New(jwtservice.Options{UsersFile: *users, APIKeysDir: *apiKeys, Secret: *secret})
	if err != nil {
		log.Fatalf("jwtservice: %v", err)
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           svc,
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("jwtservice: shutting down: %v", err)
		}
	}()
	log.Printf("jwtservice: listening on http://%s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("jwtservice: serving: %v", err)
	}
}
