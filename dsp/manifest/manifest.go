// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Module types of the Control Tower's ModuleType enum. A manifest with any other module_type is invalid, as
// it is for the Control Tower (which answers 404 for it).
const (
	TypeJWTConfig         = "jwt_config"
	TypeRAGConfig         = "rag_config"
	TypeRAGService        = "rag_service"
	TypeModelServer       = "model_server"
	TypeAPIGateway        = "api_gateway"
	TypeInferenceEndpoint = "inference_endpoint"
	TypeSecurity          = "security"
	TypeMonitoring        = "monitoring"
	TypeModelRegistry     = "model_registry"
	TypeDataPipeline      = "data_pipeline"
	TypeDeployment        = "deployment"
	TypeResourceMgmt      = "resource_management"
	TypeNotifications     = "notifications"
	TypeBackupRecovery    = "backup_recovery"
	TypeVault             = "vault"
	TypeLangGraphWorkflow = "langgraph_workflow"
)

var knownTypes = map[string]bool{
	TypeJWTConfig: true, TypeRAGConfig: true, TypeRAGService: true, TypeModelServer: true,
	TypeAPIGateway: true, TypeInferenceEndpoint: true, TypeSecurity: true, TypeMonitoring: true,
	TypeModelRegistry: true, TypeDataPipeline: true, TypeDeployment: true, TypeResourceMgmt: true,
	TypeNotifications: true, TypeBackupRecovery: true, TypeVault: true, TypeLangGraphWorkflow: true,
}

// Module statuses. Only StatusDisabled changes routing: a disabled module is not routed.
const (
	StatusEnabled     = "enabled"
	StatusDisabled    = "disabled"
	StatusDeprecated  = "deprecated"
	StatusDevelopment = "development"
)

// ProjectIDPattern is the Control Tower's project_id rule, enforced on its API paths.
var ProjectIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ValidProjectID reports whether id is a project id the Control Tower would accept in a path.
// It does not allocate.
func ValidProjectID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ErrInvalid is wrapped by every validation and decoding error of a manifest.
var ErrInvalid = errors.New("invalid manifest")

// Manifest is the Control Tower ProjectManifest.
type Manifest struct {
	ProjectID    string                    `json:"project_id"`
	ProjectName  string                    `json:"project_name"`
	Version      string                    `json:"version,omitempty"`
	Description  string                    `json:"description,omitempty"`
	Owner        string                    `json:"owner,omitempty"`
	Tags         []string                  `json:"tags,omitempty"`
	Environment  string                    `json:"environment,omitempty"`
	Environments map[string]map[string]any `json:"environments,omitempty"`
	Modules      []Module                  `json:"modules"`
	Metadata     map[string]any            `json:"metadata,omitempty"`
}

// Module is the ModuleConfig envelope. Config stays raw until a consumer decodes it into its typed form
// (GatewayConfig, RAGServiceConfig, …), so that fields FD2 does not know survive.
type Module struct {
	ModuleType  string          `json:"module_type"`
	Name        string          `json:"name"`
	Version     string          `json:"version,omitempty"`
	Status      string          `json:"status,omitempty"`
	Description string          `json:"description,omitempty"`
	Config      json.RawMessage `json:"config"`
}

// Enabled reports whether the module takes traffic: every status but "disabled" does.
func (m *Module) Enabled() bool { return !strings.EqualFold(m.Status, StatusDisabled) }

// Module returns the module named name, or nil.
func (m *Manifest) Module(name string) *Module {
	for i := range m.Modules {
		if m.Modules[i].Name == name {
			return &m.Modules[i]
		}
	}
	return nil
}

// Decode parses a manifest leniently and validates it. The error wraps ErrInvalid.
func Decode(data []byte) (*Manifest, error) { return DecodeWith(data, DecodeOptions{}) }

// DecodeOptions widen what a manifest may hold beyond what the Control Tower accepts.
type DecodeOptions struct {
	// ExtraType reports whether a module_type outside the Control Tower's enum is served anyway: a
	// third-party module type built into this FD2 (docs/modules.md). nil accepts none, so a typo such as
	// "apisix_gateway" stays an invalid manifest.
	ExtraType func(moduleType string) bool
}

