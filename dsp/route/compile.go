// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Defaults of the original APISIX translation (spec §3.4) and of the module config classes (spec §2.3).
const (
	defaultTimeout       = 30 * time.Second
	defaultRetries       = 1
	moduleConnectTimeout = 10 * time.Second
	ragRequestTimeout    = 60 * time.Second
	modelRequestTimeout  = 30 * time.Second
	moduleRetries        = 2
	tokenBrokerTimeout   = 30 * time.Second // the original broker's outbound timeout
	legacyRAGSegment     = "rag"
	legacyModelsSegment  = "models"
	legacyIDSuffix       = "/legacy"
	tokenSuffix          = "/token"
)

type patKind uint8

const (
	patExact patKind = iota + 1
	patParam
	patPrefix
)

// pattern is a parsed APISIX uri.
type pattern struct {
	kind     patKind
	prefix   string
	segs     []string
	lit      string
	wildcard bool
}

// parsePattern parses an APISIX radixtree uri: exact, ":param" segments with an optional final "*", or a
// prefix ending in "*" (or "*name").
func parsePattern(uri string) (pattern, error) {
	if uri == "" || uri[0] != '/' {
		return pattern{}, fmt.Errorf("uri %q must start with /", uri)
	}
	last := strings.LastIndexByte(uri, '/')
	lastSeg := uri[last+1:]
	if strings.Contains(uri, "/:") {
		body, wildcard := uri, false
		if strings.HasPrefix(lastSeg, "*") {
			body, wildcard = uri[:last], true
		}
		if strings.ContainsRune(body, '*') {
			return pattern{}, fmt.Errorf("uri %q: * is only allowed at the end", uri)
		}
		segs := strings.Split(body[1:], "/")
		for _, s := range segs {
			if s == ":" {
				return pattern{}, fmt.Errorf("uri %q: parameter without a name", uri)
			}
		}
		return pattern{kind: patParam, segs: segs, lit: uri[:strings.Index(uri, "/:")+1], wildcard: wildcard}, nil
	}
	if i := strings.IndexByte(uri, '*'); i >= 0 {
		switch {
		case strings.HasPrefix(lastSeg, "*") && i == last+1:
			return pattern{kind: patPrefix, prefix: uri[:last+1]}, nil
		case i == len(uri)-1:
			return pattern{kind: patPrefix, prefix: uri[:i]}, nil
		}
		return pattern{}, fmt.Errorf("uri %q: * is only allowed at the end", uri)
	}
	return pattern{kind: patExact, prefix: uri}, nil
}

type compiler struct {
	project string
	m       *manifest.Manifest
	warns   []string
	ids     map[string]bool
	order   int

	gateways map[int]*manifest.GatewayConfig // decoded once, by module index
	globals  manifest.Plugins                // project-wide global plugins, for module routes

	entries   []*entry // explicit patterns, manifest order
	explicit  []*Route
	modules   map[string]*moduleEntry
	ragAlias  map[string]*moduleEntry
	modAlias  map[string]*moduleEntry
	modOrder  []*moduleEntry // module routes, manifest order
	consumers []manifest.Consumer
}

func (c *compiler) warnf(format string, args ...any) {
	c.warns = append(c.warns, fmt.Sprintf(format, args...))
}

