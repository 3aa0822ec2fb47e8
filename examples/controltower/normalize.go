// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package controltower

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file re-creates what pydantic v2 does to a manifest between the file on disk and the HTTP answer:
// ProjectManifest.model_validate (lax mode, extra="ignore") followed by model_dump(mode="json"). The field
// lists, their order and their defaults are copied from the Control Tower's app.py; the order matters
// because pydantic serialises fields in declaration order.

// kind is the pydantic annotation of a field, reduced to what changes validation or output.
type kind uint8

const (
	kindStr         kind = iota // str
	kindInt                     // int (lax: integral floats, numeric strings, bools)
	kindFloat                   // float
	kindBool                    // bool (lax: 0/1 and the pydantic strings, see parseBool)
	kindDatetime                // datetime, served as ISO 8601
	kindDict                    // Dict[str, Any]
	kindIntDict                 // Dict[str, int]
	kindDictOfDicts             // Dict[str, Dict[str, Any]]
	kindStrList                 // List[str]
	kindDictList                // List[Dict[str, Any]]
	kindStrListList             // List[List[str]]
	kindModelList               // List[<model>]
	kindPlugins                 // Union[List[APISIXPlugin], Dict[str, Any]]
)

// field is one pydantic field. A field is required when def is nil; optional (Optional[...]) fields accept
// an explicit null and keep it.
type field struct {
	name     string
	kind     kind
	optional bool
	def      func() any
	sub      *model // element model of kindModelList and kindPlugins
}

// model is a pydantic BaseModel: its fields in declaration order.
type model struct {
	name   string
	fields []field
	// before mirrors a model_validator(mode="before"); it may reject the input.
	before func(*object) error
}

// Field constructors, named after the Python annotation they stand for.

func reqStr(name string) field { return field{name: name, kind: kindStr} }
func str(name, def string) field {
	return field{name: name, kind: kindStr, def: func() any { return def }}
}
func optStr(name string) field {
	return field{name: name, kind: kindStr, optional: true, def: func() any { return nil }}
}
func optStrDef(name, def string) field {
	return field{name: name, kind: kindStr, optional: true, def: func() any { return def }}
}
func integer(name string, def int64) field {
	return field{name: name, kind: kindInt, def: func() any { return json.Number(strconv.FormatInt(def, 10)) }}
}
func optIntDef(name string, def int64) field {
	f := integer(name, def)
	f.optional = true
	return f
}
func optInt(name string) field {
	return field{name: name, kind: kindInt, optional: true, def: func() any { return nil }}
}
func float(name string, def float64) field {
	return field{name: name, kind: kindFloat, def: func() any { return json.Number(pyFloat(def)) }}
}
func optFloatDef(name string, def float64) field {
	f := float(name, def)
	f.optional = true
	return f
}
func boolean(name string, def bool) field {
	return field{name: name, kind: kindBool, def: func() any { return def }}
}
func dict(name string) field {
	return field{name: name, kind: kindDict, def: func() any { return newObject(0) }}
}
func optDict(name string) field {
	return field{name: name, kind: kindDict, optional: true, def: func() any { return nil }}
}
func strList(name string, def ...string) field {
	return field{name: name, kind: kindStrList, def: func() any {
		out := make([]any, len(def))
		for i, s := range def {
			out[i] = s
		}
		return out
	}}
}
func reqStrList(name string) field { return field{name: name, kind: kindStrList} }
func dictList(name string) field {
	return field{name: name, kind: kindDictList, def: func() any { return []any{} }}
}
func modelList(name string, sub *model) field {
	return field{name: name, kind: kindModelList, sub: sub, def: func() any { return []any{} }}
}

// timeouts returns an APISIX upstream's default {"connect":30,"send":30,"read":30}.
func timeouts() any {
	o := newObject(3)
	for _, k := range []string{"connect", "send", "read"} {
		o.set(k, json.Number("30"))
	}
	return o
}

