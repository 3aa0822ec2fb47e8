// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Platform defaults of ModelServerModule (spec §2.3), applied to a field the manifest leaves out or sets to
// null (the Control Tower serves unset fields as null).
const (
	DefaultEmbeddingsEndpoint = "/embeddings"
	DefaultRerankEndpoint     = "/rerank"
	DefaultClassifyEndpoint   = "/classify"
	DefaultHealthEndpoint     = "/health"
	DefaultBatchSize          = 32
	DefaultRequestTimeout     = 30 * time.Second
	DefaultMaxRetries         = 2
)

// Bounds FD2 puts on a config, so that a typo cannot make every call hang for days or retry without end.
const (
	maxRequestTimeout = 24 * time.Hour
	maxMaxRetries     = 10
)

// Config is a model_server module's config: every field of the platform's ModelServerModule, with the
// platform defaults applied. The api_key is a Secret, which never prints.
type Config struct {
	// ServiceURL is the model server's root (service_url, required), e.g. http://model-server:8000.
	ServiceURL string
	// EmbeddingsEndpoint, RerankEndpoint, ClassifyEndpoint and HealthEndpoint are paths under the
	// API prefix /api/v1/models (defaults /embeddings, /rerank, /classify, /health); a value that already
	// starts with /api/v1/models/ is taken as written.
	EmbeddingsEndpoint string
	RerankEndpoint     string
	ClassifyEndpoint   string
	HealthEndpoint     string
	// DefaultEmbeddingModel, DefaultRerankerModel and DefaultClassifierModel fill model_name when a request
	// has none; empty means the model server's own default (allowed only without an allow-list).
	DefaultEmbeddingModel  string
	DefaultRerankerModel   string
	DefaultClassifierModel string
	// AvailableEmbeddingModels, AvailableRerankerModels and AvailableClassifierModels are allow-lists when
	// non-empty; empty allows any model.
	AvailableEmbeddingModels  []string
	AvailableRerankerModels   []string
	AvailableClassifierModels []string
	// BatchSize (batch_size, default 32) is informational: see the package doc.
	BatchSize int
	// RequestTimeout (request_timeout, seconds in the manifest, default 30) bounds one upstream call.
	RequestTimeout time.Duration
	// MaxRetries (max_retries, default 2) is how many times an idempotent call is retried.
	MaxRetries int
	// APIKeyEnabled and APIKey (api_key_enabled, api_key): the module's API key; the platform's schema
	// does not say who presents it, so its use is the glue's (this package only keeps it from printing
	// and refuses api_key_enabled without a key).
	APIKeyEnabled bool
	APIKey        Secret
	// JWTAuthEnabled and JWTModuleReference (jwt_auth_enabled, jwt_module_reference): the route requires a
	// token of the named jwt_config module's consumers.
	JWTAuthEnabled     bool
	JWTModuleReference string
}

// Secret is a credential from a manifest. Every fmt verb and JSON print it as [REDACTED], so that a
// Config in a log line, an error or a debug dump never shows it; string(s) is the value.
type Secret string

const redacted = "[REDACTED]"

// Format implements fmt.Formatter for every verb, %#v included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// String implements fmt.Stringer (for callers that ask for it directly).
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return redacted }