// Compile builds the route table of a manifest. projectID is the id the manifest was fetched under: the
// Control Tower looks manifests up by file stem, which can differ from project_id, and requests name the
// stem. An empty projectID falls back to the manifest's project_id. Problems with single routes come back
// as warnings and drop or degrade only that route. The error is reserved for inputs no table can be built
// from.
func Compile(projectID string, m *manifest.Manifest) (*Table, []string, error) {
	if m == nil {
		return nil, nil, fmt.Errorf("compiling routes: %w", ErrNoManifest)
	}
	if projectID == "" {
		projectID = m.ProjectID
	}
	if !manifest.ValidProjectID(projectID) {
		return nil, nil, fmt.Errorf("compiling routes for project %q: %w", projectID, ErrInvalidProject)
	}
	c := &compiler{
		project:  projectID,
		m:        m,
		ids:      make(map[string]bool),
		gateways: make(map[int]*manifest.GatewayConfig),
		modules:  make(map[string]*moduleEntry),
		ragAlias: make(map[string]*moduleEntry),
		modAlias: make(map[string]*moduleEntry),
	}
	// First pass: gateway configs, because module routes need every gateway's global plugins whatever
	// the module order.
	for i := range m.Modules {
		mod := &m.Modules[i]
		if mod.ModuleType != manifest.TypeAPIGateway || !mod.Enabled() {
			continue
		}
		gw, err := mod.Gateway()
		if err != nil {
			c.warnf("api_gateway %q: %v; its routes are dropped", mod.Name, err)
			continue
		}
		c.gateways[i] = gw
		c.globals = mergePlugins(c.globals, gw.GlobalPlugins)
		if gw.Consumer != nil {
			c.consumers = append(c.consumers, *gw.Consumer)
		}
	}
	for i := range m.Modules {
		mod := &m.Modules[i]
		if !mod.Enabled() {
			continue
		}
		switch mod.ModuleType {
		case manifest.TypeAPIGateway:
			if gw := c.gateways[i]; gw != nil {
				c.gateway(mod, gw)
			}
		case manifest.TypeInferenceEndpoint:
			c.inference(mod)
		case manifest.TypeRAGService:
			c.rag(mod)
		case manifest.TypeModelServer:
			c.modelServer(mod)
		case manifest.TypeJWTConfig:
			c.tokenBroker(mod)
		case manifest.TypeVault, manifest.TypeMonitoring, manifest.TypeSecurity, manifest.TypeRAGConfig:
			// App-level types configure FD2 itself; they serve no requests.
		default:
			c.generic(mod)
		}
	}
	t := c.build() // build adds warnings too, so it must run before c.warns is read
	return t, c.warns, nil
}

// uniqueID reserves id, renaming a clash to "id#2", "id#3", … so that metric labels stay distinct.
func (c *compiler) uniqueID(id string) string {
	if !c.ids[id] {
		c.ids[id] = true
		return id
	}
	for n := 2; ; n++ {
		alt := id + "#" + strconv.Itoa(n)
		if !c.ids[alt] {
			c.ids[alt] = true
			c.warnf("duplicate route id %q renamed to %q", id, alt)
			return alt
		}
	}
}

// rawNodes records which upstreams of a gateway config use the list form of nodes, where a missing weight
// means 1; manifest.Nodes no longer tells the two forms apart.
type rawNodes struct {
	Routes []struct {
		Upstream *struct {
			Nodes json.RawMessage `json:"nodes"`
		} `json:"upstream"`
	} `json:"routes"`
	Upstreams []struct {
		Nodes json.RawMessage `json:"nodes"`
	} `json:"upstreams"`
}

func isList(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '['
}

// namedUpstream is a normalised upstreams[] entry, or why it could not be normalised.
type namedUpstream struct {
	up  *Upstream
	err error
}

