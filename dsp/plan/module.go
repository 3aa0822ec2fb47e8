// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/route"
)

// Module is what a manifest module becomes when its project version is served: an instance of the module
// type registered for its module_type, built from the module's config. FD2 builds one per module and
// project version (when the version enters the project pool), shares it between every request of the
// module's routes, and cleans it up when the version leaves the pool and its last request has finished.
//
// In FD2 a module type is a Caddy module in the `dsp.modules` namespace (see docs/modules.md): it also
// implements Configure (decode and validate the config; no side effects), and may implement Caddy's
// Provisioner, Validator and CleanerUpper, and HealthChecker.
type Module interface {
	// Serve answers one request of the module's routes. The earlier stages have run: the request is
	// authenticated and within its limits, and the route's transforms are applied. x carries the plan,
	// the principal, the body (read at most once, under one cap: x.Body) and the usage meter; x.Rest is
	// the path below the module's prefix. Errors are *apierr.Error where the client should see a message;
	// a module that has started its response must not return an error that would need a status.
	Serve(w http.ResponseWriter, r *http.Request, x *Exchange) error
}

// Configurer is the first call a module type gets: its module's manifest entry, before Provision.
// Configure decodes (strictly: an unknown field is an error) and validates; it must not start anything,
// since FD2 also calls it when the manifest version compiles, to list config errors before any request.
type Configurer interface {
	Configure(spec *ModuleSpec) error
}

// HealthChecker is implemented by modules that can tell whether they are able to serve (a reachable
// backing service, say); /health?detailed=true lists the result of every pooled module.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// ModuleSpec is one module of a project version, as a module type receives it.
type ModuleSpec struct {
	// Project is the project id.
	Project string
	// Module is the manifest entry: name, module_type, status, config (resolved: it may hold secrets).
	Module *manifest.Module
	// Upstream is where the manifest says the module's service is (from its service_url; rag_service,
	// model_server and jwt_config), normalised with the platform's defaults; nil when it names none.
	Upstream *route.Upstream
	// Err is set when no module type is registered for the module or its config is invalid; the module's
	// routes then answer 501 or 503.
	Err error

	project *Project
}

// Peer is another routed module of the same project version (an inference endpoint's retrieval source,
// say), or nil. Every peer is known by the time modules are provisioned; during Configure only those of
// earlier routes are, so a load-time check should look the name up in Manifest instead.
func (s *ModuleSpec) Peer(name string) *ModuleSpec {
	if s.project == nil {
		return nil
	}
	return s.project.Modules[name]
}

// Manifest is the manifest the module belongs to (nil for a spec built outside a project).
func (s *ModuleSpec) Manifest() *manifest.Manifest {
	if s.project == nil {
		return nil
	}
	return s.project.Manifest
}

// Name is the module's name.
func (s *ModuleSpec) Name() string { return s.Module.Name }

// Type is the module's module_type.
func (s *ModuleSpec) Type() string { return s.Module.ModuleType }

// Decode decodes the module's config into v strictly: an unknown field or a wrong type is an error naming
// the field, so a typo in a manifest is a load-time error, not a silently ignored setting.
func (s *ModuleSpec) Decode(v any) error {
	raw := s.Module.Config
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding config: %w", fieldError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decoding config: trailing data after the config object")
	}
	return nil
}

// fieldError rewrites encoding/json's errors to name the field as the manifest author wrote it.
func fieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", msg)
	}
	return err
}
