{{/*
Names, labels and the pieces every service's objects share.
*/}}

{{- define "directfanz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name; component names append "-<service>", so it leaves room. */}}
{{- define "directfanz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The services the chart deploys, in render order, space-separated: every per-service template
ranges over `include "directfanz.services" . | splitList " "`. Each has a section of the same
name in values.yaml.
*/}}
{{- define "directfanz.services" -}}
identity payments gateway
{{- end -}}

{{/*
The services that verify principal tokens with internalAuth.verifyingKeys (the gateway signs
them). Space-separated.
*/}}
{{- define "directfanz.tokenVerifiers" -}}
identity payments
{{- end -}}

{{- define "directfanz.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Call with (dict "root" $ "service" "identity"). */}}
{{- define "directfanz.componentName" -}}
{{- printf "%s-%s" (include "directfanz.fullname" .root) .service -}}
{{- end -}}

{{- define "directfanz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "directfanz.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "directfanz.labels" -}}
helm.sh/chart: {{ include "directfanz.chart" .root }}
{{ include "directfanz.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: directfanz
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "directfanz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "directfanz.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Refuses to render internal-auth settings the services would reject at start-up (or, worse,
accept and then refuse every call): identity and payments must hold the public key of the
gateway's signing key under the gateway's key id. Call with the root context.
*/}}
{{- define "directfanz.checkInternalAuth" -}}
{{- $auth := .Values.internalAuth -}}
{{- $id := toString $auth.signingKeyId -}}
{{- if not (regexMatch "^[a-z0-9_-]+$" $id) -}}
{{- fail (printf "internalAuth.signingKeyId: %q must be lower-case letters, digits, '_' or '-'" $id) -}}
{{- end -}}
{{- $verifies := false -}}
{{- range $service := include "directfanz.tokenVerifiers" . | splitList " " -}}
{{- if (index $.Values $service).enabled -}}
{{- $verifies = true -}}
{{- end -}}
{{- end -}}
{{- if $verifies -}}
{{- $keys := default (dict) $auth.verifyingKeys -}}
{{- if not (hasKey $keys $id) -}}
{{- fail (printf "internalAuth.verifyingKeys.%s: required, the base64 Ed25519 public key of the gateway's signing key (internalAuth.signingKeyId=%s); see docs/configuration.md, \"Internal auth keys\"" $id $id) -}}
{{- end -}}
{{- range $keyId, $key := $keys -}}
{{- if not (regexMatch "^[a-z0-9_-]+$" $keyId) -}}
{{- fail (printf "internalAuth.verifyingKeys: id %q must be lower-case letters, digits, '_' or '-'" $keyId) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$" (toString $key)) -}}
{{- fail (printf "internalAuth.verifyingKeys.%s: not a base64 Ed25519 public key (32 bytes, 44 characters)" $keyId) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The services with a database of their own: each runs its migrations in a `migrate` initContainer,
as the schema's owner, and then serves as database.app_role. Space-separated.
*/}}
{{- define "directfanz.databaseServices" -}}
identity payments
{{- end -}}

{{/*
The services that encrypt data at rest with a keyring, as <service>:<section>: the section holds
active_key_id (configuration) and keys (secret files <section with __>__keys__<id>).
Space-separated.
*/}}
{{- define "directfanz.keyrings" -}}
identity:mail.encryption payments:tax.encryption
{{- end -}}

{{/*
Settings that hold secrets, as dotted paths into a service's configuration: they come from the
service's Secrets only. Space-separated.
*/}}
{{- define "directfanz.secretSettings" -}}
database.url database.migration_url redis.url redis.value_key bus.url telemetry.sentry_dsn internal_auth.signing_key mail.sendgrid_api_key mail.encryption.keys security.csrf_key webhooks.signing_secret webhooks.previous_signing_secret provider.stripe.secret_key tax.encryption.keys
{{- end -}}

{{/*
Refuses secrets in the rendered configuration (shared `config` or `<service>.config`): they
belong in the service's Secrets, and a ConfigMap is readable by anyone who may list it.
Call with (dict "root" $ "config" <merged configuration> "service" <name>).
*/}}
{{- define "directfanz.checkNoSecrets" -}}
{{- $config := .config -}}
{{- $svc := index .root.Values .service -}}
{{- range $path := include "directfanz.secretSettings" .root | splitList " " -}}
{{- $node := $config -}}
{{- range $part := splitList "." $path -}}
{{- if kindIs "map" $node -}}
{{- $node = get $node $part -}}
{{- else -}}
{{- $node = "" -}}
{{- end -}}
{{- end -}}
{{- if not (empty $node) -}}
{{- $file := replace "." "__" $path -}}
{{- if hasSuffix ".keys" $path -}}
{{- $file = printf "%s__<id>" $file -}}
{{- end -}}
{{- $secret := printf "%s.existingSecret" $.service -}}
{{- if and (eq $path "database.migration_url") (hasKey $svc "migration") -}}
{{- $secret = printf "%s.migration.existingSecret" $.service -}}
{{- end -}}
{{- fail (printf "%s.config (or config): %s is a secret; it belongs in %s under the key %s, never in values" $.service $path $secret $file) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses an encryption key id the service could never match: secret file names are read in lower
case, so tax__encryption__keys__K2026 arrives as key k2026 and an active_key_id "K2026" would name
no key. Call with (dict "root" $ "config" <merged configuration> "service" <name>); checks each
keyring of that service (directfanz.keyrings).
*/}}
{{- define "directfanz.checkKeyIds" -}}
{{- range $keyring := include "directfanz.keyrings" .root | splitList " " -}}
{{- $parts := splitList ":" $keyring -}}
{{- if eq (first $parts) $.service -}}
{{- $section := last $parts -}}
{{- $node := $.config -}}
{{- range $part := splitList "." $section -}}
{{- if kindIs "map" $node -}}
{{- $node = get $node $part -}}
{{- end -}}
{{- end -}}
{{- $active := "" -}}
{{- if kindIs "map" $node -}}
{{- $active = toString (get $node "active_key_id") -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9_-]{1,32}$" $active) -}}
{{- fail (printf "%s.config.%s.active_key_id: %q must be 1 to 32 lower-case letters, digits, '_' or '-' (the Secret holds the key as %s__keys__<id>)" $.service $section $active (replace "." "__" $section)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses database settings that cannot work with the migrate initContainer: the service connects
as database.app_role, which may not change the schema, so it must not migrate at start-up, and
without app_role the migrations would grant the service nothing. Call with (dict "config"
<merged configuration> "service" <name>).
*/}}
{{- define "directfanz.checkDatabase" -}}
{{- $db := get .config "database" -}}
{{- if not (kindIs "map" $db) -}}
{{- $db = dict -}}
{{- end -}}
{{- $role := toString (get $db "app_role") -}}
{{- if not (regexMatch "^[a-z_][a-z0-9_]{0,62}$" $role) -}}
{{- fail (printf "%s.config.database.app_role: %q must be the role %s runs as (database__url's user; lower-case letters, digits or '_'): the migrate initContainer grants it row access to what the migrations create" .service $role .service) -}}
{{- end -}}
{{- if or (not (hasKey $db "run_migrations")) (get $db "run_migrations") -}}
{{- fail (printf "%s.config.database.run_migrations: must be false: migrations run in the migrate initContainer as the schema's owner, and %s runs as database.app_role (%s), which may not change the schema" .service .service $role) -}}
{{- end -}}
{{- end -}}

{{/*
Refuses internal TLS settings the services would reject at start-up. Call with (dict "root" $
"config" <merged configuration> "service" <name>).
*/}}
{{- define "directfanz.checkInternalTls" -}}
{{- $tls := .root.Values.internalTls -}}
{{- if and (get .config "production") (not $tls.enabled) -}}
{{- fail (printf "internalTls.enabled=false with production=true (config or %s.config): in production mode identity and payments refuse to serve gRPC without TLS and the gateway refuses to call them without it; enable internalTls, or set production=false outside production" .service) -}}
{{- end -}}
{{- if and $tls.enabled $tls.certManager.enabled (not $tls.certManager.issuerRef.name) -}}
{{- fail "internalTls.certManager.issuerRef.name: required with internalTls.certManager.enabled (the issuer of the private CA whose ca.crt every service trusts)" -}}
{{- end -}}
{{- end -}}

{{/*
Refuses an ingress without trusted proxies. Behind the chart's own ingress every client arrives
from the ingress controller's address; unless the gateway believes its X-Forwarded-For, all
clients share one address for rate limits and the login throttle. Call with (dict "root" $
"config" <the gateway's merged configuration>).
*/}}
{{- define "directfanz.checkIngress" -}}
{{- if .root.Values.ingress.enabled -}}
{{- $security := get .config "security" -}}
{{- if not (and (kindIs "map" $security) (get $security "trusted_proxies")) -}}
{{- fail "ingress.enabled=true needs gateway.config.security.trusted_proxies (the ingress controller's pod CIDRs): without them every client behind the ingress shares the controller's address, so failed logins from anyone count against everyone and 100 an hour (identity.login.ip_failures_per_hour) block every login" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret with a service's internal TLS certificate. Call with (dict "root" $ "service" <name>). */}}
{{- define "directfanz.tlsSecretName" -}}
{{- $names := default (dict) .root.Values.internalTls.secretNames -}}
{{- default (printf "%s-tls" (include "directfanz.componentName" .)) (get $names .service) -}}
{{- end -}}

{{/*
The internal TLS settings the chart writes into a service's configuration, as TOML-ready maps:
identity and payments serve TLS and require a client certificate from the CA (grpc.tls); the
gateway verifies each upstream against the CA under its Service name and presents its own
certificate (upstreams.identity.tls, upstreams.payments.tls). Call with (dict "root" $ "service" <name> "config"
<merged configuration>); merges into config.
*/}}
{{- define "directfanz.mergeInternalTls" -}}
{{- $tls := .root.Values.internalTls -}}
{{- if $tls.enabled -}}
{{- $dir := trimSuffix "/" $tls.mountPath -}}
{{- $cert := printf "%s/tls.crt" $dir -}}
{{- $key := printf "%s/tls.key" $dir -}}
{{- $ca := printf "%s/ca.crt" $dir -}}
{{- if eq .service "gateway" -}}
{{- range $upstream := list "identity" "payments" -}}
{{- if or (eq $upstream "identity") (index $.root.Values $upstream).enabled -}}
{{- $client := dict "ca_file" $ca "cert_file" $cert "key_file" $key "domain_name" (include "directfanz.componentName" (dict "root" $.root "service" $upstream)) -}}
{{- $_ := mustMergeOverwrite $.config (dict "upstreams" (dict $upstream (dict "tls" $client))) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- $_ := mustMergeOverwrite .config (dict "grpc" (dict "tls" (dict "cert_file" $cert "key_file" $key "client_ca_file" $ca))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* http:// or https:// to a gRPC service, as internalTls says. Call with the root context. */}}
{{- define "directfanz.grpcScheme" -}}
{{- ternary "https" "http" (.Values.internalTls.enabled | default false) -}}
{{- end -}}

{{/*
The service's TOML file: shared `config` with the service's `config` merged over it, then the
public internal-auth settings (identity and payments: the verifying keys; gateway: its signing
key id) and the internal TLS file paths.
*/}}
{{- define "directfanz.configToml" -}}
{{- include "directfanz.checkInternalAuth" .root -}}
{{- $svc := index .root.Values .service -}}
{{- $merged := mustMergeOverwrite (deepCopy (default (dict) .root.Values.config)) (deepCopy (default (dict) $svc.config)) -}}
{{- include "directfanz.checkInternalTls" (dict "root" .root "config" $merged "service" .service) -}}
{{- include "directfanz.checkNoSecrets" (dict "root" .root "config" $merged "service" .service) -}}
{{- include "directfanz.checkKeyIds" (dict "root" .root "config" $merged "service" .service) -}}
{{- if has .service (include "directfanz.databaseServices" .root | splitList " ") -}}
{{- include "directfanz.checkDatabase" (dict "config" $merged "service" .service) -}}
{{- end -}}
{{- if eq .service "gateway" -}}
{{- include "directfanz.checkIngress" (dict "root" .root "config" $merged) -}}
{{- end -}}
{{- $auth := .root.Values.internalAuth -}}
{{- if has .service (include "directfanz.tokenVerifiers" .root | splitList " ") -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "verifying_keys" (deepCopy (default (dict) $auth.verifyingKeys)))) -}}
{{- else if eq .service "gateway" -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "signing_key_id" (toString $auth.signingKeyId))) -}}
{{- end -}}
{{- include "directfanz.mergeInternalTls" (dict "root" .root "service" .service "config" $merged) -}}
{{- toToml $merged -}}
{{- end -}}

{{/*
The environment of a service's containers (the service and, with a database, its migrate
initContainer): where the configuration is, listen addresses, the gateway's upstream URLs, then
the shared and the service's own DF_* variables. Call with (dict "root" $ "service" <name>).
*/}}
{{- define "directfanz.env" -}}
{{- $svc := index .root.Values .service -}}
- name: DF_CONFIG_FILE
  value: /etc/directfanz/config.toml
- name: DF_SECRETS_DIR
  value: {{ .root.Values.secrets.mountPath | quote }}
{{- if ne .service "gateway" }}
- name: DF_GRPC__LISTEN
  value: "0.0.0.0:{{ $svc.ports.grpc }}"
{{- else }}
- name: DF_HTTP__LISTEN
  value: "0.0.0.0:{{ $svc.ports.http }}"
# The gRPC services the gateway calls, at their Services' addresses.
- name: {{ $svc.identityUrlEnv }}
  value: "{{ include "directfanz.grpcScheme" .root }}://{{ include "directfanz.componentName" (dict "root" .root "service" "identity") }}:{{ .root.Values.identity.ports.grpc }}"
{{- if .root.Values.payments.enabled }}
- name: {{ $svc.paymentsUrlEnv }}
  value: "{{ include "directfanz.grpcScheme" .root }}://{{ include "directfanz.componentName" (dict "root" .root "service" "payments") }}:{{ .root.Values.payments.ports.grpc }}"
{{- end }}
{{- end }}
- name: DF_ADMIN__LISTEN
  value: "0.0.0.0:{{ $svc.ports.admin }}"
{{- with .root.Values.env }}
{{ toYaml . }}
{{- end }}
{{- with $svc.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "directfanz.image" -}}
{{- $svc := index .root.Values .service -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry $svc.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $svc.image.repository $tag -}}
{{- end -}}
{{- end -}}
