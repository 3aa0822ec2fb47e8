// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fd2

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// There is no Docker daemon where the suite runs, so these tests read the Dockerfile and .dockerignore and
// check the properties issue 17 asks of the image instead of building it.

// instruction is one Dockerfile instruction, continuation lines joined and comments dropped.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	from  string // the base image
	name  string // the AS name, if any
	instr []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the stage's last cmd instruction, which is the one in force for USER, CMD, ENTRYPOINT and
// HEALTHCHECK.
func (s stage) last(t *testing.T, cmd string) instruction {
	t.Helper()
	all := s.all(cmd)
	if len(all) == 0 {
		t.Fatalf("stage FROM %s has no %s", s.from, cmd)
	}
	return all[len(all)-1]
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") { // --platform=…
				f = f[1:]
			}
			if len(f) == 0 {
				t.Fatalf("%s:%d: FROM without an image", path, start)
			}
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, start, in.cmd)
			}
			return
		}
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") { // comments, parser directives included, even inside a continuation
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: the file ends inside a continued instruction", path)
	}
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM", path)
	}
	return stages
}

// execForm decodes an instruction's JSON-array form; the shell form would need a shell, which the image has
// not.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil || len(v) == 0 {
		t.Fatalf("line %d: %s %s is not in exec form (a JSON array): the image has no shell", in.line, in.cmd, in.args)
	}
	return v
}

// flagsAndRest splits an instruction's leading --flags (COPY --from=…, HEALTHCHECK --interval=…) from the
// rest.
func flagsAndRest(args string) (map[string]string, string) {
	flags := map[string]string{}
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		word, after, _ := strings.Cut(rest, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		flags[k] = v
		rest = strings.TrimSpace(after)
	}
	return flags, rest
}

// listOrWords reads VOLUME's and EXPOSE's two forms: a JSON array or words.
func listOrWords(args string) []string {
	var v []string
	if json.Unmarshal([]byte(args), &v) == nil {
		return v
	}
	return strings.Fields(args)
}