func (c *compiler) gateway(mod *manifest.Module, gw *manifest.GatewayConfig) {
	var raw rawNodes
	_ = json.Unmarshal(mod.Config, &raw) // already decoded once as GatewayConfig; only the node form matters

	// upstreams[] are normalised once and shared by the routes that name them, so dispatch can pool one
	// proxy per upstream.
	byID := make(map[string]*namedUpstream)
	byName := make(map[string]*namedUpstream)
	for i := range gw.Upstreams {
		u := &gw.Upstreams[i]
		list := i < len(raw.Upstreams) && isList(raw.Upstreams[i].Nodes)
		name := cmp.Or(u.Name, u.ID, fmt.Sprintf("upstreams[%d]", i))
		nu := &namedUpstream{}
		nu.up, nu.err = c.normUpstream(u, list, mod.Name+"/"+name, fmt.Sprintf("api_gateway %q upstream %q", mod.Name, name))
		if u.ID != "" {
			if _, dup := byID[u.ID]; !dup {
				byID[u.ID] = nu
			}
		}
		if u.Name != "" {
			if _, dup := byName[u.Name]; !dup {
				byName[u.Name] = nu
			}
		}
	}

	for j := range gw.Routes {
		r := &gw.Routes[j]
		if r.Status != nil && *r.Status == 0 {
			continue // APISIX: status 0 disables the route
		}
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("routes[%d]", j)
			c.warnf("api_gateway %q: route %d has no name; using %q", mod.Name, j, name)
		}
		where := fmt.Sprintf("api_gateway %q route %q", mod.Name, name)
		rt, pats, err := c.explicitRoute(mod, gw, r, name, where)
		if err != nil {
			c.warnf("%s: %v; route dropped", where, err)
			continue
		}
		// A missing upstream keeps the route (dispatch answers 502, which tells the caller the route exists
		// but is unfinished), while an invalid one drops it: half-understood proxy settings (scheme,
		// pass_host) could send traffic somewhere the manifest did not mean.
		switch {
		case r.Upstream != nil:
			list := j < len(raw.Routes) && raw.Routes[j].Upstream != nil && isList(raw.Routes[j].Upstream.Nodes)
			up, err := c.normUpstream(r.Upstream, list, mod.Name+"/"+name, where)
			if err != nil {
				c.warnf("%s: upstream: %v; route dropped", where, err)
				continue
			}
			rt.Upstream = up
		case r.UpstreamID != "":
			nu := c.lookupUpstream(r.UpstreamID, byID, byName)
			if nu == nil {
				c.warnf("%s: upstream_id %q matches no upstreams[] id or name; the route has no upstream", where, r.UpstreamID)
				break
			}
			if nu.err != nil {
				c.warnf("%s: upstream %q: %v; route dropped", where, r.UpstreamID, nu.err)
				continue
			}
			rt.Upstream = nu.up
		case r.ServiceID != "":
			// The original translation attached {project}-service, which never has an upstream either.
			c.warnf("%s: only service_id %q is set and FD2 has no APISIX services; the route has no upstream", where, r.ServiceID)
		default:
			c.warnf("%s: no upstream; dispatch answers 502", where)
		}
		rt.ID = c.uniqueID(mod.Name + "/" + name)
		c.explicit = append(c.explicit, rt)
		for _, p := range pats {
			c.entries = append(c.entries, &entry{route: rt, kind: p.kind, prefix: p.prefix, segs: p.segs, lit: p.lit, wildcard: p.wildcard, order: c.order})
			c.order++
		}
	}
}

// lookupUpstream finds the upstreams[] entry an upstream_id names: by id, then by name, then — because the
// original FD2 created each entry in APISIX as "{project}-{name}" and manifests reference it that way — by
// the same after stripping a "{project}-" prefix, where project is the id the manifest is served under or
// its project_id (they differ when the file stem does). Exact matches come first, so an upstream whose own
// name starts with the prefix is never shadowed.
func (c *compiler) lookupUpstream(ref string, byID, byName map[string]*namedUpstream) *namedUpstream {
	find := func(key string) *namedUpstream {
		if nu := byID[key]; nu != nil {
			return nu
		}
		return byName[key]
	}
	if nu := find(ref); nu != nil {
		return nu
	}
	for _, project := range []string{c.project, c.m.ProjectID} {
		if bare, ok := strings.CutPrefix(ref, project+"-"); ok && project != "" && bare != "" {
			if nu := find(bare); nu != nil {
				return nu
			}
		}
	}
	return nil
}

