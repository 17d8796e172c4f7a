{{/*
Shared helpers. Every per-service template under templates/<service>/ calls one of the
"zhiwang.<kind>" definitions below with (dict "ctx" $ "component" "<service>"); each service reads
the same keys from .Values.<service> (replicas, resources, autoscaling, podDisruptionBudget,
database, env, …), Mimir-style.
*/}}

{{/* Every service but the gateway, in start order (identity first: the others verify its tokens). */}}
{{- define "zhiwang.backends" -}}
identity district grid community street credit approval
{{- end -}}

{{/*
The services that keep an evidence log, each signing its tree heads with the key file
<service>.json from the evidence keys Secret (values: evidence).
*/}}
{{- define "zhiwang.evidenceServices" -}}
identity grid
{{- end -}}

{{/* Does this service keep an evidence log? Renders "true" or nothing. */}}
{{- define "zhiwang.keepsEvidence" -}}
{{- if has .component (splitList " " (include "zhiwang.evidenceServices" .ctx)) -}}true{{- end -}}
{{- end -}}

{{/* Where a service's pods find their evidence key file (mounted read-only from the Secret). */}}
{{- define "zhiwang.evidenceKeysDir" -}}
/etc/zhiwang/evidence-keys
{{- end -}}

{{/* The Secret holding <service>.json for each service that keeps an evidence log. */}}
{{- define "zhiwang.evidenceKeysSecret" -}}
{{- .Values.evidence.keysSecret | default (printf "%s-evidence-keys" (include "zhiwang.fullname" .)) -}}
{{- end -}}