var (
	jwtConfigModel = &model{name: "JWTConfigModule", fields: []field{
		optStr("secret_key"),
		str("algorithm", "HS256"),
		integer("expiration_minutes", 30),
		optStr("issuer"),
		optStr("audience"),
		boolean("refresh_token_enabled", true),
		optStr("id"),
		optStr("owner"),
		optStr("service_url"),
		optDict("claims"),
		// The Control Tower types jwe_config as a plain Optional[Dict[str, Any]] ("nested format only"), so
		// it is served as written, without defaults.
		optDict("jwe_config"),
	}}

	ragConfigModel = &model{name: "RAGConfigModule", fields: []field{
		reqStr("vector_store_type"),
		reqStr("embedding_model"),
		integer("chunk_size", 512),
		integer("chunk_overlap", 50),
		integer("retrieval_k", 5),
		boolean("reranker_enabled", false),
		boolean("query_expansion_enabled", false),
	}}

	ragServiceModel = &model{name: "RAGServiceModule", fields: []field{
		reqStr("service_url"),
		reqStr("configuration_name"),
		str("query_endpoint", "/query"),
		str("retrieve_endpoint", "/retrieve"),
		integer("default_k", 5),
		float("default_similarity_threshold", 0),
		boolean("use_reranking", false),
		boolean("filter_after_reranking", true),
		boolean("query_expansion_enabled", false),
		optStr("query_expansion_strategy"),
		optStr("query_expansion_llm_config"),
		integer("query_expansion_num_queries", 3),
		boolean("jwt_auth_enabled", false),
		optStr("jwt_module_reference"),
		integer("request_timeout", 60),
		integer("max_retries", 2),
		optDict("default_metadata_filter"),
	}}

	modelServerModel = &model{name: "ModelServerModule", fields: []field{
		reqStr("service_url"),
		str("embeddings_endpoint", "/embeddings"),
		str("rerank_endpoint", "/rerank"),
		str("classify_endpoint", "/classify"),
		str("health_endpoint", "/health"),
		optStr("default_embedding_model"),
		optStr("default_reranker_model"),
		optStr("default_classifier_model"),
		strList("available_embedding_models"),
		strList("available_reranker_models"),
		strList("available_classifier_models"),
		integer("batch_size", 32),
		integer("request_timeout", 30),
		integer("max_retries", 2),
		boolean("api_key_enabled", false),
		optStr("api_key"),
		boolean("jwt_auth_enabled", false),
		optStr("jwt_module_reference"),
	}}

	genericGatewayModel = &model{name: "APIGatewayModule", fields: []field{
		str("gateway_type", "generic"),
		{name: "rate_limiting", kind: kindIntDict, def: func() any { return newObject(0) }},
		strList("cors_origins"),
		boolean("authentication_required", true),
		str("api_versioning", "v1"),
		integer("request_timeout", 30),
		str("load_balancing_strategy", "round_robin"),
	}, before: func(o *object) error {
		if o.str("gateway_type") == "apisix" {
			return errors.New("use APISIXGatewayModule for gateway_type='apisix'")
		}
		return nil
	}}

	apisixPluginModel = &model{name: "APISIXPlugin", fields: []field{
		reqStr("name"),
		boolean("enabled", true),
		dict("config"),
		optInt("priority"),
	}}

	apisixRouteModel = &model{name: "APISIXRoute", fields: []field{
		reqStr("name"),
		reqStr("uri"),
		strList("methods", "GET", "POST"),
		optStr("upstream_id"),
		optDict("upstream"),
		optStr("service_id"),
		{name: "plugins", kind: kindPlugins, sub: apisixPluginModel, def: func() any { return newObject(0) }},
		optStr("host"),
		integer("priority", 0),
		{name: "vars", kind: kindStrListList, optional: true, def: func() any { return nil }},
	}}

	apisixUpstreamModel = &model{name: "APISIXUpstream", fields: []field{
		reqStr("name"),
		str("type", "roundrobin"),
		{name: "nodes", kind: kindIntDict},
		{name: "timeout", kind: kindIntDict, def: timeouts},
		integer("retries", 1),
		optDict("health_check"),
	}}

	apisixGatewayModel = &model{name: "APISIXGatewayModule", fields: []field{
		str("gateway_type", "apisix"),
		str("admin_api_url", "http://localhost:9080"),
		str("admin_key", "${APISIX_ADMIN_KEY}"),
		// A plain str with a default in the Control Tower (not Optional), so an explicit null fails validation.
		str("gateway_url", "http://localhost:9080"),
		optStrDef("dashboard_url", "http://localhost:9000"),
		modelList("routes", apisixRouteModel),
		modelList("upstreams", apisixUpstreamModel),
		optDict("consumer"),
		optDict("service"),
		modelList("global_plugins", apisixPluginModel),
		boolean("jwt_auth_enabled", true),
		boolean("rate_limiting_enabled", true),
		boolean("logging_enabled", true),
		boolean("prometheus_enabled", true),
		boolean("ssl_enabled", false),
		optStr("ssl_cert"),
		optStr("ssl_key"),
		boolean("cors_enabled", true),
		strList("cors_origins", "*"),
		strList("cors_methods", "GET", "POST", "PUT", "DELETE", "OPTIONS"),
		integer("default_timeout", 60),
		integer("default_retries", 2),
		boolean("streaming_enabled", true),
		boolean("response_buffering", false),
		boolean("request_buffering", true),
	}}

	inferenceEndpointModel = &model{name: "InferenceEndpointModule", fields: []field{
		optStr("apisix_route"),
		optStr("apisix_gateway_module"),
		optStr("model_name"),
		optStrDef("model_version", "latest"),
		optStr("endpoint_url"),
		optStr("system_prompt"),
		optIntDef("max_tokens", 1024),
		optFloatDef("temperature", 0.7),
		optFloatDef("top_p", 0.9),
		optIntDef("batch_size", 1),
	}}

	securityModel = &model{name: "SecurityModule", fields: []field{
		boolean("encryption_at_rest", true),
		boolean("encryption_in_transit", true),
		boolean("vulnerability_scanning", true),
		str("access_control_type", "rbac"),
		boolean("audit_logging", true),
		strList("compliance_standards"),
	}}

	monitoringModel = &model{name: "MonitoringModule", fields: []field{
		boolean("metrics_enabled", true),
		str("logging_level", "INFO"),
		boolean("tracing_enabled", true),
		integer("health_check_interval", 30),
		boolean("alerting_enabled", true),
		optStr("dashboard_url"),
	}}

	modelRegistryModel = &model{name: "ModelRegistryModule", fields: []field{
		reqStr("registry_type"),
		reqStr("registry_url"),
		boolean("auto_versioning", true),
		boolean("model_validation", true),
		boolean("metadata_tracking", true),
		boolean("experiment_tracking", true),
	}}

	dataPipelineModel = &model{name: "DataPipelineModule", fields: []field{
		reqStr("pipeline_type"),
		reqStrList("data_sources"),
		reqStrList("data_sinks"),
		reqStr("processing_engine"),
		optStr("schedule"),
		boolean("data_quality_checks", true),
	}}

	deploymentModel = &model{name: "DeploymentModule", fields: []field{
		str("deployment_strategy", "blue_green"),
		reqStr("container_registry"),
		reqStr("orchestration_platform"),
		boolean("auto_scaling", true),
		boolean("rollback_enabled", true),
		{name: "environment_configs", kind: kindDictOfDicts, def: func() any { return newObject(0) }},
	}}

	resourceManagementModel = &model{name: "ResourceManagementModule", fields: []field{
		dict("compute_resources"),
		dict("storage_resources"),
		dict("network_resources"),
		dict("auto_scaling_policies"),
		boolean("cost_optimization", true),
		dict("resource_quotas"),
	}}

	notificationModel = &model{name: "NotificationModule", fields: []field{
		boolean("email_enabled", true),
		boolean("slack_enabled", false),
		boolean("webhook_enabled", false),
		dict("notification_channels"),
		dictList("alert_rules"),
		dictList("escalation_policies"),
	}}

	backupRecoveryModel = &model{name: "BackupRecoveryModule", fields: []field{
		boolean("backup_enabled", true),
		str("backup_frequency", "daily"),
		str("retention_policy", "30d"),
		boolean("disaster_recovery_enabled", true),
		str("backup_storage_type", "cloud"),
		boolean("restore_testing", true),
	}}

	vaultInstanceModel = &model{name: "VaultInstanceConfig", fields: []field{
		reqStr("instance_name"),
		reqStr("vault_url"),
		optStr("vault_namespace"),
		str("auth_method", "token"),
		optStr("vault_token"),
		optStr("role_id"),
		optStr("secret_id"),
		str("kv_mount_point", "secret"),
		integer("kv_version", 2),
		boolean("verify_ssl", true),
		integer("timeout", 30),
	}}

	vaultModel = &model{name: "VaultModule", fields: []field{
		modelList("vault_instances", vaultInstanceModel),
		optStr("vault_config_file"),
		optStr("secrets_config_file"),
		boolean("encryption_enabled", true),
		str("encryption_key_source", "env:ENCRYPTION_KEY"),
		boolean("cache_secrets", true),
		integer("cache_ttl", 300),
		boolean("allow_env_fallback", true),
		boolean("fail_on_missing_secret", true),
	}}

	langGraphWorkflowModel = &model{name: "LangGraphWorkflowModule", fields: []field{
		reqStr("workflow_name"),
		str("workflow_type", "sequential"),
		dictList("nodes"),
		dictList("edges"),
		dict("state_schema"),
		optStr("jwt_module"),
		strList("inference_modules"),
		integer("max_iterations", 10),
		integer("timeout_seconds", 300),
		boolean("enable_checkpointing", false),
		boolean("retry_on_error", true),
		integer("max_retries", 3),
		boolean("tracing_enabled", true),
		boolean("log_intermediate_results", true),
	}}

	// configModels is ModuleConfig.validate_config's type_to_config table. api_gateway is special-cased in
	// normalizeConfig on gateway_type.
	configModels = map[string]*model{
		"jwt_config":          jwtConfigModel,
		"rag_config":          ragConfigModel,
		"rag_service":         ragServiceModel,
		"model_server":        modelServerModel,
		"inference_endpoint":  inferenceEndpointModel,
		"security":            securityModel,
		"monitoring":          monitoringModel,
		"model_registry":      modelRegistryModel,
		"data_pipeline":       dataPipelineModel,
		"deployment":          deploymentModel,
		"resource_management": resourceManagementModel,
		"notifications":       notificationModel,
		"backup_recovery":     backupRecoveryModel,
		"vault":               vaultModel,
		"langgraph_workflow":  langGraphWorkflowModel,
	}

	// moduleTypes is the ModuleType enum; configModels plus api_gateway.
	moduleTypes = func() map[string]bool {
		m := map[string]bool{"api_gateway": true}
		for k := range configModels {
			m[k] = true
		}
		return m
	}()

	moduleStatuses = map[string]bool{"enabled": true, "disabled": true, "deprecated": true, "development": true}
)

