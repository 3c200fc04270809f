{{/* Namespace of every object: agent.namespaceOverride wins over the release namespace. */}}
{{- define "konnector-agent.namespace" -}}
{{- default .Release.Namespace .Values.agent.namespaceOverride -}}
{{- end -}}

{{- define "konnector-agent.labels" -}}
app.kubernetes.io/name: {{ .Values.agent.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "konnector-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.agent.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Image <repository>/<name>:<tag>; the tag falls back to the appVersion. */}}
{{- define "konnector-agent.image" -}}
{{- $i := .Values.agent.image -}}
{{- printf "%s/%s:%s" $i.repository $i.name (default .Chart.AppVersion $i.tag) -}}
{{- end -}}

{{- define "konnector-agent.pullSecretName" -}}nutanix-k8s-agent-pull-secret{{- end -}}

{{/* The existing Secret named by prismCredentialsSecretName, else the one the chart makes. */}}
{{- define "konnector-agent.credentialsSecretName" -}}
{{- default (printf "%s-prism-credentials" .Release.Name) .Values.prismCredentialsSecretName -}}
{{- end -}}

{{- define "konnector-agent.trustBundleConfigMapName" -}}
{{- default "ntnx-additional-trust-bundle-konnector-agent" .Values.additionalTrustBundleConfigMapName -}}
{{- end -}}

{{/* A trust bundle is mounted whenever the agent verifies Prism Central. */}}
{{- define "konnector-agent.mountsTrustBundle" -}}
{{- if or .Values.pc.additionalTrustBundle .Values.additionalTrustBundleConfigMapName (not .Values.pc.insecure) -}}true{{- end -}}
{{- end -}}

{{/* Arguments every agent container gets: where Prism Central is and how this cluster is named there. */}}
{{- define "konnector-agent.pcArgs" -}}
- --pc-endpoint={{ required "Endpoint is required" .Values.pc.endpoint }}
- --pc-port={{ .Values.pc.port }}
{{- if .Values.pc.insecure }}
- --insecure
{{- end }}
- --k8s-cluster-name={{ required "k8sClusterName is required" .Values.k8sClusterName }}
- --k8s-distribution={{ required "k8sDistribution is required" .Values.k8sDistribution }}
{{- with .Values.categoryMappings }}
- --k8s-cluster-category={{ . }}
{{- end }}
{{- end -}}

{{- define "konnector-agent.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 9999
runAsGroup: 9999
fsGroup: 9999
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "konnector-agent.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 9999
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "konnector-agent.imagePullSecrets" -}}
{{- if .Values.agent.image.privateRegistry }}
imagePullSecrets:
  - name: {{ include "konnector-agent.pullSecretName" . }}
{{- end }}
{{- end -}}

{{- define "konnector-agent.credentialsVolume" -}}
- name: prism-credentials
  secret:
    secretName: {{ include "konnector-agent.credentialsSecretName" . }}
{{- end -}}

{{- define "konnector-agent.credentialsMount" -}}
- name: prism-credentials
  mountPath: /certs
  readOnly: true
{{- end -}}

{{- define "konnector-agent.trustBundleVolume" -}}
{{- if include "konnector-agent.mountsTrustBundle" . }}
- name: trust-bundle
  configMap:
    name: {{ include "konnector-agent.trustBundleConfigMapName" . }}
{{- end }}
{{- end -}}

{{- define "konnector-agent.trustBundleMount" -}}
{{- if include "konnector-agent.mountsTrustBundle" . }}
- name: trust-bundle
  mountPath: /etc/konnector-agent/trust
  readOnly: true
{{- end }}
{{- end -}}

{{/*
A hook Pod that runs the agent image once with --chart-hook=<hook>.
Arguments (dict): root (the chart context), hook, deletePolicy, weight, and
config (true: also mount the <agent.name>-config ConfigMap).
*/}}
{{- define "konnector-agent.hookPod" -}}
{{- $ := .root -}}
apiVersion: v1
kind: Pod
metadata:
  name: hook-{{ replace "-" "" .hook }}
  namespace: {{ include "konnector-agent.namespace" $ }}
  labels:
    {{- include "konnector-agent.labels" $ | nindent 4 }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: {{ .deletePolicy }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ $.Values.agent.name }}
  {{- include "konnector-agent.imagePullSecrets" $ | nindent 2 }}
  securityContext:
    {{- include "konnector-agent.podSecurityContext" $ | nindent 4 }}
  containers:
    - name: {{ .hook }}
      image: {{ include "konnector-agent.image" $ }}
      imagePullPolicy: {{ $.Values.agent.image.pullPolicy }}
      args:
        - --chart-hook={{ .hook }}
        {{- include "konnector-agent.pcArgs" $ | nindent 8 }}
        {{- if .config }}
        - --config=/etc/konnector-agent/config/agent-config.yaml
        {{- end }}
      securityContext:
        {{- include "konnector-agent.containerSecurityContext" $ | nindent 8 }}
      volumeMounts:
        {{- include "konnector-agent.credentialsMount" $ | nindent 8 }}
        {{- include "konnector-agent.trustBundleMount" $ | nindent 8 }}
        {{- if .config }}
        - name: agent-config
          mountPath: /etc/konnector-agent/config
          readOnly: true
        {{- end }}
  volumes:
    {{- include "konnector-agent.credentialsVolume" $ | nindent 4 }}
    {{- include "konnector-agent.trustBundleVolume" $ | nindent 4 }}
    {{- if .config }}
    - name: agent-config
      configMap:
        name: {{ $.Values.agent.name }}-config
    {{- end }}
{{- end -}}
