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

{{/*
Redis flags shared by cloudcore and the iptables-manager: the URL (no secret in it) and the files
the Secrets are mounted as (cloudcore.redisVolumeMounts, cloudcore.redisVolumes).
*/}}
{{- define "cloudcore.redisArgs" -}}
- --redis-url={{ .Values.redis.url }}
{{- if .Values.redis.existingSecret }}
- --redis-password-file=/etc/edgefleet/redis/password
{{- if .Values.redis.sentinelPasswordKey }}
- --redis-sentinel-password-file=/etc/edgefleet/redis/sentinel-password
{{- end }}
{{- end }}
{{- if .Values.redis.tls.caSecret }}
- --redis-tls-ca-file=/etc/edgefleet/redis-ca/ca.crt
{{- end }}
{{- end -}}

{{- define "cloudcore.redisVolumeMounts" -}}
{{- if .Values.redis.existingSecret }}
- { name: redis-auth, mountPath: /etc/edgefleet/redis, readOnly: true }
{{- end }}
{{- if .Values.redis.tls.caSecret }}
- { name: redis-ca, mountPath: /etc/edgefleet/redis-ca, readOnly: true }
{{- end }}
{{- end -}}

{{- define "cloudcore.redisVolumes" -}}
{{- if .Values.redis.existingSecret }}
- name: redis-auth
  secret:
    secretName: {{ .Values.redis.existingSecret }}
    # Only the keys named (a Secret may hold more), readable by the pod's group only.
    defaultMode: 288 # 0440: owner and group (fsGroup) read
    items:
      - { key: {{ .Values.redis.passwordKey }}, path: password }
      {{- if .Values.redis.sentinelPasswordKey }}
      - { key: {{ .Values.redis.sentinelPasswordKey }}, path: sentinel-password }
      {{- end }}
{{- end }}
{{- if .Values.redis.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.tls.caSecret }}
    items:
      - { key: {{ .Values.redis.tls.caKey }}, path: ca.crt }
{{- end }}
{{- end -}}

{{/* The in-cluster name of the Service the apiserver and Prometheus use. */}}
{{- define "cloudcore.internalService" -}}
{{- printf "%s-internal" (include "cloudcore.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
