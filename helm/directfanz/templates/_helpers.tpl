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
identity payments media gateway
{{- end -}}

{{/*
The services that verify principal tokens with internalAuth.verifyingKeys (the gateway signs
them). Space-separated.
*/}}
{{- define "directfanz.tokenVerifiers" -}}
identity payments media
{{- end -}}

{{/*
The services that call another service as themselves, as <caller>:<callee>: the caller signs
with a key of its own (internalAuth.serviceKeys.<caller>), which the callee accepts from that
caller only (internal_auth.key_issuers). Space-separated.
*/}}
{{- define "directfanz.serviceCalls" -}}
media:payments
{{- end -}}

{{/* "true" when clamd is deployed: it serves media alone. Call with the root context. */}}
{{- define "directfanz.clamdEnabled" -}}
{{- if and .Values.media.enabled .Values.clamd.enabled -}}true{{- end -}}
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
{{- include "directfanz.checkServiceKeys" . -}}
{{- end -}}

{{/*
Refuses the keys of a service that calls another as itself (internalAuth.serviceKeys.<caller>)
when the caller would refuse to start, or the callee would take its key for the gateway's: the
caller's signing key id must be listed with its public key, and no id may be one of the
gateway's (a key id the callee found under both would speak for any user). Call with the root
context.
*/}}
{{- define "directfanz.checkServiceKeys" -}}
{{- $auth := .Values.internalAuth -}}
{{- $gatewayKeys := default (dict) $auth.verifyingKeys -}}
{{- range $call := include "directfanz.serviceCalls" . | splitList " " -}}
{{- $caller := first (splitList ":" $call) -}}
{{- if (index $.Values $caller).enabled -}}
{{- $own := default (dict) (dig "serviceKeys" $caller (dict) $auth) -}}
{{- $where := printf "internalAuth.serviceKeys.%s" $caller -}}
{{- $id := toString (default "" $own.signingKeyId) -}}
{{- if not (regexMatch "^[a-z0-9_-]+$" $id) -}}
{{- fail (printf "%s.signingKeyId: %q must be lower-case letters, digits, '_' or '-'" $where $id) -}}
{{- end -}}
{{- $keys := default (dict) $own.verifyingKeys -}}
{{- if not (hasKey $keys $id) -}}
{{- fail (printf "%s.verifyingKeys.%s: required, the base64 Ed25519 public key of %s's own signing key (%s.signingKeyId=%s, the seed is %s.existingSecret's internal_auth__signing_key); see docs/configuration.md, \"Internal auth keys\"" $where $id $caller $where $id $caller) -}}
{{- end -}}
{{- range $keyId, $key := $keys -}}
{{- if not (regexMatch "^[a-z0-9_-]+$" $keyId) -}}
{{- fail (printf "%s.verifyingKeys: id %q must be lower-case letters, digits, '_' or '-'" $where $keyId) -}}
{{- end -}}
{{- if or (hasKey $gatewayKeys $keyId) (eq $keyId (toString $auth.signingKeyId)) -}}
{{- fail (printf "%s.verifyingKeys.%s: the id is also one of the gateway's (internalAuth.verifyingKeys, internalAuth.signingKeyId); give %s's keys ids of their own" $where $keyId $caller) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$" (toString $key)) -}}
{{- fail (printf "%s.verifyingKeys.%s: not a base64 Ed25519 public key (32 bytes, 44 characters)" $where $keyId) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The services with a database of their own: each runs its migrations in a `migrate` initContainer,
as the schema's owner, and then serves as database.app_role. Space-separated.
*/}}
{{- define "directfanz.databaseServices" -}}
identity payments media
{{- end -}}

{{/*
The services that hold keys in a keyring, as <service>:<section>:<id setting>:<keys setting>:
the section's id setting names the key in use (configuration), and the keys are secret files
<section with __>__<keys setting>__<id>. Identity's mail and payments' tax data are encrypted
with theirs; media signs file URLs with its delivery keys. Space-separated.
*/}}
{{- define "directfanz.keyrings" -}}
identity:mail.encryption:active_key_id:keys payments:tax.encryption:active_key_id:keys media:delivery:signing_key_id:signing_keys
{{- end -}}

{{/*
Settings that hold secrets, as dotted paths into a service's configuration: they come from the
service's Secrets only. Space-separated.
*/}}
{{- define "directfanz.secretSettings" -}}
database.url database.migration_url redis.url redis.value_key bus.url telemetry.sentry_dsn internal_auth.signing_key mail.sendgrid_api_key mail.encryption.keys security.csrf_key webhooks.signing_secret webhooks.previous_signing_secret provider.stripe.secret_key tax.encryption.keys storage.secret_access_key delivery.signing_keys
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
{{- if or (hasSuffix ".keys" $path) (hasSuffix "_keys" $path) -}}
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
Refuses a key id the service could never match: secret file names are read in lower case, so
tax__encryption__keys__K2026 arrives as key k2026 and an active_key_id "K2026" would name no key.
Call with (dict "root" $ "config" <merged configuration> "service" <name>); checks each keyring of
that service (directfanz.keyrings).
*/}}
{{- define "directfanz.checkKeyIds" -}}
{{- range $keyring := include "directfanz.keyrings" .root | splitList " " -}}
{{- $parts := splitList ":" $keyring -}}
{{- if eq (index $parts 0) $.service -}}
{{- $section := index $parts 1 -}}
{{- $idSetting := index $parts 2 -}}
{{- $node := $.config -}}
{{- range $part := splitList "." $section -}}
{{- if kindIs "map" $node -}}
{{- $node = get $node $part -}}
{{- end -}}
{{- end -}}
{{- $active := "" -}}
{{- if kindIs "map" $node -}}
{{- $active = toString (get $node $idSetting) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9_-]{1,32}$" $active) -}}
{{- fail (printf "%s.config.%s.%s: %q must be 1 to 32 lower-case letters, digits, '_' or '-' (the Secret holds the key as %s__%s__<id>)" $.service $section $idSetting $active (replace "." "__" $section) (index $parts 3)) -}}
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
{{- fail (printf "internalTls.enabled=false with production=true (config or %s.config): in production mode identity, payments and media refuse to serve gRPC without TLS and the gateway refuses to call them without it; enable internalTls, or set production=false outside production" .service) -}}
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

{{/* Media's storage backend, as its merged configuration says (the code's default: filesystem). */}}
{{- define "directfanz.mediaBackend" -}}
{{- $merged := mustMergeOverwrite (deepCopy (default (dict) .Values.config)) (deepCopy (default (dict) .Values.media.config)) -}}
{{- dig "storage" "backend" "filesystem" $merged -}}
{{- end -}}

{{/*
Refuses media settings that cannot work in the pods the chart makes, or that would publish what
nobody looked at. Call with (dict "root" $ "config" <media's merged configuration>).
*/}}
{{- define "directfanz.checkMedia" -}}
{{- $values := .root.Values -}}
{{- $media := $values.media -}}
{{- if not $values.payments.enabled -}}
{{- fail "media.enabled=true needs payments.enabled: media asks payments who may see every subscriber and pay-per-view post, and would lock them all without it" -}}
{{- end -}}
{{- $storage := default (dict) (get .config "storage") -}}
{{- range $setting := list "spool_dir" "root" -}}
{{- if hasKey $storage $setting -}}
{{- fail (printf "media.config.storage.%s: set by the chart (media.spool.mountPath, media.filesystemStore.mountPath), which mounts the volume there; remove it from values" $setting) -}}
{{- end -}}
{{- end -}}
{{- $backend := toString (default "filesystem" (get $storage "backend")) -}}
{{- if eq $backend "s3" -}}
{{- if not (get $storage "bucket") -}}
{{- fail "media.config.storage.bucket: required with storage.backend=s3" -}}
{{- end -}}
{{- else if eq $backend "filesystem" -}}
{{- if not $media.filesystemStore.existingClaim -}}
{{- fail "media.config.storage.backend=filesystem needs media.filesystemStore.existingClaim (ReadWriteMany with more than one replica): the pods' root filesystem is read-only and an emptyDir would lose every file with its pod; use backend s3 otherwise" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "media.config.storage.backend: %q is neither s3 nor filesystem" $backend) -}}
{{- end -}}
{{- $scanner := default (dict) (get .config "scanner") -}}
{{- if $values.clamd.enabled -}}
{{- if hasKey $scanner "address" -}}
{{- fail "media.config.scanner.address: set by the chart while clamd.enabled (the clamd Service); remove it, or set clamd.enabled=false to scan with a clamd of your own" -}}
{{- end -}}
{{- $limit := mul (int64 $values.clamd.maxFileSizeMiB) 1048576 -}}
{{- if or (lt (int64 $values.clamd.maxFileSizeMiB) 1) (gt (int64 $values.clamd.maxFileSizeMiB) 2047) -}}
{{- fail (printf "clamd.maxFileSizeMiB: %v must be 1 to 2047: libclamav scans no file larger than about 2 GiB" $values.clamd.maxFileSizeMiB) -}}
{{- end -}}
{{- $uploads := default (dict) (get .config "uploads") -}}
{{- range $setting, $default := dict "max_video_bytes" 4294967296 "max_image_bytes" 26214400 -}}
{{- $bytes := int64 (default $default (get $uploads $setting)) -}}
{{- if gt $bytes $limit -}}
{{- fail (printf "media.config.uploads.%s: %d is above what clamd scans (clamd.maxFileSizeMiB=%v, %d bytes): such a file would never be published; lower it" $setting $bytes $values.clamd.maxFileSizeMiB $limit) -}}
{{- end -}}
{{- end -}}
{{- else if not (regexMatch "^(tcp://[^/]+:[0-9]+|unix:/.+)$" (toString (default "" (get $scanner "address")))) -}}
{{- fail "media.config.scanner.address: required with clamd.enabled=false, the clamd media scans uploads with (tcp://host:3310)" -}}
{{- end -}}
{{- if and (get .config "production") (dig "moderation" "auto_approve_clean_scans" false .config) -}}
{{- fail "media.config.moderation.auto_approve_clean_scans=true with production=true: uploads would be published on a clean scan alone, before moderation decides; keep it false in production" -}}
{{- end -}}
{{- end -}}