// envPairs reads ENV's key=value form (and the legacy `ENV key value`).
func envPairs(t *testing.T, in instruction) map[string]string {
	t.Helper()
	out := map[string]string{}
	fields := strings.Fields(in.args)
	if len(fields) == 2 && !strings.Contains(fields[0], "=") {
		out[fields[0]] = fields[1]
		return out
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("line %d: ENV %s: want key=value pairs", in.line, in.args)
		}
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// TestDockerfile checks the image recipe: a static, stamped build of ./cmd/fd2; a distroless final stage
// running as a numeric non-root user; the admin port not exposed; a HEALTHCHECK through `fd2 health`; the
// writable paths on volumes owned by that user, so the container runs with a read-only root filesystem.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("want a build stage and a runtime stage, got %d stage(s)", len(stages))
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want a distroless static base (no shell, no libc needed)", final.from)
	}

	// The build: which stage compiles ./cmd/fd2, with what.
	var build stage
	var buildRun instruction
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.all("RUN") {
			if strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/fd2") {
				build, buildRun = st, in
			}
		}
	}
	if buildRun.cmd == "" {
		t.Fatal("no build stage RUNs `go build … ./cmd/fd2`")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(buildRun.args, want) {
			t.Errorf("line %d: the go build lacks %s (a static, reproducible binary): %s", buildRun.line, want, buildRun.args)
		}
	}
	argLine := map[string]int{}
	for _, in := range build.all("ARG") {
		name, _, _ := strings.Cut(in.args, "=")
		argLine[strings.TrimSpace(name)] = in.line
	}
	stampVars := buildinfoStringVars(t)
	for variable, arg := range map[string]string{"Version": "VERSION", "Commit": "COMMIT", "Date": "DATE"} {
		if !stampVars[variable] {
			t.Errorf("internal/buildinfo has no package-level string var %s for -X to set", variable)
		}
		if l, ok := argLine[arg]; !ok || l > buildRun.line {
			t.Errorf("the build stage declares no ARG %s before its go build (line %d)", arg, buildRun.line)
		}
		x := regexp.MustCompile(`-X[= ]'?github\.com/dsp-ai/fd2/internal/buildinfo\.` + variable + `=\$\{?` + arg + `\b`)
		if !x.MatchString(buildRun.args) {
			t.Errorf("the go build does not pass ARG %s to -X …/internal/buildinfo.%s: %s", arg, variable, buildRun.args)
		}
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(buildRun.args)
	if out == nil {
		t.Fatalf("the go build names no -o output: %s", buildRun.args)
	}

	// The runtime stage: the binary, who runs it, how it starts and is checked.
	entry := execForm(t, final.last(t, "ENTRYPOINT"))
	binary := entry[0]
	copied := false
	for _, in := range final.all("COPY") {
		flags, rest := flagsAndRest(in.args)
		f := strings.Fields(rest)
		if build.name != "" && flags["from"] == build.name && len(f) == 2 && f[0] == out[1] && f[1] == binary {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=%s %s to the ENTRYPOINT %s", build.name, out[1], binary)
	}

	uid, gid, hasGID := strings.Cut(final.last(t, "USER").args, ":")
	for what, v := range map[string]string{"uid": uid, "gid": gid} {
		if what == "gid" && !hasGID {
			continue
		}
		if n, err := strconv.Atoi(v); err != nil || n == 0 {
			t.Errorf("USER %s: the %s must be a non-zero number (runAsNonRoot cannot verify a name)", final.last(t, "USER").args, what)
		}
	}

	hc := final.last(t, "HEALTHCHECK")
	hcFlags, hcRest := flagsAndRest(hc.args)
	hcCmd, hcExec, ok := strings.Cut(hcRest, " ")
	if !ok || !strings.EqualFold(hcCmd, "CMD") {
		t.Fatalf("line %d: HEALTHCHECK %s: want HEALTHCHECK [options] CMD [...]", hc.line, hc.args)
	}
	check := execForm(t, instruction{line: hc.line, cmd: "HEALTHCHECK CMD", args: hcExec})
	if len(check) < 2 || check[0] != binary || check[1] != "health" {
		t.Errorf("HEALTHCHECK runs %q, want [%q \"health\" …]", check, binary)
	}
	if hcFlags["timeout"] == "" || hcFlags["interval"] == "" {
		t.Errorf("HEALTHCHECK %s: set --interval and --timeout (the defaults are 30s and 30s)", hc.args)
	}

	// The admin endpoint is bound to localhost in the config the image runs, so publishing it serves nobody.
	for _, st := range stages {
		for _, in := range st.all("EXPOSE") {
			for _, p := range listOrWords(in.args) {
				if port, _, _ := strings.Cut(p, "/"); port == "2019" {
					t.Errorf("line %d: EXPOSE %s: the admin port is never published", in.line, in.args)
				}
			}
		}
	}

	// The config: CMD runs the Caddyfile the image copies in, and that one keeps admin on localhost.
	cmdArgs := execForm(t, final.last(t, "CMD"))
	i := slices.Index(cmdArgs, "--config")
	if len(cmdArgs) == 0 || cmdArgs[0] != "run" || i < 0 || i+1 >= len(cmdArgs) {
		t.Fatalf("CMD %q: want [\"run\", \"--config\", <path>]", cmdArgs)
	}
	configPath := cmdArgs[i+1]
	configSrc := ""
	for _, in := range final.all("COPY") {
		if flags, rest := flagsAndRest(in.args); flags["from"] == "" {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == configPath {
				configSrc = f[0]
			}
		}
	}
	if configSrc == "" {
		t.Fatalf("no COPY puts a config at %s, where CMD reads it", configPath)
	}
	caddyfile, err := os.ReadFile(configSrc)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*admin\s+(localhost|127\.0\.0\.1|\[::1\]):\d+\s*$`).Match(caddyfile) {
		t.Errorf("%s (the image's default config) does not bind admin to localhost", configSrc)
	}

	// Writable paths: Caddy's XDG directories are volumes, created for the runtime user.
	volumes := map[string]bool{}
	for _, in := range final.all("VOLUME") {
		for _, v := range listOrWords(in.args) {
			volumes[filepath.Clean(v)] = true
		}
	}
	env := map[string]string{}
	for _, in := range final.all("ENV") {
		for k, v := range envPairs(t, in) {
			env[k] = v
		}
	}
	for _, key := range []string{"XDG_DATA_HOME", "XDG_CONFIG_HOME"} {
		dir := env[key]
		if dir == "" {
			t.Errorf("the final stage sets no %s: Caddy would write under $HOME, on the read-only root", key)
			continue
		}
		if !volumes[filepath.Clean(dir)] {
			t.Errorf("%s=%s is not a VOLUME (have %v)", key, dir, volumes)
		}
		owned := false
		for _, in := range final.all("COPY") {
			flags, rest := flagsAndRest(in.args)
			f := strings.Fields(rest)
			owner, _, _ := strings.Cut(flags["chown"], ":")
			if len(f) == 2 && filepath.Clean(f[1]) == filepath.Clean(dir) && owner == uid {
				owned = true
			}
		}
		if !owned {
			t.Errorf("%s (%s) is not created with --chown=%s: the runtime user could not write a fresh volume", key, dir, uid)
		}
	}
	// inference spools multipart uploads to os.TempDir().
	if !volumes["/tmp"] {
		t.Errorf("/tmp is not a VOLUME: uploads could not be spooled with a read-only root (have %v)", volumes)
	}
}

// buildinfoStringVars returns the package-level string variables of internal/buildinfo: the names the
// Dockerfile and the Makefile set with -X (a misspelt one is silently ignored by the linker).
func buildinfoStringVars(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("internal", "buildinfo", "buildinfo.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" && len(vs.Values) == 0 {
				for _, n := range vs.Names {
					vars[n.Name] = true
				}
			}
		}
	}
	return vars
}

// dockerignore is a .dockerignore's patterns with Docker's semantics (moby/patternmatcher): paths are
// relative to the context root, `*` and `?` stay within a path element, `**` spans any number of them, a
// pattern matching a directory excludes what is under it, the last matching pattern wins and `!` includes
// again.
type dockerignore []struct {
	re      *regexp.Regexp
	include bool
	text    string
}

func parseDockerignore(t *testing.T, path string) dockerignore {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for _, line := range strings.Split(string(raw), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		include := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case c == '*' && i+1 < len(p) && p[i+1] == '*':
				i++
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					re.WriteString("(.*/)?")
				} else {
					re.WriteString(".*")
				}
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			case c == '[' || c == '\\':
				t.Fatalf("%s: pattern %q: character classes and escapes are not supported by this check", path, line)
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re      *regexp.Regexp
			include bool
			text    string
		}{regexp.MustCompile(re.String()), include, line})
	}
	return d
}

// excluded reports whether the context leaves out path (slash-separated, relative to the root).
func (d dockerignore) excluded(path string) bool {
	var candidates []string
	for p := path; p != "." && p != "/" && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
		candidates = append(candidates, p)
	}
	out := false
	for _, pat := range d {
		for _, c := range candidates {
			if pat.re.MatchString(c) {
				out = !pat.include
				break
			}
		}
	}
	return out
}

// TestDockerignore checks .dockerignore both ways: it keeps every file `go build ./cmd/fd2` reads and every
// file the image copies from the context, and it leaves out .git, build outputs and local state.
func TestDockerignore(t *testing.T) {
	ignore := parseDockerignore(t, ".dockerignore")

	for _, p := range []string{".git/HEAD", ".git/objects/ab/cdef", "fd2", "build/fd2-xcaddy", "var/last-good/demo.json",
		"dsp/auth/jws_test.go", "dsp/manifest/testdata/fuzz/FuzzManifestPipeline/0a1b", "cmd/fd2/fd2.test", "cover.out",
		"docs/performance.md", ".vscode/settings.json", "inference/engine.go.swp", "tests/vault/go.mod"} {
		if !ignore.excluded(p) {
			t.Errorf("%s is sent to the daemon: add it to .dockerignore", p)
		}
	}

	// What the build reads: go.mod, go.sum and, for each of the module's packages in ./cmd/fd2's
	// dependencies, its Go and embedded files.
	need := []string{"go.mod", "go.sum"}
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/dsp-ai/fd2"}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`,
		"./cmd/fd2").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			continue
		}
		pkgs++
		dir, err := filepath.Rel(root, parts[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f != "" {
					need = append(need, filepath.ToSlash(filepath.Join(dir, f)))
				}
			}
		}
	}
	if pkgs < 10 || !slices.Contains(need, "cmd/fd2/main.go") || !slices.Contains(need, "internal/defaultmanifests/demo.json") {
		t.Fatalf("go list found %d FD2 packages; the files %v miss cmd/fd2/main.go or the embedded manifests", pkgs, need)
	}

	// What the final stage copies from the context (not --from another stage).
	stages := parseDockerfile(t, "Dockerfile")
	for _, st := range stages {
		for _, in := range st.all("COPY") {
			flags, rest := flagsAndRest(in.args)
			f := strings.Fields(rest)
			if flags["from"] != "" || len(f) < 2 {
				continue
			}
			for _, src := range f[:len(f)-1] {
				if src == "." {
					continue // COPY . . sends whatever the context holds
				}
				err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() && !strings.HasSuffix(p, "_test.go") {
						need = append(need, filepath.ToSlash(p))
					}
					return err
				})
				if err != nil {
					t.Errorf("line %d: COPY %s: %v", in.line, src, err)
				}
			}
		}
	}
	slices.Sort(need)
	for _, p := range slices.Compact(need) {
		if ignore.excluded(p) {
			t.Errorf("%s is needed by the image's build but .dockerignore leaves it out", p)
		}
	}
}

// TestDockerignoreMatcher pins the matcher to Docker's documented semantics, so that the checks above
// test the file as Docker reads it.
func TestDockerignoreMatcher(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".dockerignore")
	if err := os.WriteFile(path, []byte("# comment\n/fd2\nbuild\n**/*.md\n!README.md\ndocs/*.txt\n**/testdata\na?c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ignore := parseDockerignore(t, path)
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"fd2", true}, {"cmd/fd2", false}, {"cmd/fd2/main.go", false},
		{"build", true}, {"build/x/y", true}, {"sub/build", false},
		{"docs/a.md", true}, {"a.md", true}, {"README.md", false}, {"docs/README.md", true},
		{"docs/x.txt", true}, {"docs/sub/x.txt", false},
		{"testdata/x", true}, {"a/b/testdata/c/d", true}, {"a/testdatax", false},
		{"abc", true}, {"ac", false}, {"a/c", false},
	} {
		if got := ignore.excluded(tc.path); got != tc.want {
			t.Errorf("excluded(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
