{{/*
Names and labels.
*/}}
{{- define "fd2.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fd2.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "fd2.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fd2.labels" -}}
helm.sh/chart: {{ include "fd2.chart" . }}
{{ include "fd2.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "fd2.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fd2.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{/* The bundled Redis: its name, and its labels (a component of its own, so the gateway's selector never matches it). */}}
{{- define "fd2.redisName" -}}
{{- printf "%s-redis" (include "fd2.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fd2.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "fd2.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "fd2.redisLabels" -}}
helm.sh/chart: {{ include "fd2.chart" . }}
{{ include "fd2.redisSelectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "fd2.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fd2.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fd2.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Secrets. Every credential reaches the pod as an environment variable from a Secret key: a Secret the user
names in a *Ref, or the chart's own Secret (<fullname>, from .Values.secrets and redis.url) when the ref's
name is empty.
*/}}
{{- define "fd2.secretName" -}}
{{- include "fd2.fullname" . }}
{{- end }}

{{- define "fd2.createSecret" -}}
{{- if or .Values.secrets .Values.redis.url }}true{{ end }}
{{- end }}

{{/* fd2.checkSecretRef fails when a ref to the chart's own Secret names a key .Values.secrets lacks. */}}
{{- define "fd2.checkSecretRef" -}}
{{- if and (not .ref.name) (not (hasKey .root.Values.secrets .ref.key)) }}
{{- fail (printf "%s: key %q is not in .Values.secrets and no Secret name is given" .what .ref.key) }}
{{- end }}
{{- end }}

{{/* fd2.secretEnv renders one env var from a Secret ref: dict "root" $ "env" NAME "ref" REF "what" VALUE-PATH. */}}
{{- define "fd2.secretEnv" -}}
{{- $root := .root }}
{{- include "fd2.checkSecretRef" . }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | default (include "fd2.secretName" $root) }}
      key: {{ .ref.key }}
{{- end }}

{{/* Redis: "external" (url or urlSecretRef), "bundled" or "" (no Redis tier). */}}
{{- define "fd2.redisMode" -}}
{{- $external := or .Values.redis.url .Values.redis.urlSecretRef.key }}
{{- if and $external .Values.redis.bundled.enabled }}
{{- fail "redis: choose one of an external Redis (redis.url / redis.urlSecretRef) and redis.bundled.enabled" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.urlSecretRef.key }}
{{- fail "redis: choose one of redis.url and redis.urlSecretRef" }}
{{- end }}
{{- if $external }}external{{ else if .Values.redis.bundled.enabled }}bundled{{ end }}
{{- end }}

{{/* The instance count fail-open rate limiting divides limits by. */}}
{{- define "fd2.ratelimitInstances" -}}
{{- if .Values.site.ratelimit.instances }}
{{- .Values.site.ratelimit.instances }}
{{- else if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* The pod's preStop sleep action needs Kubernetes 1.30 (PodLifecycleSleepAction, on by default since then). */}}
{{- define "fd2.preStopSleepAction" -}}
{{- if and (gt (int .Values.preStopSleepSeconds) 0) (semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version) }}true{{ end }}
{{- end }}

{{- define "fd2.terminationGracePeriodSeconds" -}}
{{- add .Values.gracePeriodSeconds .Values.preStopSleepSeconds .Values.terminationMarginSeconds }}
{{- end }}

{{/* The manifests ConfigMap the pods mount, when the source is file. */}}
{{- define "fd2.manifestsConfigMap" -}}
{{- default (printf "%s-manifests" (include "fd2.fullname" .)) .Values.dsp.manifests.file.existingConfigMap }}
{{- end }}

{{/*
The log filter FD2 needs in every log: Caddy redacts Authorization and Cookie only, and FD2 also accepts
API keys in X-API-Key / api-key / apikey and JWTs in ?jwt=. Its argument is the indentation in tabs.
*/}}
{{- define "fd2.logFormat" -}}
format filter {
	wrap {{ .Values.log.format }}
	fields {
		request>headers>X-Api-Key delete
		request>headers>Api-Key delete
		request>headers>Apikey delete
		request>uri query {
			delete jwt
			delete apikey
		}
	}
}
{{- end }}

{{/* fd2.tabindent indents every line of .text by .n tabs (Caddyfile style). */}}
{{- define "fd2.tabindent" -}}
{{- $pad := repeat (int .n) "\t" }}
{{- range $i, $line := splitList "\n" .text }}
{{- if $i }}{{ "\n" }}{{ end }}
{{- if $line }}{{ $pad }}{{ $line }}{{ end }}
{{- end }}
{{- end }}

{{/*
fd2.caddyfile is the Caddyfile the pods run: .Values.caddyfile verbatim (checked for the settings the
Deployment depends on), or rendered from the structured values.
*/}}
{{- define "fd2.caddyfile" -}}
{{- if .Values.caddyfile }}
{{- $cf := .Values.caddyfile }}
{{- $grace := printf "grace_period %ds" (int .Values.gracePeriodSeconds) }}
{{- if not (regexMatch (printf "(?m)^\\s*%s\\s*$" $grace) $cf) }}
{{- fail (printf "caddyfile: the global options must contain %q (gracePeriodSeconds), which terminationGracePeriodSeconds is computed from" $grace) }}
{{- end }}
{{- range regexFindAll "(?m)^\\s*admin\\s+\\S+" $cf -1 }}
{{- $addr := regexReplaceAll "^\\s*admin\\s+" . "" }}
{{- if not (or (eq $addr "off") (regexMatch "^(localhost|127\\.0\\.0\\.1|\\[::1\\]|unix/)" $addr)) }}
{{- fail (printf "caddyfile: the admin endpoint must stay on localhost (found %q): the chart never exposes it" (trim .)) }}
{{- end }}
{{- end }}
{{- if not (contains (printf ":%d" (int .Values.http.port)) $cf) }}
{{- fail (printf "caddyfile: no site listens on :%d (http.port), which the Service and the probes use" (int .Values.http.port)) }}
{{- end }}
{{- $cf }}
{{- else }}
{{- include "fd2.renderedCaddyfile" . }}
{{- end }}
{{- end }}

{{- define "fd2.renderedCaddyfile" -}}
{{- $d := .Values.dsp -}}
{{- $redis := include "fd2.redisMode" . -}}
# Rendered by the fd2 Helm chart ({{ include "fd2.chart" . }}) from the release's values.
{
	# The admin API stays on the pod's localhost: `kubectl exec … -- fd2 reload` uses it; no Service does.
	admin localhost:2019
	# Streams in flight get this long after SIGTERM; terminationGracePeriodSeconds is
	# {{ .Values.gracePeriodSeconds }} + {{ .Values.preStopSleepSeconds }} (preStop) + {{ .Values.terminationMarginSeconds }}.
	grace_period {{ .Values.gracePeriodSeconds }}s
{{- if and (gt (int .Values.preStopSleepSeconds) 0) (not (include "fd2.preStopSleepAction" .)) }}
	# Kubernetes before 1.30 has no preStop sleep action (and the image no shell): keep serving this long
	# after SIGTERM while the pod leaves the Service's endpoints.
	shutdown_delay {{ .Values.preStopSleepSeconds }}s
{{- end }}
	log {
		level {{ .Values.log.level }}
{{ include "fd2.tabindent" (dict "n" 2 "text" (include "fd2.logFormat" .)) }}
	}
	dsp {
{{- with $d.environment }}
		environment {{ . }}
{{- end }}
{{- if eq $d.manifests.source "file" }}
		manifests file {{ $d.manifests.file.mountPath }}{{ if $d.manifests.refresh }} {
			refresh {{ $d.manifests.refresh }}
		}{{ end }}
{{- else if eq $d.manifests.source "control_tower" }}
{{- $ct := $d.manifests.controlTower }}
{{- if not $ct.url }}
{{- fail "dsp.manifests.controlTower.url is required with source control_tower" }}
{{- end }}
		manifests control_tower {{ $ct.url }} {
			secret {env.CT_SECRET}
			timeout {{ $ct.timeout }}
			retries {{ $ct.retries }}
{{- if $d.manifests.refresh }}
			refresh {{ $d.manifests.refresh }}
{{- end }}
		}
{{- end }}
		cache memory {
			ttl {{ $d.memoryCache.ttl }}
			max_projects {{ $d.memoryCache.maxProjects }}
		}
{{- if $redis }}
		cache redis {{ if eq $redis "bundled" }}redis://{{ include "fd2.redisName" . }}:6379/0{{ else }}{env.FD2_REDIS_URL}{{ end }} {
			ttl {{ .Values.redis.ttl }}
			prefix {{ .Values.redis.prefix }}
		}
{{- end }}
{{- if $d.lastGood.enabled }}
		last_good {{ $d.lastGood.path }}
{{- end }}
{{- if $d.maxStale }}
		max_stale {{ $d.maxStale }}
{{- end }}
{{- if $d.cacheKeyRef.key }}
		cache_key {env.FD2_CACHE_KEY}
{{- end }}
{{- if .Values.vault.enabled }}
{{- $v := .Values.vault }}
{{- if not $v.address }}
{{- fail "vault.address is required when vault.enabled" }}
{{- end }}
		vault {{ $v.name }} {{ $v.address }} {
{{- if eq $v.auth.method "token" }}
			token {env.VAULT_TOKEN}
{{- else if eq $v.auth.method "approle" }}
			approle {env.VAULT_ROLE_ID} {env.VAULT_SECRET_ID}
{{- else }}
			token {file.{{ $v.auth.tokenFile }}}
{{- end }}
{{- if $v.namespace }}
			namespace {{ $v.namespace }}
{{- end }}
			kv_mount {{ $v.kvMount }}
			kv_version {{ $v.kvVersion }}
{{- if $v.caCertRef.key }}
			ca_cert /etc/fd2-vault-ca/ca.crt
{{- end }}
			cache_ttl {{ $v.cacheTTL }}
			grace {{ $v.grace }}
			probe_interval {{ $v.probeInterval }}
		}
{{- end }}
{{- if $d.secretsConfig }}
		secrets_config /etc/fd2/secrets_config.json
{{- end }}
{{- if $d.encryptionKeyRef.key }}
		encryption_key {env.ENCRYPTION_KEY}
{{- end }}
		require_exp {{ if $d.requireExp }}on{{ else }}off{{ end }}
		max_manifest_size {{ $d.maxManifestSize }}
		pool_size {{ $d.poolSize }}
		max_body_size {{ $d.maxBodySize }}
{{- with $d.extra }}
{{ include "fd2.tabindent" (dict "n" 2 "text" (trim .)) }}
{{- end }}
	}
{{- with .Values.globalExtra }}
{{ include "fd2.tabindent" (dict "n" 1 "text" (trim .)) }}
{{- end }}
}

:{{ .Values.http.port }} {
{{- if .Values.log.access }}
	log {
{{ include "fd2.tabindent" (dict "n" 2 "text" (include "fd2.logFormat" .)) }}
	}
{{- end }}
{{- with .Values.site.extra }}
{{ include "fd2.tabindent" (dict "n" 1 "text" (trim .)) }}
{{- end }}
	@health path /health /status
	handle @health {
		dsp_health
	}
{{- if .Values.site.metrics }}
	handle /metrics {
		metrics
	}
{{- end }}
	handle {
		route {
{{- $auth := .Values.site.auth }}
			dsp_manifest{{ if .Values.site.hostSuffix }} {
				host_suffix {{ .Values.site.hostSuffix }}
			}{{ end }}
			dsp_auth{{ if or $auth.jwtServiceSecretRef.key $auth.extra }} {
{{- if $auth.jwtServiceSecretRef.key }}
				jwt_service_secret {env.JWT_SECRET_KEY}
{{- end }}
{{- with $auth.extra }}
{{ include "fd2.tabindent" (dict "n" 4 "text" (trim .)) }}
{{- end }}
			}{{ end }}
			dsp_ratelimit {
				fail_mode {{ .Values.site.ratelimit.failMode }}
				instances {{ include "fd2.ratelimitInstances" . }}
{{- with .Values.site.ratelimit.extra }}
{{ include "fd2.tabindent" (dict "n" 4 "text" (trim .)) }}
{{- end }}
			}
			dsp_dispatch
		}
	}
	handle_errors {
		dsp_error
	}
}
{{- if eq $d.manifests.source "embedded" }}

# The embedded demo project's routes call a fake OpenAI-compatible provider and a double of the DSP RAG
# service: development doubles, on the pod's localhost only.
:9099 {
	bind 127.0.0.1
	dsp_fakellm
}

:9098 {
	bind 127.0.0.1
	dsp_ragservice
}
{{- end }}
{{ end }}
