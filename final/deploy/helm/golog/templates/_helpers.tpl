{{/* The name of the release's objects: <release>-golog. */}}
{{- define "golog.fullname" -}}
{{- printf "%s-golog" .Release.Name | trunc 55 | trimSuffix "-" -}}
{{- end -}}

{{/* The headless Service that gives each server its DNS name. */}}
{{- define "golog.headless" -}}
{{- printf "%s-headless" (include "golog.fullname" .) -}}
{{- end -}}

{{/* The labels that select the release's servers. */}}
{{- define "golog.selectorLabels" -}}
app.kubernetes.io/name: golog
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "golog.labels" -}}
{{ include "golog.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The DNS domain of the headless Service: server N is golog-N.<this>. */}}
{{- define "golog.domain" -}}
{{- printf "%s.%s.svc.%s" (include "golog.headless" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}