// DecodeWith is Decode with options.
func DecodeWith(data []byte, o DecodeOptions) (*Manifest, error) {
	if err := checkObject(data); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: decoding: %v", ErrInvalid, err)
	}
	if err := m.ValidateWith(o); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkObject rejects documents that are not a JSON object: null would decode into an empty manifest and
// report every required field missing instead of the real problem.
func checkObject(data []byte) error {
	b := bytes.TrimSpace(data)
	if len(b) > 0 && b[0] == '{' {
		return nil
	}
	kind := "nothing"
	switch {
	case len(b) == 0:
	case bytes.HasPrefix(b, []byte("null")):
		kind = "null"
	case b[0] == '[':
		kind = "an array"
	case b[0] == '"':
		kind = "a string"
	case b[0] == 't' || b[0] == 'f':
		kind = "a boolean"
	default:
		kind = "a number or invalid JSON"
	}
	return fmt.Errorf("%w: a manifest must be a JSON object, got %s", ErrInvalid, kind)
}

// Validate checks what the Control Tower checks (required fields, the module_type enum, unique module
// names) plus what FD2 needs to route: every api_gateway config must decode and its routes need a uri.
func (m *Manifest) Validate() error { return m.ValidateWith(DecodeOptions{}) }

// ValidateWith is Validate with options.
func (m *Manifest) ValidateWith(o DecodeOptions) error {
	var errs []string
	if m.ProjectID == "" {
		errs = append(errs, "project_id is required")
	}
	if m.Modules == nil {
		errs = append(errs, "modules is required")
	}
	seen := make(map[string]bool, len(m.Modules))
	for i := range m.Modules {
		mod := &m.Modules[i]
		where := fmt.Sprintf("modules[%d]", i)
		if mod.Name == "" {
			errs = append(errs, where+": name is required")
		} else if seen[mod.Name] {
			errs = append(errs, fmt.Sprintf("%s: duplicate module name %q", where, mod.Name))
		}
		seen[mod.Name] = true
		if !knownTypes[mod.ModuleType] && (o.ExtraType == nil || !o.ExtraType(mod.ModuleType)) {
			errs = append(errs, fmt.Sprintf("%s (%s): unknown module_type %q", where, mod.Name, mod.ModuleType))
			continue
		}
		if len(bytes.TrimSpace(mod.Config)) == 0 || bytes.Equal(bytes.TrimSpace(mod.Config), []byte("null")) {
			errs = append(errs, fmt.Sprintf("%s (%s): config is required", where, mod.Name))
			continue
		}
		if mod.ModuleType == TypeAPIGateway {
			gw, err := mod.Gateway()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s (%s): %v", where, mod.Name, err))
				continue
			}
			for j, r := range gw.Routes {
				if r.URI == "" && len(r.URIs) == 0 {
					errs = append(errs, fmt.Sprintf("%s (%s): routes[%d] (%s): uri is required", where, mod.Name, j, r.Name))
				}
			}
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

// ValidationError lists every problem Validate found, each naming its place
// (`modules[4] (api-gateway): unknown module_type "apisix_gateway"`), so that the admin API can show them
// one by one. It wraps ErrInvalid.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return ErrInvalid.Error() + ": " + strings.Join(e.Problems, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Hash returns a short, stable content hash of a manifest document, used to key compiled projects.
func Hash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// Gateway decodes an api_gateway module's config.
func (m *Module) Gateway() (*GatewayConfig, error) {
	var gw GatewayConfig
	if err := json.Unmarshal(m.Config, &gw); err != nil {
		return nil, fmt.Errorf("decoding api_gateway config: %w", err)
	}
	return &gw, nil
}

// GatewayConfig is an api_gateway module config: the APISIX dialect (APISIXGatewayModule) and, leniently,
// the generic one. Connection fields for a real APISIX (admin_api_url, admin_key, …) are ignored by FD2.
type GatewayConfig struct {
	GatewayType   string     `json:"gateway_type,omitempty"`
	Routes        []Route    `json:"routes,omitempty"`
	Upstreams     []Upstream `json:"upstreams,omitempty"`
	Consumer      *Consumer  `json:"consumer,omitempty"`
	Service       *Service   `json:"service,omitempty"`
	GlobalPlugins Plugins    `json:"global_plugins,omitempty"`
}

// Route is an APISIX route.
type Route struct {
	Name       string    `json:"name"`
	URI        string    `json:"uri,omitempty"`
	URIs       []string  `json:"uris,omitempty"`
	Methods    []string  `json:"methods,omitempty"`
	Host       string    `json:"host,omitempty"`
	Hosts      []string  `json:"hosts,omitempty"`
	Priority   int       `json:"priority,omitempty"`
	Vars       Vars      `json:"vars,omitempty"`
	Upstream   *Upstream `json:"upstream,omitempty"`
	UpstreamID string    `json:"upstream_id,omitempty"`
	ServiceID  string    `json:"service_id,omitempty"`
	Plugins    Plugins   `json:"plugins,omitempty"`
	// Status 0 disables an APISIX route (APISIX semantics); absent means enabled.
	Status *int `json:"status,omitempty"`
}

// Vars are APISIX route vars: a list of [var, op, value] expressions that must all hold.
type Vars [][]any

// Upstream is an APISIX upstream, inline in a route or in the module's upstreams list.
type Upstream struct {
	Name     string   `json:"name,omitempty"`
	ID       string   `json:"id,omitempty"`
	Type     string   `json:"type,omitempty"`
	Nodes    Nodes    `json:"nodes,omitempty"`
	Timeout  *Timeout `json:"timeout,omitempty"`
	Retries  *int     `json:"retries,omitempty"`
	Scheme   string   `json:"scheme,omitempty"`
	PassHost string   `json:"pass_host,omitempty"`
	// UpstreamHost is the Host sent upstream when PassHost is "rewrite".
	UpstreamHost string `json:"upstream_host,omitempty"`
}

// Timeout holds APISIX upstream timeouts in seconds (fractions allowed).
type Timeout struct {
	Connect float64 `json:"connect,omitempty"`
	Send    float64 `json:"send,omitempty"`
	Read    float64 `json:"read,omitempty"`
}

// Node is one upstream node.
type Node struct {
	Host   string `json:"host"`
	Port   int    `json:"port,omitempty"`
	Weight int    `json:"weight"`
}

// Nodes accepts both APISIX forms: {"host[:port]": weight} and [{"host","port","weight"}]. Map keys are sorted
// so that the compiled order is stable.
type Nodes []Node

// UnmarshalJSON implements json.Unmarshaler.
func (n *Nodes) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*n = nil
		return nil
	}
	if b[0] == '[' {
		var list []Node
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("decoding nodes list: %w", err)
		}
		*n = list
		return nil
	}
	var m map[string]json.Number
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decoding nodes map: %w", err)
	}
	out := make(Nodes, 0, len(m))
	for k, v := range m {
		w, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fmt.Errorf("node %q: weight %q: %w", k, v, err)
		}
		host, port := SplitHostPort(k)
		out = append(out, Node{Host: host, Port: port, Weight: int(w)})
	}
	sortNodes(out)
	*n = out
	return nil
}

