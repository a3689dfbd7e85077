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
{{- fail (printf "internalAuth.verifyingKeys.%s: required, the base64 Ed25519 public key of the gateway's signing key (internalAuth.signingKeyId=%s); see the README's \"Internal auth keys\"" $id $id) -}}
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
Refuses payments' secrets in the rendered configuration (shared `config` or `payments.config`):
they belong in payments.existingSecret, and a ConfigMap is readable by anyone who may list it.
Call with (dict "config" <merged configuration> "service" <name>).
*/}}
{{- define "directfanz.checkNoSecrets" -}}
{{- $config := .config -}}
{{- range $path := list "webhooks.signing_secret" "webhooks.previous_signing_secret" "provider.stripe.secret_key" "tax.encryption.keys" -}}
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
{{- fail (printf "%s.config (or config): %s is a secret; it belongs in %s.existingSecret under the key %s, never in values" $.service $path $.service $file) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a tax encryption key id payments could never match: secret file names are read in lower
case, so tax__encryption__keys__K2026 arrives as key k2026 and an active_key_id "K2026" would name
no key. Call with (dict "config" <payments' merged configuration>).
*/}}
{{- define "directfanz.checkPaymentsTax" -}}
{{- $active := toString (dig "tax" "encryption" "active_key_id" "" .config) -}}
{{- if not (regexMatch "^[a-z0-9_-]{1,32}$" $active) -}}
{{- fail (printf "payments.config.tax.encryption.active_key_id: %q must be 1 to 32 lower-case letters, digits, '_' or '-' (the Secret holds the key as tax__encryption__keys__<id>)" $active) -}}
{{- end -}}
{{- end -}}

{{/*
The service's TOML file: shared `config` with the service's `config` merged over it, then the
public internal-auth settings (identity and payments: the verifying keys; gateway: its signing
key id).
*/}}
{{- define "directfanz.configToml" -}}
{{- include "directfanz.checkInternalAuth" .root -}}
{{- $svc := index .root.Values .service -}}
{{- $merged := mustMergeOverwrite (deepCopy (default (dict) .root.Values.config)) (deepCopy (default (dict) $svc.config)) -}}
{{- include "directfanz.checkNoSecrets" (dict "config" $merged "service" .service) -}}
{{- if eq .service "payments" -}}
{{- include "directfanz.checkPaymentsTax" (dict "config" $merged) -}}
{{- end -}}
{{- $auth := .root.Values.internalAuth -}}
{{- if has .service (include "directfanz.tokenVerifiers" .root | splitList " ") -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "verifying_keys" (deepCopy (default (dict) $auth.verifyingKeys)))) -}}
{{- else if eq .service "gateway" -}}
{{- $_ := mustMergeOverwrite $merged (dict "internal_auth" (dict "signing_key_id" (toString $auth.signingKeyId))) -}}
{{- end -}}
{{- toToml $merged -}}
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