// validate runs m over in and returns a new object holding exactly m's fields, in m's order. Unknown keys are
// dropped (pydantic's extra="ignore").
func (m *model) validate(in *object) (*object, error) {
	if m.before != nil {
		if err := m.before(in); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	out := newObject(len(m.fields))
	for _, f := range m.fields {
		v, ok := in.get(f.name)
		if !ok {
			if f.def == nil {
				return nil, fmt.Errorf("%s.%s: field required", m.name, f.name)
			}
			out.set(f.name, f.def())
			continue
		}
		if v == nil {
			if !f.optional {
				return nil, fmt.Errorf("%s.%s: null is not allowed", m.name, f.name)
			}
			out.set(f.name, nil)
			continue
		}
		cv, err := coerce(f, v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", m.name, f.name, err)
		}
		out.set(f.name, cv)
	}
	return out, nil
}

// coerce validates a non-null value against f in pydantic's lax mode and returns its serialised form.
func coerce(f field, v any) (any, error) {
	switch f.kind {
	case kindStr:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("input should be a valid string, got %T", v)
	case kindInt:
		return coerceInt(v)
	case kindFloat:
		return coerceFloat(v)
	case kindBool:
		return coerceBool(v)
	case kindDatetime:
		return coerceDatetime(v)
	case kindDict:
		if o, ok := v.(*object); ok {
			return o, nil
		}
		return nil, fmt.Errorf("input should be a valid dictionary, got %T", v)
	case kindIntDict:
		o, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("input should be a valid dictionary, got %T", v)
		}
		out := newObject(o.len())
		for _, k := range o.keys {
			n, err := coerceInt(o.vals[k])
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", k, err)
			}
			out.set(k, n)
		}
		return out, nil
	case kindDictOfDicts:
		o, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("input should be a valid dictionary, got %T", v)
		}
		for _, k := range o.keys {
			if _, ok := o.vals[k].(*object); !ok {
				return nil, fmt.Errorf("[%q]: input should be a valid dictionary", k)
			}
		}
		return o, nil
	case kindStrList, kindDictList, kindStrListList, kindModelList:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("input should be a valid list, got %T", v)
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			ev, err := coerceElem(f, e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, ev)
		}
		return out, nil
	case kindPlugins:
		// Union[List[APISIXPlugin], Dict[str, Any]]: a list validates as plugin models, a dict as itself.
		switch t := v.(type) {
		case *object:
			return t, nil
		case []any:
			return coerce(field{name: f.name, kind: kindModelList, sub: f.sub}, t)
		}
		return nil, fmt.Errorf("input should be a list of plugins or a dictionary, got %T", v)
	}
	return nil, fmt.Errorf("unknown field kind %d", f.kind)
}

