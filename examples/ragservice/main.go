// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command ragservice runs the test double of the DSP RAG service (dsp_ai_rag2) and its model server from
// internal/ragservice, for manual runs and the README demo of FD2's RAG module:
//
//	go run ./examples/ragservice -addr 127.0.0.1:9000 -models-addr 127.0.0.1:9001
//
// With -models-addr "" one listener serves both APIs. -corpus replaces the demo documents of the demo-kb
// configuration with a JSON list of {"id","filename","content","metadata"} objects. Tests should not run
// this command: they serve ragservice.New in an httptest.Server on a free port.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/dsp-ai/fd2/internal/ragservice"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address of the RAG2 API (and of the model server when -models-addr is empty)")
	modelsAddr := flag.String("models-addr", "127.0.0.1:9001", `listen address of the model server; "" serves it on -addr`)
	corpus := flag.String("corpus", "", "JSON file with a list of documents that replace the demo corpus of demo-kb")
	generationDelay := flag.Duration("generation-delay", ragservice.DefaultGenerationDelay, "simulated LLM latency before an answer exists (negative: none)")
	wordDelay := flag.Duration("word-delay", 0, "pause after each streamed word")
	flag.Parse()

	opts := ragservice.Options{GenerationDelay: *generationDelay, WordDelay: *wordDelay}
	if *corpus != "" {
		docs, err := loadCorpus(*corpus)
		if err != nil {
			log.Fatalf("ragservice: %v", err)
		}
		demo := ragservice.DefaultConfigurations()[0]
		demo.Documents = docs
		opts.Configurations = []ragservice.Configuration{demo}
	}
	s := ragservice.New(opts)

	servers := []*http.Server{{Addr: *addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}}
	if *modelsAddr != "" {
		servers[0].Handler = s.RAGHandler()
		servers = append(servers, &http.Server{Addr: *modelsAddr, Handler: s.ModelHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, len(servers))
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Printf("ragservice: listening on http://%s", srv.Addr)
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serving %s: %w", srv.Addr, err)
			}
		}()
	}
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-errs:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("ragservice: shutting down %s: %v", srv.Addr, err)
		}
	}
	wg.Wait()
	if failed != nil {
		log.Fatalf("ragservice: %v", failed)
	}
}

func loadCorpus(path string) ([]ragservice.Document, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading corpus: %w", err)
	}
	var docs []ragservice.Document
	if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("decoding corpus %s: %w", path, err)
	}
	return docs, nil
}
