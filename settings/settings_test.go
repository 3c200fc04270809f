package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoad_Defaults(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		ChartRepository:          "https://mesosphere.github.io/charts/stable/",
		ChartName:                "konnector-agent",
		ChartVersion:             "1.3.0-rc.0",
		ReleaseName:              "konnector-agent",
		ReleaseNamespace:         "ntnx-system",
		AgentName:                "konnector-agent",
		DefaultCredentialsSecret: "prism-central-credentials-for-konnector-agent",
		RetryAfter:               5 * time.Second,
		UninstallTimeout:         5 * time.Minute,
		HandlerTimeoutSeconds:    30,
		K8sDistribution:          "NKP",
		ExtensionConfig:          "konnector-agent",
		SyncConcurrency:          8,
		SyncTimeout:              30 * time.Second,
		SyncPageSize:             500,
		RolloutBatch:             10,
		OnInvalidConfig:          "Continue",
		DeleteFailurePolicy:      "Fail",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", s, want)
	}
	if got := s.RetryAfterSeconds(); got != 5 {
		t.Fatalf("RetryAfterSeconds() = %d, want 5", got)
	}
}

func TestLoad_BadValueNamesTheVariable(t *testing.T) {
	cases := []struct{ variable, value string }{
		{"KONNECTOR_RETRY_AFTER", "soon"},
		{"KONNECTOR_RETRY_AFTER", "100ms"},
		{"KONNECTOR_UNINSTALL_TIMEOUT", "0s"},
		{"KONNECTOR_HANDLER_TIMEOUT_SECONDS", "31"},
		{"KONNECTOR_HANDLER_TIMEOUT_SECONDS", "thirty"},
		{"KONNECTOR_CHART_REPOSITORY", "mesosphere.github.io/charts"},
		{"KONNECTOR_CHART_NAME", ""},
		{"KONNECTOR_K8S_DISTRIBUTION", "nkp"},
		{"KONNECTOR_K8S_DISTRIBUTION", "EKS"},
		{"KONNECTOR_AGENT_NAME", "Agent_1"},
		{"KONNECTOR_RELEASE_NAMESPACE", "ntnx system"},
		{"KONNECTOR_IMAGE_TAG", "1.4.1\nx"},
		{"KONNECTOR_IMAGE_REPOSITORY", "registry example/nutanix"},
		{"KONNECTOR_VALUES_FILE", "/nonexistent/values.yaml"},
		{"KONNECTOR_EXTENSION_CONFIG", ""},
		{"KONNECTOR_SYNC_CONCURRENCY", "0"},
		{"KONNECTOR_SYNC_TIMEOUT", "2h"},
		{"KONNECTOR_SYNC_PAGE_SIZE", "0"},
		{"KONNECTOR_ROLLOUT_BATCH", "-1"},
		{"KONNECTOR_ON_INVALID_CONFIG", "continue"},
		{"KONNECTOR_ON_INVALID_CONFIG", "Warn"},
		{"KONNECTOR_DELETE_FAILURE_POLICY", "Retry"},
		{"KONNECTOR_SYNC_NAMESPACES", "default,Team_A"},
		{"KONNECTOR_TLS_CERT_FILE", "/etc/konnector-hooks/tls/tls.crt"},
		{"KONNECTOR_TLS_KEY_FILE", "/etc/konnector-hooks/tls/tls.key"},
	}
	for _, c := range cases {
		t.Run(c.variable+"="+c.value, func(t *testing.T) {
			t.Setenv(c.variable, c.value)
			_, err := Load()
			if err == nil {
				t.Fatal("Load() accepted the value")
			}
			if !strings.Contains(err.Error(), c.variable) {
				t.Fatalf("error %q does not name %s", err, c.variable)
			}
		})
	}
}