// MarshalJSON keeps the value out of JSON dumps (zap's reflection, debug endpoints).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// ConfigError is a model_server config that FD2 cannot serve: Field names the manifest field at fault.
// Its text never carries a field's value where that could be a secret.
type ConfigError struct {
	Field   string
	Problem string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "model_server config: " + e.Problem
	}
	return "model_server config field " + e.Field + ": " + e.Problem
}

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// DecodeConfig decodes a module's config: the raw manifest file or the Control Tower's normalised JSON.
// Unknown fields are ignored (the platform owns the schema) and null means the default; a field of the
// wrong type or an invalid value is a *ConfigError naming the field.
func DecodeConfig(raw json.RawMessage) (Config, error) {
	var fields map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return Config{}, configErr("", "want a JSON object")
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Config{}, configErr("", "want a JSON object")
	}
	var c Config
	d := decoder{fields: fields}
	c.ServiceURL = d.str("service_url")
	c.EmbeddingsEndpoint = d.str("embeddings_endpoint")
	c.RerankEndpoint = d.str("rerank_endpoint")
	c.ClassifyEndpoint = d.str("classify_endpoint")
	c.HealthEndpoint = d.str("health_endpoint")
	c.DefaultEmbeddingModel = d.str("default_embedding_model")
	c.DefaultRerankerModel = d.str("default_reranker_model")
	c.DefaultClassifierModel = d.str("default_classifier_model")
	c.AvailableEmbeddingModels = d.strs("available_embedding_models")
	c.AvailableRerankerModels = d.strs("available_reranker_models")
	c.AvailableClassifierModels = d.strs("available_classifier_models")
	batch, hasBatch := d.integer("batch_size")
	timeout, hasTimeout := d.number("request_timeout")
	retries, hasRetries := d.integer("max_retries")
	c.APIKeyEnabled = d.boolean("api_key_enabled")
	c.APIKey = Secret(d.str("api_key"))
	c.JWTAuthEnabled = d.boolean("jwt_auth_enabled")
	c.JWTModuleReference = d.str("jwt_module_reference")
	if d.err != nil {
		return Config{}, d.err
	}
	// Numbers are range-checked here, before defaults, since the zero value of a present field is an
	// error while that of an absent one is "use the default".
	if hasBatch {
		if batch < 1 {
			return Config{}, configErr("batch_size", "must be at least 1, got %d", batch)
		}
		c.BatchSize = batch
	}
	if hasTimeout {
		// A zero timeout would fail every call at once, so it is refused with the negative ones.
		if timeout <= 0 || timeout > maxRequestTimeout.Seconds() {
			return Config{}, configErr("request_timeout", "must be a number of seconds above 0 and at most %d, got %v", int(maxRequestTimeout.Seconds()), timeout)
		}
		c.RequestTimeout = time.Duration(timeout * float64(time.Second))
	}
	if hasRetries {
		if retries < 0 || retries > maxMaxRetries {
			return Config{}, configErr("max_retries", "must be between 0 and %d, got %d", maxMaxRetries, retries)
		}
		c.MaxRetries = retries
	} else {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.ServiceURL == "" {
		return Config{}, configErr("service_url", "is required")
	}
	if err := checkServiceURL(c.ServiceURL); err != nil {
		return Config{}, err
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// applyDefaults fills the fields a Go caller or a manifest left at their zero value, except MaxRetries,
// whose zero is a valid setting (DecodeConfig sets its default).
func (c *Config) applyDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.EmbeddingsEndpoint, DefaultEmbeddingsEndpoint)
	def(&c.RerankEndpoint, DefaultRerankEndpoint)
	def(&c.ClassifyEndpoint, DefaultClassifyEndpoint)
	def(&c.HealthEndpoint, DefaultHealthEndpoint)
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
}