func coerceElem(f field, e any) (any, error) {
	switch f.kind {
	case kindStrList:
		return coerce(field{kind: kindStr}, e)
	case kindDictList:
		return coerce(field{kind: kindDict}, e)
	case kindStrListList:
		return coerce(field{kind: kindStrList}, e)
	default: // kindModelList
		o, ok := e.(*object)
		if !ok {
			return nil, fmt.Errorf("input should be a valid dictionary or instance of %s", f.sub.name)
		}
		return f.sub.validate(o)
	}
}

func coerceInt(v any) (any, error) {
	var lit string
	switch t := v.(type) {
	case json.Number:
		lit = string(t)
	case bool:
		if t {
			return json.Number("1"), nil
		}
		return json.Number("0"), nil
	case string:
		lit = strings.TrimSpace(t)
	default:
		return nil, fmt.Errorf("input should be a valid integer, got %T", v)
	}
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return json.Number(strconv.FormatInt(n, 10)), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("input should be a valid integer, got %q", lit)
	}
	if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return nil, fmt.Errorf("input should be a valid integer, got a number with a fractional part: %q", lit)
	}
	return json.Number(strconv.FormatInt(int64(f), 10)), nil
}

func coerceFloat(v any) (any, error) {
	var lit string
	switch t := v.(type) {
	case json.Number:
		lit = string(t)
	case bool:
		if t {
			return json.Number("1.0"), nil
		}
		return json.Number("0.0"), nil
	case string:
		lit = strings.TrimSpace(t)
	default:
		return nil, fmt.Errorf("input should be a valid number, got %T", v)
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("input should be a valid number, got %q", lit)
	}
	return json.Number(pyFloat(f)), nil
}