{{/* The Secret with a service's internal TLS certificate. Call with (dict "root" $ "service" <name>). */}}
{{- define "directfanz.tlsSecretName" -}}
{{- $names := default (dict) .root.Values.internalTls.secretNames -}}
{{- default (printf "%s-tls" (include "directfanz.componentName" .)) (get $names .service) -}}
{{- end -}}

{{/*
The internal TLS settings the chart writes into a service's configuration, as TOML-ready maps:
identity, payments and media serve TLS and require a client certificate from the CA (grpc.tls);
each caller verifies the service it calls against the CA under that Service's name and presents
its own certificate (the gateway: upstreams.<service>.tls; media: payments.tls). Call with
(dict "root" $ "service" <name> "config" <merged configuration>); merges into config.
*/}}
{{- define "directfanz.mergeInternalTls" -}}
{{- $tls := .root.Values.internalTls -}}
{{- if $tls.enabled -}}
{{- $dir := trimSuffix "/" $tls.mountPath -}}
{{- $cert := printf "%s/tls.crt" $dir -}}
{{- $key := printf "%s/tls.key" $dir -}}
{{- $ca := printf "%s/ca.crt" $dir -}}
{{- if eq .service "gateway" -}}
{{- range $upstream := list "identity" "payments" "media" -}}
{{- if or (eq $upstream "identity") (index $.root.Values $upstream).enabled -}}
{{- $client := dict "ca_file" $ca "cert_file" $cert "key_file" $key "domain_name" (include "directfanz.componentName" (dict "root" $.root "service" $upstream)) -}}
{{- $_ := mustMergeOverwrite $.config (dict "upstreams" (dict $upstream (dict "tls" $client))) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- $_ := mustMergeOverwrite .config (dict "grpc" (dict "tls" (dict "cert_file" $cert "key_file" $key "client_ca_file" $ca))) -}}
{{- if eq .service "media" -}}
{{- $client := dict "ca_file" $ca "cert_file" $cert "key_file" $key "domain_name" (include "directfanz.componentName" (dict "root" .root "service" "payments")) -}}
{{- $_ := mustMergeOverwrite .config (dict "payments" (dict "tls" $client)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* http:// or https:// to a gRPC service, as internalTls says. Call with the root context. */}}
{{- define "directfanz.grpcScheme" -}}
{{- ternary "https" "http" (.Values.internalTls.enabled | default false) -}}
{{- end -}}

{{/*
The service's TOML file: shared `config` with the service's `config` merged over it, then the
public internal-auth settings (the token verifiers: the gateway's verifying keys, plus, for a
service another calls as itself, that caller's keys listed as its own; a caller: its signing key
id, listed as its own; the gateway: its signing key id) and the internal TLS file paths.
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
{{- if eq .service "media" -}}
{{- include "directfanz.checkMedia" (dict "root" .root "config" $merged) -}}
{{- end -}}
{{- $auth := .root.Values.internalAuth -}}
{{- if has .service (include "directfanz.tokenVerifiers" .root | splitList " ") -}}
{{- $keys := deepCopy (default (dict) $auth.verifyingKeys) -}}
{{- $issuers := dict -}}
{{- range $call := include "directfanz.serviceCalls" .root | splitList " " -}}
{{- $parts := splitList ":" $call -}}
{{- $caller := first $parts -}}
{{- $own := default (dict) (dig "serviceKeys" $caller (dict) $auth) -}}
{{- if and (eq (last $parts) $.service) (index $.root.Values $caller).enabled -}}
{{- /* The caller's keys, each accepted from that caller acting for itself only. */ -}}
{{- range $id, $key := default (dict) $own.verifyingKeys -}}
{{- $_ := set $keys $id $key -}}
{{- $_ := set $issuers $id $caller -}}
{{- end -}}
{{- end -}}
{{- if eq $caller $.service -}}
{{- /* This service's own key: the seed comes from its Secret; it signs for this service only. */ -}}
{{- $id := toString $own.signingKeyId -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "signing_key_id" $id)) -}}
{{- $_ := set $issuers $id $caller -}}
{{- end -}}
{{- end -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "verifying_keys" $keys)) -}}
{{- if $issuers -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "key_issuers" $issuers)) -}}
{{- end -}}
{{- else if eq .service "gateway" -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "signing_key_id" (toString $auth.signingKeyId))) -}}
{{- end -}}
{{- include "directfanz.mergeInternalTls" (dict "root" .root "service" .service "config" $merged) -}}
{{- include "directfanz.wholeNumbers" $merged -}}
{{- toToml $merged -}}
{{- end -}}