// validate checks what New relies on; DecodeConfig has already range-checked the numbers it decoded.
func (c *Config) validate() error {
	for _, e := range []struct {
		field string
		p     *string
	}{
		{"embeddings_endpoint", &c.EmbeddingsEndpoint},
		{"rerank_endpoint", &c.RerankEndpoint},
		{"classify_endpoint", &c.ClassifyEndpoint},
		{"health_endpoint", &c.HealthEndpoint},
	} {
		p, err := cleanEndpoint(e.field, *e.p)
		if err != nil {
			return err
		}
		*e.p = p
	}
	if c.BatchSize < 1 {
		return configErr("batch_size", "must be at least 1, got %d", c.BatchSize)
	}
	if c.RequestTimeout < 0 || c.RequestTimeout > maxRequestTimeout {
		return configErr("request_timeout", "must be above 0 and at most %v, got %v", maxRequestTimeout, c.RequestTimeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > maxMaxRetries {
		return configErr("max_retries", "must be between 0 and %d, got %d", maxMaxRetries, c.MaxRetries)
	}
	for _, k := range kinds {
		def, list := c.models(k)
		for i, m := range list {
			if m == "" {
				return configErr(fmt.Sprintf("available_%s_models[%d]", k, i), "is empty")
			}
		}
		if def != "" && len(list) > 0 && !slices.Contains(list, def) {
			return configErr("default_"+string(k)+"_model", "%q is not in available_%s_models (%s)", def, k, strings.Join(list, ", "))
		}
	}
	// An API key the module is told to use but does not have would fail closed on every request; a load
	// error says why at once.
	if c.APIKeyEnabled && c.APIKey == "" {
		return configErr("api_key", "is required when api_key_enabled is true")
	}
	return nil
}

// checkServiceURL requires an absolute http(s) URL; the value is not echoed, since it may carry userinfo.
func checkServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return configErr("service_url", "must be an absolute http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return configErr("service_url", "must have no query or fragment")
	}
	return nil
}

// cleanEndpoint accepts a path with or without its leading slash and refuses anything that could leave the
// model server's path space (a query, a scheme, dot segments).
func cleanEndpoint(field, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.ContainsAny(p, "?#%\\ \t\r\n") || strings.Contains(p, "//") || strings.Contains(p, "://") {
		return "", configErr(field, "%q is not a plain path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", configErr(field, "%q has a dot segment", p)
		}
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "/" {
		return "", configErr(field, "must name a path, not /")
	}
	return p, nil
}

// Kind is a kind of model of the model server, which has its own default and allow-list.
type Kind string

// The kinds of model a module configures.
const (
	KindEmbedding  Kind = "embedding"
	KindReranker   Kind = "reranker"
	KindClassifier Kind = "classifier"
)

var kinds = []Kind{KindEmbedding, KindReranker, KindClassifier}

// models returns a kind's default and allow-list.
func (c *Config) models(k Kind) (string, []string) {
	switch k {
	case KindEmbedding:
		return c.DefaultEmbeddingModel, c.AvailableEmbeddingModels
	case KindReranker:
		return c.DefaultRerankerModel, c.AvailableRerankerModels
	case KindClassifier:
		return c.DefaultClassifierModel, c.AvailableClassifierModels
	}
	return "", nil
}

// decoder reads typed fields from a config object, keeping the first error. Each error names the field and
// the JSON type found, never the value.
type decoder struct {
	fields map[string]json.RawMessage
	err    error
}

// get returns a field's raw value, or nil for an absent or null field.
func (d *decoder) get(name string) json.RawMessage {
	if d.err != nil {
		return nil
	}
	v, ok := d.fields[name]
	if !ok || bytes.Equal(v, []byte("null")) {
		return nil
	}
	return v
}

func (d *decoder) fail(name, want string, v json.RawMessage) {
	d.err = configErr(name, "want %s, got %s", want, jsonType(v))
}

func (d *decoder) str(name string) string {
	v := d.get(name)
	if v == nil {
		return ""
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		d.fail(name, "a string", v)
	}
	return s
}

func (d *decoder) strs(name string) []string {
	v := d.get(name)
	if v == nil {
		return nil
	}
	var list []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &list) != nil {
		d.fail(name, "an array of strings", v)
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		var s string
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &s) != nil {
			d.fail(fmt.Sprintf("%s[%d]", name, i), "a string", e)
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (d *decoder) boolean(name string) bool {
	v := d.get(name)
	if v == nil {
		return false
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		d.fail(name, "a boolean", v)
	}
	return b
}

// number reads a JSON number; present is false for an absent or null field.
func (d *decoder) number(name string) (n float64, present bool) {
	v := d.get(name)
	if v == nil {
		return 0, false
	}
	if json.Unmarshal(v, &n) != nil {
		d.fail(name, "a number", v)
		return 0, false
	}
	return n, true
}

// integer reads a JSON number with an integral value: pydantic serialises an int field as 32, but a raw
// manifest may write 32.0.
func (d *decoder) integer(name string) (int, bool) {
	n, ok := d.number(name)
	if !ok {
		return 0, false
	}
	if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
		d.err = configErr(name, "want an integer, got %v", n)
		return 0, false
	}
	return int(n), true
}

// jsonType names a raw value's JSON type for an error message.
func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
