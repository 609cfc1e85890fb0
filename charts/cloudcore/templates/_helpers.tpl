{{/* The chart's name, or nameOverride. */}}
{{- define "cloudcore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name of every object (63 characters at most). */}}
{{- define "cloudcore.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cloudcore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudcore.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cloudcore.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cloudcore.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cloudcore.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cloudcore.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cloudcore.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Redis URL with the password from the Secret (expanded by the kubelet from $(REDIS_PASSWORD)). */}}
{{- define "cloudcore.redisUrl" -}}
{{- if .Values.redis.existingSecret -}}
{{- regexReplaceAll "^(rediss?://)" .Values.redis.url "${1}:$(REDIS_PASSWORD)@" -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster name of the Service the apiserver and Prometheus use. */}}
{{- define "cloudcore.internalService" -}}
{{- printf "%s-internal" (include "cloudcore.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