{{- define "zhiwang.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: the release name when it already holds the chart's name. */}}
{{- define "zhiwang.fullname" -}}
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

{{/* The name of a service's resources: <fullname>-<component>. */}}
{{- define "zhiwang.resourceName" -}}
{{- printf "%s-%s" (include "zhiwang.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The values of one service (.Values.<component>). */}}
{{- define "zhiwang.serviceValues" -}}
{{- toYaml (index .ctx.Values .component) -}}
{{- end -}}

{{- define "zhiwang.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zhiwang.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zhiwang.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zhiwang.selectorLabels" . }}
app.kubernetes.io/part-of: zhiwang
app.kubernetes.io/version: {{ include "zhiwang.imageTag" .ctx | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "zhiwang.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "zhiwang.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (include "zhiwang.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* Is the service enabled? Renders "true" or nothing. */}}
{{- define "zhiwang.enabled" -}}
{{- $svc := index .ctx.Values .component -}}
{{- if and $svc $svc.enabled -}}true{{- end -}}
{{- end -}}

{{/* The in-cluster base URL of a service. */}}
{{- define "zhiwang.serviceUrl" -}}
{{- printf "http://%s:%v" (include "zhiwang.resourceName" .) .ctx.Values.http.port -}}
{{- end -}}

{{/* The name a subchart gives its resources (Bitnami's and NATS' "fullname" rule). */}}
{{- define "zhiwang.subchartFullname" -}}
{{- $values := index .ctx.Values .chart -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .chart .ctx.Release.Name -}}
{{- .ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .ctx.Release.Name .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL services use when it is not taken from a Secret. */}}
{{- define "zhiwang.busUrl" -}}
{{- if .Values.bus.url -}}
{{- .Values.bus.url -}}
{{- else if .Values.nats.enabled -}}
{{- printf "nats://%s:4222" (include "zhiwang.subchartFullname" (dict "ctx" . "chart" "nats")) -}}
{{- else if not .Values.bus.existingSecret.name -}}
{{- fail "bus: set bus.url (or bus.existingSecret.name) to your NATS 2.10+ servers, or enable the nats dependency (nats.enabled)" -}}
{{- end -}}
{{- end -}}

{{/* Where services fetch identity's public keys. */}}
{{- define "zhiwang.jwksUrl" -}}
{{- .Values.auth.jwksUrl | default (printf "%s/api/v1/identity/.well-known/jwks.json" (include "zhiwang.serviceUrl" (dict "ctx" . "component" "identity"))) -}}
{{- end -}}

{{/* Should a pre-install/pre-upgrade migration Job run for this service? Renders "true" or nothing. */}}
{{- define "zhiwang.migrationJob" -}}
{{- if and .ctx.Values.migrations.enabled (ne .component "gateway") (not .ctx.Values.postgresql.enabled) (include "zhiwang.enabled" .) -}}true{{- end -}}
{{- end -}}

{{/*
The plain (non-secret) settings of a service as ZW__SECTION__KEY: the ConfigMap's data, and the
migration Job's environment (a pre-install hook runs before the ConfigMap exists).
*/}}
{{- define "zhiwang.config" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values -}}
{{- $svc := index $v .component -}}
{{- $env := dict -}}
{{- $_ := set $env "ZW__DISTRICT__CODE" (toString $v.districtCode) -}}
{{- $_ := set $env "ZW__DISTRICT__NAME" $v.districtName -}}
{{- $_ := set $env "ZW__HTTP__HOST" "0.0.0.0" -}}
{{- $_ := set $env "ZW__HTTP__PORT" (toString $v.http.port) -}}
{{- $_ := set $env "ZW__HTTP__WORKERS" (toString $v.http.workers) -}}
{{- $_ := set $env "ZW__HTTP__MAX_BODY_BYTES" (toString $v.http.maxBodyBytes) -}}
{{- $_ := set $env "ZW__HTTP__MAX_UPLOAD_BYTES" (toString $v.http.maxUploadBytes) -}}
{{- $_ := set $env "ZW__TELEMETRY__LOG_LEVEL" $v.telemetry.logLevel -}}
{{- $_ := set $env "ZW__TELEMETRY__LOG_FORMAT" $v.telemetry.logFormat -}}
{{- if $v.telemetry.otlpEndpoint -}}
{{- $_ := set $env "ZW__TELEMETRY__OTLP_ENDPOINT" $v.telemetry.otlpEndpoint -}}
{{- end -}}
{{- $_ := set $env "ZW__AUTH__ISSUER" $v.auth.issuer -}}
{{- $_ := set $env "ZW__AUTH__AUDIENCE" $v.auth.audience -}}
{{- if ne .component "identity" -}}
{{- $_ := set $env "ZW__AUTH__JWKS_URL" (include "zhiwang.jwksUrl" $ctx) -}}
{{- $_ := set $env "ZW__AUTH__JWKS_REFRESH_SECS" (toString $v.auth.jwksRefreshSecs) -}}
{{- end -}}
{{- $_ := set $env "ZW__AUTH__LEEWAY_SECS" (toString $v.auth.leewaySecs) -}}
{{- /* Every component is on the bus: the services talk over it, and every verifier (the
gateway's too) applies identity's token revocations from it at once. */ -}}
{{- if not $v.bus.existingSecret.name -}}
{{- $_ := set $env "ZW__BUS__URL" (include "zhiwang.busUrl" $ctx) -}}
{{- end -}}
{{- if $v.bus.prefix -}}
{{- $_ := set $env "ZW__BUS__PREFIX" $v.bus.prefix -}}
{{- end -}}
{{- $_ := set $env "ZW__BUS__STREAM_REPLICAS" (toString $v.bus.streamReplicas) -}}
{{- if eq .component "gateway" -}}
{{- $_ := set $env "ZW__GATEWAY__RATE_LIMIT_PER_MINUTE" (toString $v.rateLimits.perMinute) -}}
{{- $_ := set $env "ZW__REDIS__KEY_PREFIX" $v.rateLimits.redis.keyPrefix -}}
{{- range $backend := splitList " " (include "zhiwang.backends" $ctx) -}}
{{- if include "zhiwang.enabled" (dict "ctx" $ctx "component" $backend) -}}
{{- $_ := set $env (printf "ZW__GATEWAY__UPSTREAMS__%s" (upper $backend)) (include "zhiwang.serviceUrl" (dict "ctx" $ctx "component" $backend)) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if eq .component "grid" -}}
{{- $publicUrl := $v.gridTier.publicUrl -}}
{{- if and (not $publicUrl) $v.ingress.enabled -}}
{{- $publicUrl = printf "%s://%s" (ternary "https" "http" (gt (len $v.ingress.tls) 0)) (first $v.ingress.hosts) -}}
{{- end -}}
{{- if $publicUrl -}}
{{- $_ := set $env "ZW__GRID__PUBLIC_URL" $publicUrl -}}
{{- end -}}
{{- $_ := set $env "ZW__GRID__MEDIA_MAX_BYTES" (toString $v.gridTier.mediaMaxBytes) -}}
{{- $_ := set $env "ZW__GRID__INCIDENT_DEADLINE_HOURS" (toString $v.gridTier.incidentDeadlineHours) -}}
{{- $_ := set $env "ZW__GRID__ESCALATION_INTERVAL_SECS" (toString $v.gridTier.escalationIntervalSecs) -}}
{{- end -}}
{{- $_ := set $env "ZW__BUS__REQUEST_TIMEOUT_MS" (toString $v.bus.requestTimeoutMs) -}}
{{- $_ := set $env "ZW__DATABASE__MAX_CONNECTIONS" (toString $v.database.maxConnections) -}}
{{- end -}}
{{- if include "zhiwang.keepsEvidence" . -}}
{{- /* The signing key comes from the mounted Secret; a missing one stops the service rather
than starting a log under a new key. */ -}}
{{- $_ := set $env "ZW__EVIDENCE__KEYS_DIR" (include "zhiwang.evidenceKeysDir" $ctx) -}}
{{- $_ := set $env "ZW__EVIDENCE__CREATE_MISSING_KEY" "false" -}}
{{- with $v.evidence.checkpointOrigin -}}
{{- $_ := set $env "ZW__EVIDENCE__CHECKPOINT_ORIGIN" . -}}
{{- end -}}
{{- with $v.evidence.witnesses -}}
{{- $_ := set $env "ZW__EVIDENCE__WITNESSES" (join " " .) -}}
{{- end -}}
{{- end -}}
{{- if eq .component "identity" -}}
{{- $_ := set $env "ZW__IDENTITY__ALGORITHM" $v.tokens.algorithm -}}
{{- $_ := set $env "ZW__IDENTITY__ACCESS_TOKEN_TTL_SECS" (toString $v.tokens.accessTokenTtlSecs) -}}
{{- end -}}
{{- range $k, $val := $v.config -}}
{{- $_ := set $env $k (toString $val) -}}
{{- end -}}
{{- range $k, $val := $svc.config -}}
{{- $_ := set $env $k (toString $val) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/*
Environment taken from Secrets (never written into values): the service's database URL, the NATS
URL when it carries credentials, the gateway's Redis URL; plus the pod's identity for OTLP
resource attributes.
*/}}
{{- define "zhiwang.secretEnv" -}}
{{- $v := .ctx.Values -}}
{{- $svc := index $v .component -}}
{{- if ne .component "gateway" -}}
{{- if and $v.postgresql.enabled (not $svc.database.secretName) }}
- name: ZW_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.postgresql.auth.existingSecret | default (include "zhiwang.subchartFullname" (dict "ctx" .ctx "chart" "postgresql")) }}
      key: {{ $v.postgresql.auth.secretKeys.userPasswordKey }}
- name: ZW__DATABASE__URL
  value: {{ printf "postgres://%s:$(ZW_DATABASE_PASSWORD)@%s:5432/%s" $v.postgresql.auth.username (include "zhiwang.subchartFullname" (dict "ctx" .ctx "chart" "postgresql")) .component | quote }}
{{- else }}
- name: ZW__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $svc.database.secretName | default $v.database.secretName | required "database.secretName: the Secret that holds each service's PostgreSQL URL" }}
      key: {{ $svc.database.secretKey | default .component }}
{{- end }}
{{- else if $v.rateLimits.redis.enabled -}}
{{- if $v.redis.enabled }}
- name: ZW_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.auth.existingSecret | default (include "zhiwang.subchartFullname" (dict "ctx" .ctx "chart" "redis")) }}
      key: {{ $v.redis.auth.existingSecretPasswordKey | default "redis-password" }}
- name: ZW__REDIS__URL
  value: {{ printf "redis://:$(ZW_REDIS_PASSWORD)@%s-master:6379" (include "zhiwang.subchartFullname" (dict "ctx" .ctx "chart" "redis")) | quote }}
{{- else }}
- name: ZW__REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.rateLimits.redis.secretName | required "rateLimits.redis.secretName: the Secret that holds the gateway's Redis URL" }}
      key: {{ $v.rateLimits.redis.secretKey }}
{{- end }}
{{- end }}
{{- if $v.bus.existingSecret.name }}
- name: ZW__BUS__URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.bus.existingSecret.name }}
      key: {{ $v.bus.existingSecret.key }}
{{- end }}
{{- end -}}