func TestLoad_ChoicesAndNamespaces(t *testing.T) {
	t.Setenv("KONNECTOR_ON_INVALID_CONFIG", "Block")
	t.Setenv("KONNECTOR_DELETE_FAILURE_POLICY", "Ignore")
	t.Setenv("KONNECTOR_SYNC_NAMESPACES", "default,team-a")
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !s.BlockOnInvalidConfig() || s.DeleteFailurePolicy != "Ignore" || !reflect.DeepEqual(s.SyncNamespaces, []string{"default", "team-a"}) {
		t.Fatalf("settings = %+v", s)
	}
}

func TestRetryAfterSeconds_RoundsUp(t *testing.T) {
	s := Settings{RetryAfter: 1500 * time.Millisecond}
	if got := s.RetryAfterSeconds(); got != 2 {
		t.Fatalf("RetryAfterSeconds() = %d, want 2", got)
	}
}

func TestLoad_ValuesFile(t *testing.T) {
	cases := []struct {
		name, file string
		want       map[string]any
		says       string // "" when accepted
	}{
		{"values merged over the computed ones", "agent:\n  updateConfigInMin: 10\n  image:\n    privateRegistry: true\n    imageCredentials:\n      dockerconfig: e30=\n",
			map[string]any{"agent": map[string]any{"updateConfigInMin": 10.0, "image": map[string]any{"privateRegistry": true, "imageCredentials": map[string]any{"dockerconfig": "e30="}}}}, ""},
		{"other pc keys may be set", "pc:\n  username: ignored-with-a-secret-name\n", map[string]any{"pc": map[string]any{"username": "ignored-with-a-secret-name"}}, ""},
		{"per-cluster key", "pc:\n  endpoint: pc.example.com\n", nil, "sets pc.endpoint, which konnector-hooks computes for each cluster"},
		{"per-cluster key set to null", "k8sClusterName: null\n", nil, "sets k8sClusterName"},
		{"nested per-cluster key", "kubeconfigUpload:\n  enabled: true\n  controlPlaneEndpoint: https://x:6443\n", nil, "sets kubeconfigUpload.controlPlaneEndpoint"},
		{"mapping replaced by a scalar", "pc: none\n", nil, "sets pc to a value that is not a mapping, which would replace pc.endpoint"},
		{"credentials secret name", "prismCredentialsSecretName: other\n", nil, "sets prismCredentialsSecretName"},
		{"not a mapping", "- a\n- b\n", nil, "is not a YAML mapping"},
		{"not YAML", "agent: [\n", nil, "is not a YAML mapping"},
		{"repeated key", "agent:\n  name: a\nagent:\n  name: b\n", nil, "is not a YAML mapping"},
		{"empty", "", nil, "holds no values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("KONNECTOR_VALUES_FILE", path)
			s, err := Load()
			if c.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(s.Values, c.want) {
					t.Fatalf("Values = %v, want %v", s.Values, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "KONNECTOR_VALUES_FILE") {
				t.Fatalf("error %v: want one naming KONNECTOR_VALUES_FILE and saying %q", err, c.says)
			}
		})
	}
}

func TestFromMap_ReadsTheMapAloneAndNamesTheVariable(t *testing.T) {
	t.Setenv("KONNECTOR_ROLLOUT_BATCH", "7")
	s, err := FromMap(map[string]string{"KONNECTOR_ROLLOUT_BATCH": "3", "KONNECTOR_SYNC_NAMESPACES": "a, b", "OTHER": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.RolloutBatch != 3 || !reflect.DeepEqual(s.SyncNamespaces, []string{"a", "b"}) || s.ChartName != "konnector-agent" {
		t.Fatalf("FromMap read RolloutBatch %d, SyncNamespaces %q, ChartName %q; want 3, [a b] and the default", s.RolloutBatch, s.SyncNamespaces, s.ChartName)
	}
	if _, err := FromMap(map[string]string{"KONNECTOR_RETRY_AFTER": "soon"}); err == nil || !strings.Contains(err.Error(), "KONNECTOR_RETRY_AFTER") {
		t.Fatalf("FromMap with RETRY_AFTER=soon: error %v, want one naming KONNECTOR_RETRY_AFTER", err)
	}
}