{{/*
Turns the whole numbers of a map (and of the maps in it) from floats into integers, in place.
Helm reads every number in a values file as a float, which toToml writes as 600.0 or
2.146435072e+09; the services read counts, sizes and durations as integers and refuse a float.
A setting that is a fraction (telemetry.trace_sample_ratio = 0.5) keeps its value.
*/}}
{{- define "directfanz.wholeNumbers" -}}
{{- $node := . -}}
{{- range $key, $value := $node -}}
{{- if and (kindIs "float64" $value) (eq $value (floor $value)) -}}
{{- $_ := set $node $key (int64 $value) -}}
{{- else if kindIs "map" $value -}}
{{- include "directfanz.wholeNumbers" $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The environment of a service's containers (the service and, with a database, its migrate
initContainer): where the configuration is, listen addresses, the addresses of the services it
calls (the gateway's upstreams; media's payments and clamd), media's directories, then the
shared and the service's own DF_* variables. Call with (dict "root" $ "service" <name>).
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
{{- if .root.Values.media.enabled }}
- name: {{ $svc.mediaUrlEnv }}
  value: "{{ include "directfanz.grpcScheme" .root }}://{{ include "directfanz.componentName" (dict "root" .root "service" "media") }}:{{ .root.Values.media.ports.grpc }}"
{{- end }}
{{- end }}
{{- if eq .service "media" }}
# Payments, which media asks as itself who may see what (payments.enabled is required).
- name: DF_PAYMENTS__URL
  value: "{{ include "directfanz.grpcScheme" .root }}://{{ include "directfanz.componentName" (dict "root" .root "service" "payments") }}:{{ .root.Values.payments.ports.grpc }}"
{{- if include "directfanz.clamdEnabled" .root }}
- name: DF_SCANNER__ADDRESS
  value: "tcp://{{ include "directfanz.componentName" (dict "root" .root "service" "clamd") }}:{{ .root.Values.clamd.port }}"
{{- end }}
# The volumes the Deployment mounts: the upload spool and, with the filesystem backend, the store.
- name: DF_STORAGE__SPOOL_DIR
  value: {{ $svc.spool.mountPath | quote }}
{{- if eq (include "directfanz.mediaBackend" .root) "filesystem" }}
- name: DF_STORAGE__ROOT
  value: {{ $svc.filesystemStore.mountPath | quote }}
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