// SplitHostPort splits "host[:port]" (IPv6 in brackets) without failing on a missing port: port is 0 then.
func SplitHostPort(s string) (string, int) {
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			host := s[1:i]
			if rest := s[i+1:]; strings.HasPrefix(rest, ":") {
				p, _ := strconv.Atoi(rest[1:])
				return host, p
			}
			return host, 0
		}
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.Count(s, ":") == 1 {
		if p, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], p
		}
	}
	return s, 0
}

// sortNodes orders map-form nodes by host, then port (an insertion sort here was quadratic in the nodes of
// one upstream).
func sortNodes(ns Nodes) {
	slices.SortFunc(ns, func(a, b Node) int {
		return cmp.Or(strings.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port))
	})
}

// Consumer is the APISIX consumer of a gateway module.
type Consumer struct {
	Username string  `json:"username,omitempty"`
	Desc     string  `json:"desc,omitempty"`
	Plugins  Plugins `json:"plugins,omitempty"`
}

// Service is the APISIX service of a gateway module (informational in FD2).
type Service struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Desc string `json:"desc,omitempty"`
}

// Plugins maps an APISIX plugin name to its raw config. It decodes both the map form
// {"proxy-rewrite": {...}} and the Control Tower list form [{"name","enabled","config"}]; list entries with
// enabled:false are dropped, as FD2's APISIX translation does.
type Plugins map[string]json.RawMessage