// explicitRoute compiles everything of an APISIX route but its upstream.
func (c *compiler) explicitRoute(mod *manifest.Module, gw *manifest.GatewayConfig, r *manifest.Route, name, where string) (*Route, []pattern, error) {
	var uris []string
	if r.URI != "" {
		uris = append(uris, r.URI)
	}
	for _, u := range r.URIs {
		if u != "" && !slices.Contains(uris, u) {
			uris = append(uris, u)
		}
	}
	if len(uris) == 0 {
		return nil, nil, errors.New("no uri")
	}
	pats := make([]pattern, 0, len(uris))
	for _, u := range uris {
		p, err := parsePattern(u)
		if err != nil {
			return nil, nil, err
		}
		pats = append(pats, p)
		c.checkProjectPrefix(where, u)
	}
	var methods MethodSet
	for _, m := range r.Methods {
		bit := ParseMethod(strings.ToUpper(m))
		if bit == 0 {
			return nil, nil, fmt.Errorf("invalid method %q", m)
		}
		methods |= bit
	}
	hosts, err := parseHosts(r.Host, r.Hosts)
	if err != nil {
		return nil, nil, err
	}
	vars, err := compileVars(r.Vars)
	if err != nil {
		return nil, nil, err
	}
	return &Route{
		Name:       name,
		Module:     mod.Name,
		Kind:       KindUpstream,
		URI:        uris[0],
		URIs:       uris,
		Methods:    methods,
		Hosts:      hosts,
		Priority:   r.Priority,
		Vars:       r.Vars,
		Plugins:    mergePlugins(gw.GlobalPlugins, r.Plugins),
		Globals:    globalNames(gw.GlobalPlugins, r.Plugins),
		ModuleType: mod.ModuleType,
		vars:       vars,
	}, pats, nil
}

// checkProjectPrefix warns about a route outside its project's path space. The route still works when the
// caller hands Match such a path, because the original forwarded the full path to APISIX unchanged.
func (c *compiler) checkProjectPrefix(where, uri string) {
	lit := strings.TrimRight(uri, "*")
	own := "/" + c.project
	if lit == own || strings.HasPrefix(lit, own+"/") {
		return
	}
	if mid := "/" + c.m.ProjectID; c.m.ProjectID != c.project && (lit == mid || strings.HasPrefix(lit, mid+"/")) {
		c.warnf("%s: uri %q uses the manifest's project_id %q, not the project id %q it is served under; routed as written", where, uri, c.m.ProjectID, c.project)
		return
	}
	c.warnf("%s: uri %q does not start with %q; routed as written (the original forwards the full path)", where, uri, own+"/")
}

