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
accept and then refuse every call): identity must hold the public key of the gateway's signing
key under the gateway's key id. Call with the root context.
*/}}
{{- define "directfanz.checkInternalAuth" -}}
{{- $auth := .Values.internalAuth -}}
{{- $id := toString $auth.signingKeyId -}}
{{- if not (regexMatch "^[a-z0-9_-]+$" $id) -}}
{{- fail (printf "internalAuth.signingKeyId: %q must be lower-case letters, digits, '_' or '-'" $id) -}}
{{- end -}}
{{- if .Values.identity.enabled -}}
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
The service's TOML file: shared `config` with the service's `config` merged over it, then the
public internal-auth settings (identity: the verifying keys; gateway: its signing key id).
*/}}
{{- define "directfanz.configToml" -}}
{{- include "directfanz.checkInternalAuth" .root -}}
{{- $svc := index .root.Values .service -}}
{{- $merged := mustMergeOverwrite (deepCopy (default (dict) .root.Values.config)) (deepCopy (default (dict) $svc.config)) -}}
{{- $auth := .root.Values.internalAuth -}}
{{- if eq .service "identity" -}}
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
