{{/* Name of the chart's objects: the release name, or release-chart when the release name does not contain the chart name. */}}
{{- define "mayfly.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mayfly.serviceName" -}}{{ include "mayfly.fullname" . }}-controller{{- end -}}
{{- define "mayfly.caSecretName" -}}{{ include "mayfly.fullname" . }}-webhook-ca{{- end -}}
{{- define "mayfly.tlsSecretName" -}}{{ include "mayfly.fullname" . }}-tls{{- end -}}
{{- define "mayfly.brokerKeysName" -}}{{ include "mayfly.fullname" . }}-broker-keys{{- end -}}
{{- define "mayfly.leaseName" -}}{{ include "mayfly.fullname" . }}-controller{{- end -}}

{{- define "mayfly.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "mayfly.selectorLabels" -}}
app.kubernetes.io/name: mayfly
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "mayfly.labels" -}}
{{ include "mayfly.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The DNS names the serving certificate covers. */}}
{{- define "mayfly.dnsNames" -}}
{{- $svc := include "mayfly.serviceName" . -}}
- {{ $svc }}.{{ .Release.Namespace }}.svc
- {{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
- {{ $svc }}.{{ .Release.Namespace }}
- {{ $svc }}
{{- end -}}

{{/* The controller's configuration (operator/src/config.ts); the controller validates it again at start. */}}
{{- define "mayfly.config" -}}
{{- $svc := include "mayfly.serviceName" . -}}
{{- $url := printf "https://%s.%s.svc:8443" $svc .Release.Namespace -}}
logLevel: {{ .Values.logLevel }}
server: { host: 0.0.0.0, port: 8443 }
ops: { host: 0.0.0.0, port: 8080 }
{{- if eq .Values.certificates.mode "cert-manager" }}
tls:
  mode: files
  certFile: /etc/mayfly/tls/tls.crt
  keyFile: /etc/mayfly/tls/tls.key
{{- else }}
tls:
  mode: self-signed
  secretName: {{ include "mayfly.caSecretName" . }}
  dnsNames:
{{ include "mayfly.dnsNames" . | indent 4 }}
  ipAddresses: []
{{- end }}
webhook:
  enabled: true
  configurationName: {{ include "mayfly.fullname" . }}
  settings:
    image: {{ include "mayfly.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    controllerUrl: {{ $url }}
    mayflyNamespace: {{ .Release.Namespace }}
    mode: {{ .Values.injection.mode }}
    sidecarUid: {{ .Values.injection.sidecarUid }}
    capturePorts: {{ .Values.injection.capturePorts | toJson }}
    excludeOutboundCidrs: {{ .Values.injection.excludeOutboundCidrs | toJson }}
    excludeOutboundPorts: {{ .Values.injection.excludeOutboundPorts | toJson }}
    nativeSidecars: {{ .Values.injection.nativeSidecars }}
    tokenExpirationSeconds: {{ .Values.injection.tokenExpirationSeconds }}
    {{- with .Values.injection.providerCaBundle }}
    providerCa: {{ . | quote }}
    {{- end }}
    resources: {{ .Values.injection.resources | toJson }}
broker:
  enabled: {{ .Values.broker.enabled }}
  issuer: {{ if .Values.broker.issuer }}{{ .Values.broker.issuer | quote }}{{ else }}{{ $url | quote }}{{ end }}
  trustDomain: {{ .Values.broker.trustDomain | quote }}
  keySecretName: {{ include "mayfly.brokerKeysName" . }}
leaderElection:
  enabled: true
  leaseName: {{ include "mayfly.leaseName" . }}
  leaseDurationSeconds: {{ .Values.leaderElection.leaseDurationSeconds }}
  renewDeadlineSeconds: {{ .Values.leaderElection.renewDeadlineSeconds }}
  retryPeriodSeconds: {{ .Values.leaderElection.retryPeriodSeconds }}
reconcile:
  workers: {{ .Values.workers }}
  apiAudiences: {{ .Values.apiAudiences | toJson }}
stream:
  heartbeatSeconds: {{ .Values.stream.heartbeatSeconds }}
{{- end -}}