// parseHosts merges APISIX "host" and "hosts" into lowercase exact names and "*.suffix" wildcards.
func parseHosts(host string, hosts []string) ([]string, error) {
	var out []string
	for _, h := range append([]string{host}, hosts...) {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if h == "" {
			continue
		}
		if strings.ContainsRune(strings.TrimPrefix(h, "*."), '*') || h == "*." {
			return nil, fmt.Errorf("invalid host %q: only a leading \"*.\" wildcard is supported", h)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// globalNames lists the global plugins a route's own plugins do not override, sorted.
func globalNames(globals, own manifest.Plugins) []string {
	var out []string
	for name := range globals {
		if _, ok := own[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// mergePlugins returns base with over on top, in a fresh map (nil when both are empty). A plugin present
// in both takes over's config whole: APISIX does not deep-merge plugin configs either.
func mergePlugins(base, over manifest.Plugins) manifest.Plugins {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(manifest.Plugins, len(base)+len(over))
	maps.Copy(out, base)
	maps.Copy(out, over)
	return out
}

func seconds(s float64, def time.Duration) time.Duration {
	if s <= 0 {
		return def
	}
	return time.Duration(s * float64(time.Second))
}

// normUpstream fills in the APISIX translation defaults. where prefixes warnings.
func (c *compiler) normUpstream(u *manifest.Upstream, listForm bool, name, where string) (*Upstream, error) {
	out := &Upstream{
		Name:         name,
		Scheme:       strings.ToLower(cmp.Or(u.Scheme, "https")),
		Type:         cmp.Or(u.Type, "roundrobin"),
		Connect:      defaultTimeout,
		Send:         defaultTimeout,
		Read:         defaultTimeout,
		Retries:      defaultRetries,
		PassHost:     cmp.Or(u.PassHost, "pass"),
		UpstreamHost: u.UpstreamHost,
	}
	if u.Name != "" {
		out.Name = u.Name
	}
	if out.Scheme != "http" && out.Scheme != "https" {
		return nil, fmt.Errorf("unsupported scheme %q (http and https are)", u.Scheme)
	}
	switch out.Type {
	case "roundrobin", "chash", "ewma", "least_conn":
	default:
		c.warnf("%s: unknown balancer type %q; using roundrobin", where, out.Type)
		out.Type = "roundrobin"
	}
	switch out.PassHost {
	case "pass", "node":
	case "rewrite":
		if out.UpstreamHost == "" {
			return nil, errors.New(`pass_host "rewrite" needs upstream_host`)
		}
	default:
		return nil, fmt.Errorf("unsupported pass_host %q", u.PassHost)
	}
	if t := u.Timeout; t != nil {
		out.Connect = seconds(t.Connect, defaultTimeout)
		out.Send = seconds(t.Send, defaultTimeout)
		out.Read = seconds(t.Read, defaultTimeout)
	}
	if u.Retries != nil {
		out.Retries = max(*u.Retries, 0)
	}
	// APISIX rejects an upstream without nodes (FD2 has no service discovery to fill them in later).
	if len(u.Nodes) == 0 {
		return nil, errors.New("no nodes")
	}
	defPort := defaultPort(out.Scheme)
	out.Nodes = make([]manifest.Node, 0, len(u.Nodes))
	for _, n := range u.Nodes {
		if n.Host == "" {
			return nil, errors.New("node without host")
		}
		if n.Port < 0 || n.Port > 65535 {
			return nil, fmt.Errorf("node %q: invalid port %d", n.Host, n.Port)
		}
		if n.Weight < 0 {
			return nil, fmt.Errorf("node %q: negative weight %d", n.Host, n.Weight)
		}
		if strings.Contains(n.Host, "${") {
			c.warnf("%s: node host %q looks like an unresolved placeholder", where, n.Host)
		}
		if n.Port == 0 {
			n.Port = defPort
		}
		// A list entry without "weight" decodes as 0, but APISIX's schema defaults it to 1. In the map form
		// the weight is always written, and 0 deliberately drains the node.
		if n.Weight == 0 && listForm {
			n.Weight = 1
		}
		out.Nodes = append(out.Nodes, n)
	}
	return out, nil
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// ServiceUpstream is the upstream of a platform service at serviceURL, as a module route's (one node,
// the node's Host, the URL's path as BasePath), for a static site's front of such a service (dsp_rag).
func ServiceUpstream(name, serviceURL string, timeout time.Duration, retries int) (*Upstream, error) {
	return serviceUpstream(name, serviceURL, timeout, moduleConnectTimeout, retries)
}

// serviceUpstream builds a module route's upstream from its service_url.
func serviceUpstream(name, serviceURL string, timeout, connect time.Duration, retries int) (*Upstream, error) {
	if serviceURL == "" {
		return nil, errors.New("no service_url")
	}
	u, err := url.Parse(serviceURL)
	if err != nil {
		// The url.Error would echo the URL, which may carry credentials.
		return nil, errors.New("service_url is not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("service_url scheme %q is not http or https", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("service_url has no host")
	}
	port := defaultPort(scheme)
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("service_url port %q is invalid", p)
		}
	}
	return &Upstream{
		Name:     name,
		Nodes:    []manifest.Node{{Host: host, Port: port, Weight: 1}},
		Scheme:   scheme,
		Type:     "roundrobin",
		Connect:  connect,
		Send:     timeout,
		Read:     timeout,
		Retries:  max(retries, 0),
		PassHost: "node",
		BasePath: strings.TrimRight(u.EscapedPath(), "/"),
	}, nil
}

// routableName reports whether a module name can be the second segment of a path.
func (c *compiler) routableName(mod *manifest.Module) bool {
	if mod.Name == "" || strings.ContainsAny(mod.Name, "/?#") {
		c.warnf("%s %q: the name cannot be a path segment; not routed", mod.ModuleType, mod.Name)
		return false
	}
	return true
}

// addModule registers a module route under /{project}/{module}.
func (c *compiler) addModule(mod *manifest.Module, kind Kind, up *Upstream, plugins manifest.Plugins) *Route {
	base := "/" + c.project + "/" + mod.Name
	// Every plugin of a module route is a global one but the auth plugins the module's own config asks
	// for (jwt_auth_enabled, api_key_enabled), which are added on top and are not in c.globals.
	var globals []string
	for name := range plugins {
		if _, ok := c.globals[name]; ok {
			globals = append(globals, name)
		}
	}
	slices.Sort(globals)
	rt := &Route{
		ID:          c.uniqueID(mod.Name),
		Name:        mod.Name,
		Module:      mod.Name,
		Kind:        kind,
		URI:         base + "/*",
		Upstream:    up,
		Plugins:     plugins,
		Globals:     globals,
		StripPrefix: base,
		ModuleType:  mod.ModuleType,
	}
	me := &moduleEntry{route: rt, exact: true, prefix: true}
	if kind == KindTokenBroker {
		rt.URI = base + tokenSuffix
		rt.Methods = MethodPost
		me.prefix, me.token = false, true
	}
	c.modules[mod.Name] = me
	c.modOrder = append(c.modOrder, me)
	return rt
}

// addAlias registers the original's legacy auto-route prefix /{project}/{segment}/{module}/*.
func (c *compiler) addAlias(mod *manifest.Module, segment string, canonical *Route, into map[string]*moduleEntry) {
	prefix := "/" + c.project + "/" + segment + "/" + mod.Name
	// The alias is its own Route because StripPrefix differs; Upstream and Plugins are shared, so both
	// paths reach the same pooled proxy.
	rt := *canonical
	rt.ID = c.uniqueID(mod.Name + legacyIDSuffix)
	rt.URI = prefix + "/*"
	rt.StripPrefix = prefix
	me := &moduleEntry{route: &rt, prefix: true}
	into[mod.Name] = me
	c.modOrder = append(c.modOrder, me)
}

func (c *compiler) inference(mod *manifest.Module) {
	if !c.routableName(mod) {
		return
	}
	plugins := mergePlugins(nil, c.globals)
	if auth := c.retrievalJWTAuth(mod); auth != nil {
		plugins = withJWTAuth(plugins, auth)
	}
	c.addModule(mod, KindInference, nil, plugins)
}

// retrievalJWTAuth is the jwt-auth an inference_endpoint inherits from the rag_service module it retrieves
// from: its answers carry that module's documents (in the prompt and as sources), so its callers must be
// ones the module admits itself (jwt_auth_enabled, and jwt_module_reference's consumer). nil when the
// source is no such module.
func (c *compiler) retrievalJWTAuth(mod *manifest.Module) json.RawMessage {
	var r manifest.InferenceRetrieval
	if mod.DecodeConfig(&r) != nil || r.Source() == "" {
		return nil
	}
	src := c.m.Module(r.Source())
	if src == nil || src.ModuleType != manifest.TypeRAGService {
		return nil // a URL, or a bad reference (the module itself reports it)
	}
	var cfg manifest.RAGServiceConfig
	if src.DecodeConfig(&cfg) != nil || !cfg.JWTAuthEnabled {
		return nil
	}
	auth, _ := c.jwtAuthFor(cfg.JWTModuleRef) // a bad reference is warned about on the rag_service's route
	return auth
}

func (c *compiler) rag(mod *manifest.Module) {
	if !c.routableName(mod) {
		return
	}
	var cfg manifest.RAGServiceConfig
	if err := mod.DecodeConfig(&cfg); err != nil {
		c.warnf("rag_service %q: %v; not routed", mod.Name, err)
		return
	}
	up, err := serviceUpstream(mod.Name, cfg.ServiceURL, seconds(cfg.RequestTimeout, ragRequestTimeout),
		moduleConnectTimeout, derefOr(cfg.MaxRetries, moduleRetries))
	if err != nil {
		c.warnf("rag_service %q: %v; the route has no upstream", mod.Name, err)
	}
	plugins := mergePlugins(nil, c.globals)
	if cfg.JWTAuthEnabled {
		plugins = withJWTAuth(plugins, c.moduleJWTAuth(mod, cfg.JWTModuleRef))
	}
	rt := c.addModule(mod, KindRAG, up, plugins)
	c.addAlias(mod, legacyRAGSegment, rt, c.ragAlias)
}

func (c *compiler) modelServer(mod *manifest.Module) {
	if !c.routableName(mod) {
		return
	}
	var cfg manifest.ModelServerConfig
	if err := mod.DecodeConfig(&cfg); err != nil {
		c.warnf("model_server %q: %v; not routed", mod.Name, err)
		return
	}
	up, err := serviceUpstream(mod.Name, cfg.ServiceURL, seconds(cfg.RequestTimeout, modelRequestTimeout),
		moduleConnectTimeout, derefOr(cfg.MaxRetries, moduleRetries))
	if err != nil {
		c.warnf("model_server %q: %v; the route has no upstream", mod.Name, err)
	}
	plugins := mergePlugins(nil, c.globals)
	if cfg.JWTAuthEnabled {
		plugins = withJWTAuth(plugins, c.moduleJWTAuth(mod, cfg.JWTModuleRef))
	}
	if cfg.APIKeyEnabled && cfg.APIKey != "" {
		plugins = mergePlugins(plugins, manifest.Plugins{"key-auth": json.RawMessage("{}")})
	}
	rt := c.addModule(mod, KindModelServer, up, plugins)
	c.addAlias(mod, legacyModelsSegment, rt, c.modAlias)
}

// moduleJWTAuth is the jwt-auth config of a module with jwt_auth_enabled: tokens of the consumer its
// jwt_module_reference issues them for (the jwt_config module's claims.static.key, which binds a token to
// an APISIX consumer), or of any consumer of the project when the reference names none.
func (c *compiler) moduleJWTAuth(mod *manifest.Module, ref string) json.RawMessage {
	auth, ok := c.jwtAuthFor(ref)
	if !ok {
		c.warnf("%s %q: jwt_module_reference %q names no jwt_config module; tokens of any consumer of the project are accepted",
			mod.ModuleType, mod.Name, ref)
	}
	return auth
}

// withJWTAuth adds a module's own jwt-auth (jwt_auth_enabled) to a module route's plugins. A global jwt-auth
// keeps its options (where the token is read from, hide_credentials) and gains the module's members, its
// consumer restriction: replacing it would drop those options on exactly the routes that ask for more.
func withJWTAuth(plugins manifest.Plugins, auth json.RawMessage) manifest.Plugins {
	global := map[string]json.RawMessage{}
	if json.Unmarshal(plugins["jwt-auth"], &global) != nil || global == nil {
		global = map[string]json.RawMessage{} // absent, null or not an object: the module's own alone
	}
	var own map[string]json.RawMessage
	if json.Unmarshal(auth, &own) != nil {
		return mergePlugins(plugins, manifest.Plugins{"jwt-auth": auth})
	}
	maps.Copy(global, own)
	merged, err := json.Marshal(global)
	if err != nil {
		merged = auth
	}
	return mergePlugins(plugins, manifest.Plugins{"jwt-auth": merged})
}

// jwtAuthFor is moduleJWTAuth without the warning: ok is false when a non-empty ref names no jwt_config
// module.
func (c *compiler) jwtAuthFor(ref string) (auth json.RawMessage, ok bool) {
	if ref == "" {
		return json.RawMessage("{}"), true
	}
	jm := c.m.Module(ref)
	if jm == nil || jm.ModuleType != manifest.TypeJWTConfig {
		return json.RawMessage("{}"), false
	}
	var jc struct {
		Claims struct {
			Static map[string]any `json:"static"`
		} `json:"claims"`
	}
	_ = jm.DecodeConfig(&jc) // a jwt_config that does not decode is reported by its own route
	key, _ := jc.Claims.Static["key"].(string)
	if key == "" {
		return json.RawMessage("{}"), true
	}
	b, _ := json.Marshal(map[string][]string{"fd2_consumer_keys": {key}})
	return b, true
}

func (c *compiler) tokenBroker(mod *manifest.Module) {
	if !c.routableName(mod) {
		return
	}
	var cfg struct {
		ServiceURL string `json:"service_url"`
	}
	if err := mod.DecodeConfig(&cfg); err != nil {
		c.warnf("jwt_config %q: %v; token broker not routed", mod.Name, err)
		return
	}
	up, err := serviceUpstream(mod.Name, cfg.ServiceURL, tokenBrokerTimeout, moduleConnectTimeout, 0)
	if err != nil {
		c.warnf("jwt_config %q: %v; the token broker has no upstream", mod.Name, err)
	}
	// No plugins: the original served the broker itself, outside APISIX, so no global rule (a global
	// jwt-auth in particular) ever guarded the endpoint that hands out the tokens.
	c.addModule(mod, KindTokenBroker, up, nil)
}

// generic routes any other module type under /{project}/{module}/*: the module type registered for it
// serves the route (or the route answers 501 when no type is registered).
func (c *compiler) generic(mod *manifest.Module) {
	if c.routableName(mod) {
		c.addModule(mod, KindModule, nil, mergePlugins(nil, c.globals))
	}
}

func derefOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// build ranks the explicit patterns, resolves which module patterns explicit routes own, and freezes
// the table.
func (c *compiler) build() *Table {
	t := &Table{
		project:     c.project,
		projPrefix:  "/" + c.project + "/",
		exact:       make(map[string][]*entry),
		modules:     c.modules,
		ragAlias:    c.ragAlias,
		modelsAlias: c.modAlias,
		consumers:   c.consumers,
	}
	byPrecedence := func(a, b *entry) int {
		return cmp.Or(cmp.Compare(b.route.Priority, a.route.Priority), cmp.Compare(a.order, b.order))
	}
	// Exact patterns go into a map keyed by path, so that the common case costs one lookup. Parameter and
	// prefix patterns are scanned in order: a project has tens of routes, and a sorted slice scan beats a
	// radix tree at that size while keeping APISIX's tie-breaking rules easy to see.
	var exacts []*entry
	for _, e := range c.entries {
		switch e.kind {
		case patExact:
			exacts = append(exacts, e)
		case patParam:
			t.params = append(t.params, e)
		case patPrefix:
			t.prefixes = append(t.prefixes, e)
		}
	}
	slices.SortStableFunc(exacts, byPrecedence)
	for _, e := range exacts {
		t.exact[e.prefix] = append(t.exact[e.prefix], e)
	}
	slices.SortStableFunc(t.params, byPrecedence)
	slices.SortStableFunc(t.prefixes, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(len(b.prefix), len(a.prefix)), byPrecedence(a, b))
	})

	seen := make(map[*Route]bool)
	for _, list := range [][]*entry{exacts, t.params, t.prefixes} {
		for _, e := range list {
			if !seen[e.route] {
				seen[e.route] = true
				t.routes = append(t.routes, e.route)
			}
		}
	}

	// An explicit route owns the patterns it names exactly: the inference_endpoint "convert" of sas2py is
	// published as the api_gateway route POST /sas2py/convert, and a GET there must not slip past that
	// route's method restriction into the module. Deeper paths and other patterns stay with the module.
	prefixOwned := make(map[string]*Route, len(t.prefixes))
	for _, e := range t.prefixes {
		if _, ok := prefixOwned[e.prefix]; !ok {
			prefixOwned[e.prefix] = e.route
		}
	}
	for _, me := range c.modOrder {
		rt := me.route
		exactPath := rt.StripPrefix
		if me.token {
			exactPath += tokenSuffix
		}
		if me.exact {
			if es := t.exact[exactPath]; len(es) > 0 {
				me.exact = false
				if me.token {
					c.warnf("token broker %q: explicit route %q owns %s; the broker is not reachable", rt.ID, es[0].route.ID, exactPath)
				}
			}
		}
		if me.prefix {
			if owner := prefixOwned[rt.StripPrefix+"/"]; owner != nil {
				me.prefix = false
				c.warnf("module route %q: explicit route %q owns %s/*", rt.ID, owner.ID, rt.StripPrefix)
			}
		}
		t.routes = append(t.routes, rt)
	}
	return t
}