func coerceBool(v any) (any, error) {
	switch t := v.(type) {
	case bool:
		return t, nil
	case json.Number:
		switch f, err := strconv.ParseFloat(string(t), 64); {
		case err == nil && f == 0:
			return false, nil
		case err == nil && f == 1:
			return true, nil
		}
	case string:
		if b, ok := parseBool(t); ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("input should be a valid boolean, got %v", v)
}

// parseBool is pydantic-core's str_as_bool: exact "0"/"1" and case-insensitive f/n/no/off/false and
// t/y/yes/on/true. Surrounding whitespace is not accepted.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "0", "f", "n", "no", "off", "false":
		return false, true
	case "1", "t", "y", "yes", "on", "true":
		return true, true
	}
	return false, false
}

// isoDatetime is the subset of ISO 8601 that pydantic accepts for a datetime: a date, optionally a time with
// optional seconds and fraction, and an optional Z or ±HH[:]MM offset.
var isoDatetime = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[Tt _](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$`)

// coerceDatetime parses what pydantic parses as a datetime and prints it as pydantic's JSON mode does:
// YYYY-MM-DDTHH:MM:SS, then .ffffff only when microseconds are non-zero, then Z or ±HH:MM when the input
// carried an offset. Numbers are Unix times (milliseconds above 2e10, as pydantic guesses) in UTC.
func coerceDatetime(v any) (any, error) {
	var lit string
	switch t := v.(type) {
	case json.Number:
		lit = string(t)
	case string:
		lit = t
	default:
		return nil, fmt.Errorf("input should be a valid datetime, got %T", v)
	}
	if f, err := strconv.ParseFloat(lit, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		if math.Abs(f) > 2e10 {
			f /= 1000
		}
		sec, frac := math.Modf(f)
		t := time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC()
		return formatDatetime(t, true), nil
	}
	m := isoDatetime.FindStringSubmatch(lit)
	if m == nil {
		return nil, fmt.Errorf("input should be a valid datetime, got %q", lit)
	}
	num := func(s string) int {
		n, _ := strconv.Atoi(s) // the regexp only lets digits through
		return n
	}
	frac := m[7]
	for len(frac) < 9 {
		frac += "0"
	}
	loc, aware := time.UTC, false
	if tz := m[8]; tz != "" {
		aware = true
		if tz != "Z" && tz != "z" {
			digits := strings.ReplaceAll(tz[1:], ":", "")
			off := num(digits[:2]) * 3600
			if len(digits) == 4 {
				off += num(digits[2:]) * 60
			}
			if tz[0] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
	}
	year, month, day, hour, minute, second := num(m[1]), num(m[2]), num(m[3]), num(m[4]), num(m[5]), num(m[6])
	t := time.Date(year, time.Month(month), day, hour, minute, second, num(frac)/1000*1000, loc)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != second {
		return nil, fmt.Errorf("input should be a valid datetime, %q is out of range", lit)
	}
	return formatDatetime(t, aware), nil
}

func formatDatetime(t time.Time, aware bool) string {
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	if !aware {
		return s
	}
	_, off := t.Zone()
	if off == 0 {
		return s + "Z"
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return s + fmt.Sprintf("%c%02d:%02d", sign, off/3600, off/60%60)
}

// normalizeConfig is ModuleConfig.validate_config: validate config against the class of its module_type
// and, when that fails, keep the dict as written. (The Control Tower then lets pydantic's union matching
// pick any model the dict happens to fit; serving the dict unchanged is the lenient reading of that.) An
// empty config skips typed validation altogether, as `if not config` does there.
func normalizeConfig(moduleType string, cfg *object) *object {
	if cfg.len() == 0 {
		return cfg
	}
	m := configModels[moduleType]
	if moduleType == "api_gateway" {
		m = genericGatewayModel
		if cfg.str("gateway_type") == "apisix" {
			m = apisixGatewayModel
		}
	}
	if m == nil {
		return cfg
	}
	out, err := m.validate(cfg)
	if err != nil {
		return cfg
	}
	return out
}

// normalizeModule validates one ModuleConfig envelope: exactly module_type, name, version, status,
// description and config, in that order.
func normalizeModule(v any) (*object, error) {
	in, ok := v.(*object)
	if !ok {
		return nil, errors.New("module should be a valid dictionary")
	}
	mt, ok := in.vals["module_type"].(string)
	if !ok || !moduleTypes[mt] {
		return nil, fmt.Errorf("module_type %v is not a ModuleType", in.vals["module_type"])
	}
	name, ok := in.vals["name"].(string)
	if !ok {
		return nil, errors.New("module name should be a valid string")
	}
	out := newObject(6)
	out.set("module_type", mt)
	out.set("name", name)
	for _, f := range []field{optStrDef("version", "1.0.0"), optStrDef("status", "enabled"), optStr("description")} {
		val, present := in.get(f.name)
		switch {
		case !present:
			val = f.def()
		case val == nil:
		default:
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("module %q: %s should be a valid string", name, f.name)
			}
			if f.name == "status" && !moduleStatuses[s] {
				return nil, fmt.Errorf("module %q: status %q is not a ModuleStatus", name, s)
			}
		}
		out.set(f.name, val)
	}
	cfg, ok := in.vals["config"].(*object)
	if !ok {
		// Every member of the config union, Dict[str, Any] included, needs a dict.
		return nil, fmt.Errorf("module %q: config should be a valid dictionary", name)
	}
	out.set("config", normalizeConfig(mt, cfg))
	return out, nil
}

// normalizeManifest validates a ProjectManifest and returns it as pydantic serialises it. now stands in for
// datetime.now(), which fills an absent created_at or updated_at on every load.
func normalizeManifest(v any, now time.Time) (*object, error) {
	in, ok := v.(*object)
	if !ok {
		return nil, errors.New("manifest should be a valid dictionary")
	}
	nowStr := formatDatetime(now, false)
	stamp := field{kind: kindDatetime, optional: true, def: func() any { return nowStr }}
	top := &model{name: "ProjectManifest", fields: []field{
		reqStr("project_id"),
		reqStr("project_name"),
		optStrDef("version", "1.0.0"),
		optStr("description"),
		optStr("owner"),
		{name: "tags", kind: kindStrList, optional: true, def: func() any { return []any{} }},
		optStrDef("environment", "development"),
		{name: "environments", kind: kindDictOfDicts, optional: true, def: func() any { return newObject(0) }},
	}}
	head, err := top.validate(in)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"created_at", "updated_at"} {
		f := stamp
		f.name = name
		val, present := in.get(name)
		switch {
		case !present:
			val = f.def()
		case val != nil:
			if val, err = coerceDatetime(val); err != nil {
				return nil, fmt.Errorf("ProjectManifest.%s: %w", name, err)
			}
		}
		head.set(name, val)
	}
	rawMods, ok := in.vals["modules"].([]any)
	if !ok {
		return nil, errors.New("ProjectManifest.modules: field required (a list)")
	}
	mods := make([]any, 0, len(rawMods))
	for i, rm := range rawMods {
		mod, err := normalizeModule(rm)
		if err != nil {
			return nil, fmt.Errorf("ProjectManifest.modules[%d]: %w", i, err)
		}
		mods = append(mods, mod)
	}
	head.set("modules", mods)
	meta, present := in.get("metadata")
	switch {
	case !present:
		meta = newObject(0)
	case meta == nil:
	default:
		if _, ok := meta.(*object); !ok {
			return nil, errors.New("ProjectManifest.metadata: input should be a valid dictionary")
		}
	}
	head.set("metadata", meta)
	return head, nil
}
