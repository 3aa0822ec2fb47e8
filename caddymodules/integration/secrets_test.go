// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	fd2secrets "github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// secretsManifest is a project with a vault module (so its references are resolved, as the Control Tower
// does) whose upstream credential comes from a reference.
func secretsManifest(id, llm, keyRef string) string {
	return fmt.Sprintf(`{"project_id":"%[1]s","project_name":"%[1]s","environment":"development","modules":[
	  {"module_type":"vault","name":"vault-manager","config":{"vault_instances":[
	    {"instance_name":"dev-vault","vault_url":"http://127.0.0.1:1","auth_method":"token","vault_token":"root","kv_mount_point":"secret","kv_version":2}]}},
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[
	    {"name":"echo","uri":"/%[1]s/echo","upstream":{"scheme":"http","nodes":{"%[2]s":1}},
	     "plugins":{"proxy-rewrite":{"uri":"/echo/x","headers":{"Authorization":"Bearer ${environments.${environment}.secrets.key}"}}}}]}}],
	  "environments":{"development":{"secrets":{"key":"%[3]s"}}}}`, id, llm, keyRef)
}

// TestSecretsThroughThePipeline: env: and encrypted: references in a manifest reach the upstream resolved;
// a project whose Vault is down at start fails alone (503) while the others load; POST /dsp/secrets/rotate
// re-resolves under load without dropping a request.
func TestSecretsThroughThePipeline(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	const passphrase = "integration-passphrase"
	res := &fd2secrets.Resolver{EncryptionKey: passphrase}
	enc, err := res.Encrypt("sk-from-fernet-0001")
	if err != nil {
		t.Fatal(err)
	}
	registerSecret("sk-from-fernet-0001")
	registerSecret("sk-from-env-0001")
	registerSecret("sk-from-env-0002")
	t.Setenv("FD2_TEST_PROVIDER_KEY", "sk-from-env-0001")
	dir := t.TempDir()
	writeManifest(t, dir, "envsec", secretsManifest("envsec", hostOf(llm), "env:FD2_TEST_PROVIDER_KEY"))
	writeManifest(t, dir, "fernet", secretsManifest("fernet", hostOf(llm), enc))
	writeManifest(t, dir, "vaultdown", secretsManifest("vaultdown", hostOf(llm), "vault:dev-vault:secret/provider#api_key"))
	f := startFD2(t, "manifests file "+dir+"\n encryption_key "+passphrase, pipeline)

	authOf := func(project string) string {
		t.Helper()
		r := do(t, "GET", f.url("/"+project+"/echo"), "")
		expectStatus(t, r, 200)
		var echo struct {
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(r.body, &echo); err != nil {
			t.Fatal(err)
		}
		return strings.Join(echo.Headers["Authorization"], "")
	}
	if got := authOf("envsec"); got != "Bearer sk-from-env-0001" {
		t.Fatalf("env: reference reached the upstream as %q", got)
	}
	if got := authOf("fernet"); got != "Bearer sk-from-fernet-0001" {
		t.Fatalf("encrypted: reference reached the upstream as %q", got)
	}
	r := do(t, "GET", f.url("/vaultdown/echo"), "")
	expectStatus(t, r, 503)
	if strings.Contains(string(r.body), "secret/provider") || strings.Contains(string(r.body), "127.0.0.1:1") {
		t.Fatalf("the error tells the client about the secret backend: %s", r.body)
	}
	// The admin API names the failing reference (never a value).
	lr := do(t, "GET", f.adminURL("/dsp/projects"), "")
	if strings.Contains(string(lr.body), "sk-from-") {
		t.Fatal("the admin API shows a secret value")
	}

	// Rotation under load: the key changes at its source; rotate re-resolves every project.
	stop := make(chan struct{})
	done := make(chan struct{})
	var failures []string
	go func() {
		defer close(done)
		_, failures = hammer(4, stop, func(int) error {
			res, err := client.Get(f.url("/envsec/echo"))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond)
	t.Setenv("FD2_TEST_PROVIDER_KEY", "sk-from-env-0002")
	rr := do(t, "POST", f.adminURL("/dsp/secrets/rotate"), "")
	expectStatus(t, rr, 200)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if len(failures) > 0 {
		t.Fatalf("requests failed during rotation: %v", failures)
	}
	if got := authOf("envsec"); got != "Bearer sk-from-env-0002" {
		t.Fatalf("after rotation the upstream gets %q", got)
	}
}

// TestCaddyfileSecretReferences: a provider api_key written as a secret reference in the Caddyfile is
// resolved (here env:, with the dsp app's resolver) and reaches the provider; it never reaches a log.
func TestCaddyfileSecretReferences(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	t.Setenv("FD2_TEST_OPENAI_KEY", "sk-caddyfile-ref-0001")
	registerSecret("sk-caddyfile-ref-0001")
	f := startFD2(t, "", fmt.Sprintf(`
:{{HTTP}} {
	dsp_openai {
		provider fake openai {
			base_url %s
			api_key env:FD2_TEST_OPENAI_KEY
		}
	}
}
`, llm.URL))
	r := do(t, "GET", f.url("/v1/echo"), "")
	expectStatus(t, r, 200)
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal(r.body, &echo); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(echo.Headers["Authorization"], ""); got != "Bearer sk-caddyfile-ref-0001" {
		t.Fatalf("provider got Authorization %q", got)
	}
}