// UnmarshalJSON implements json.Unmarshaler.
func (p *Plugins) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*p = nil
		return nil
	}
	if b[0] == '[' {
		var list []struct {
			Name    string          `json:"name"`
			Enabled *bool           `json:"enabled"`
			Config  json.RawMessage `json:"config"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("decoding plugin list: %w", err)
		}
		out := make(Plugins, len(list))
		for _, e := range list {
			if e.Name == "" || (e.Enabled != nil && !*e.Enabled) {
				continue
			}
			cfg := e.Config
			if len(cfg) == 0 || bytes.Equal(bytes.TrimSpace(cfg), []byte("null")) {
				cfg = json.RawMessage("{}")
			}
			out[e.Name] = cfg
		}
		*p = out
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decoding plugin map: %w", err)
	}
	for k, v := range m {
		if len(v) == 0 || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			m[k] = json.RawMessage("{}")
		}
	}
	*p = m
	return nil
}

// RAGServiceConfig is the part of a rag_service config FD2 routes with.
type RAGServiceConfig struct {
	ServiceURL        string  `json:"service_url"`
	ConfigurationName string  `json:"configuration_name,omitempty"`
	QueryEndpoint     string  `json:"query_endpoint,omitempty"`
	RetrieveEndpoint  string  `json:"retrieve_endpoint,omitempty"`
	JWTAuthEnabled    bool    `json:"jwt_auth_enabled,omitempty"`
	JWTModuleRef      string  `json:"jwt_module_reference,omitempty"`
	RequestTimeout    float64 `json:"request_timeout,omitempty"`
	MaxRetries        *int    `json:"max_retries,omitempty"`
}

// InferenceRetrieval is the part of an inference_endpoint config that names its retrieval source, an FD2
// extension: the `retrieval` block's `rag`, or the shorthand `"rag_service": "<module>"`.
type InferenceRetrieval struct {
	Retrieval *struct {
		RAG string `json:"rag"`
	} `json:"retrieval"`
	RAGService string `json:"rag_service"`
}

// Source is the retrieval source named: a rag_service module's name or a RAG service URL ("" when none).
func (r InferenceRetrieval) Source() string {
	if r.Retrieval != nil && r.Retrieval.RAG != "" {
		return r.Retrieval.RAG
	}
	return r.RAGService
}

// ModelServerConfig is the part of a model_server config FD2 routes with.
type ModelServerConfig struct {
	ServiceURL     string  `json:"service_url"`
	APIKeyEnabled  bool    `json:"api_key_enabled,omitempty"`
	APIKey         string  `json:"api_key,omitempty"`
	JWTAuthEnabled bool    `json:"jwt_auth_enabled,omitempty"`
	JWTModuleRef   string  `json:"jwt_module_reference,omitempty"`
	RequestTimeout float64 `json:"request_timeout,omitempty"`
	MaxRetries     *int    `json:"max_retries,omitempty"`
}

// DecodeConfig decodes a module's config into v.
func (m *Module) DecodeConfig(v any) error {
	if err := json.Unmarshal(m.Config, v); err != nil {
		return fmt.Errorf("decoding %s config of module %q: %w", m.ModuleType, m.Name, err)
	}
	return nil
}