{{/* The pod's identity for OTLP resource attributes (OTEL_RESOURCE_ATTRIBUTES). */}}
{{- define "zhiwang.telemetryEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" (printf "service.namespace=%s" .ctx.Release.Name) }}
{{- range $k, $val := .ctx.Values.telemetry.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $val) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- end -}}

{{- define "zhiwang.podSecurityContext" -}}
{{- toYaml .ctx.Values.podSecurityContext -}}
{{- end -}}

{{- define "zhiwang.containerSecurityContext" -}}
{{- toYaml .ctx.Values.containerSecurityContext -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------------
The resources of one service. Each renders nothing when .Values.<component>.enabled is false.
--------------------------------------------------------------------------------------------- */}}

{{- define "zhiwang.configmap" -}}
{{- if include "zhiwang.enabled" . }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
data:
  {{- include "zhiwang.config" . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "zhiwang.serviceaccount" -}}
{{- if and (include "zhiwang.enabled" .) .ctx.Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
  {{- with .ctx.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# Zhiwang never calls the Kubernetes API.
automountServiceAccountToken: false
{{- end }}
{{- end -}}

{{- define "zhiwang.service" -}}
{{- if include "zhiwang.enabled" . }}
{{- $svc := index .ctx.Values .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
  {{- with $svc.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $svc.service.type }}
  selector:
    {{- include "zhiwang.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .ctx.Values.http.port }}
      targetPort: http
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "zhiwang.deployment" -}}
{{- if include "zhiwang.enabled" . }}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
{{- $svc := index $v .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "zhiwang.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "zhiwang.selectorLabels" . | nindent 8 }}
        {{- with $svc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # A change of settings rolls the pods.
        checksum/config: {{ include "zhiwang.config" . | sha256sum }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ if $v.serviceAccount.create }}{{ include "zhiwang.resourceName" . }}{{ else }}{{ $v.serviceAccount.name | default "default" }}{{ end }}
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "zhiwang.podSecurityContext" . | nindent 8 }}
      {{- with $svc.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $svc.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "zhiwang.image" $ctx }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - serve
            - {{ .component }}
          ports:
            - name: http
              containerPort: {{ $v.http.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "zhiwang.resourceName" . }}
          env:
            {{- with (include "zhiwang.secretEnv" . | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- include "zhiwang.telemetryEnv" . | nindent 12 }}
            {{- with $svc.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # Alive: /healthz. Ready: /readyz (its database and the bus; the gateway stays ready without Redis and names it degraded).
          # The startup probe leaves time for the migrations each service runs at start.
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $v.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $v.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $v.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- include "zhiwang.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if include "zhiwang.keepsEvidence" . }}
            # The evidence signing key file, read-only: rotated with `zhiwang keys rotate`, the
            # Secret updated, then the pods restarted (see values.yaml, evidence).
            - name: evidence-keys
              mountPath: {{ include "zhiwang.evidenceKeysDir" $ctx }}
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if include "zhiwang.keepsEvidence" . }}
        # Only this service's own file from the Secret; the pod does not start without it.
        - name: evidence-keys
          secret:
            secretName: {{ include "zhiwang.evidenceKeysSecret" $ctx }}
            defaultMode: 0400
            items:
              - key: {{ printf "%s.json" .component }}
                path: {{ printf "%s.json" .component }}
        {{- end }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or $v.topologySpread.enabled $svc.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- if $v.topologySpread.enabled }}
        {{- range $v.topologySpread.topologyKeys }}
        - maxSkew: {{ $v.topologySpread.maxSkew }}
          topologyKey: {{ . }}
          whenUnsatisfiable: {{ $v.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "zhiwang.selectorLabels" $ | nindent 14 }}
        {{- end }}
        {{- end }}
        {{- with $svc.topologySpreadConstraints }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "zhiwang.hpa" -}}
{{- $svc := index .ctx.Values .component }}
{{- if and (include "zhiwang.enabled" .) $svc.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "zhiwang.resourceName" . }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    {{- with $svc.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $svc.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with $svc.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "zhiwang.pdb" -}}
{{- $svc := index .ctx.Values .component }}
{{- if and (include "zhiwang.enabled" .) $svc.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
spec:
  {{- if $svc.podDisruptionBudget.minAvailable }}
  minAvailable: {{ $svc.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $svc.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "zhiwang.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
Who may reach a service: the gateway takes traffic from outside (networkPolicy.gatewayFrom, or
anyone when that is empty); identity only from the release's own pods (they fetch its JWKS, the
gateway routes to it); every other service only from the gateway. Prometheus
(networkPolicy.metricsFrom) may scrape every service. Egress is not restricted.
*/}}
{{- define "zhiwang.networkpolicy" -}}
{{- $v := .ctx.Values }}
{{- if and (include "zhiwang.enabled" .) $v.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "zhiwang.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    - ports:
        - port: http
          protocol: TCP
      {{- if eq .component "gateway" }}
      {{- with $v.networkPolicy.gatewayFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- else if eq .component "identity" }}
      from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ include "zhiwang.name" .ctx }}
              app.kubernetes.io/instance: {{ .ctx.Release.Name }}
      {{- else }}
      from:
        - podSelector:
            matchLabels:
              {{- include "zhiwang.selectorLabels" (dict "ctx" .ctx "component" "gateway") | nindent 14 }}
      {{- end }}
    {{- with $v.networkPolicy.metricsFrom }}
    - ports:
        - port: http
          protocol: TCP
      from:
        {{- toYaml . | nindent 8 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Render the ServiceMonitor? serviceMonitor.enabled: true, false, or "auto" (when the cluster
serves monitoring.coreos.com/v1, i.e. the Prometheus operator is installed). */}}
{{- define "zhiwang.serviceMonitorEnabled" -}}
{{- $on := toString .Values.serviceMonitor.enabled -}}
{{- if or (eq $on "true") (and (eq $on "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) -}}true{{- end -}}
{{- end -}}

{{- define "zhiwang.servicemonitor" -}}
{{- $sm := .ctx.Values.serviceMonitor }}
{{- if and (include "zhiwang.enabled" .) (include "zhiwang.serviceMonitorEnabled" .ctx) }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ $sm.namespace | default .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - {{ .ctx.Release.Namespace }}
  selector:
    matchLabels:
      {{- include "zhiwang.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
      {{- with $sm.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end -}}

{{/*
`zhiwang migrate <service>` as a pre-install / pre-upgrade hook: the schema is brought up to date
before the new pods start (services also migrate at start; this makes a failing migration stop the
release instead of crash-looping pods). It runs before the chart's ConfigMaps and ServiceAccounts
exist on a first install, so it carries its settings inline and runs as the namespace's default
ServiceAccount without a token.
*/}}
{{- define "zhiwang.migrationjob" -}}
{{- if include "zhiwang.migrationJob" . }}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
{{- $svc := index $v .component }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-migrate" (include "zhiwang.resourceName" .) | trunc 63 | trimSuffix "-" }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" (dict "ctx" $ctx "component" (printf "%s-migrate" .component)) | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $v.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ $v.migrations.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "zhiwang.selectorLabels" (dict "ctx" $ctx "component" (printf "%s-migrate" .component)) | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "zhiwang.podSecurityContext" . | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "zhiwang.image" $ctx }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            - migrate
            - {{ .component }}
          env:
            {{- range $name, $value := (include "zhiwang.config" . | fromYaml) }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- with (include "zhiwang.secretEnv" . | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $v.migrations.resources | nindent 12 }}
          securityContext:
            {{- include "zhiwang.containerSecurityContext" . | nindent 12 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The gateway's Ingress: the only way in from outside the cluster. */}}
{{- define "zhiwang.ingress" -}}
{{- $ing := .ctx.Values.ingress }}
{{- if and (include "zhiwang.enabled" .) $ing.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "zhiwang.resourceName" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "zhiwang.labels" . | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $ing.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range $ing.hosts }}
    - host: {{ . | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "zhiwang.resourceName" $ }}
                port:
                  name: http
    {{- end }}
{{- end }}
{{- end -}}
