// Package settings holds the function's configuration and every default,
// read once at start-up from KONNECTOR_* environment variables.
package settings

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Prefix is the prefix of every environment variable read into Settings.
const Prefix = "KONNECTOR"

// Settings are the operator's choices for every cluster the hooks serve.
type Settings struct {
	ChartRepository          string        `env:"CHART_REPOSITORY, default=https://mesosphere.github.io/charts/stable/"`
	ChartName                string        `env:"CHART_NAME, default=konnector-agent"`
	ChartVersion             string        `env:"CHART_VERSION, default=1.3.0-rc.0"`
	ReleaseName              string        `env:"RELEASE_NAME, default=konnector-agent"`
	ReleaseNamespace         string        `env:"RELEASE_NAMESPACE, default=ntnx-system"`
	AgentName                string        `env:"AGENT_NAME, default=konnector-agent"`
	DefaultCredentialsSecret string        `env:"DEFAULT_CREDENTIALS_SECRET, default=prism-central-credentials-for-konnector-agent"`
	RetryAfter               time.Duration `env:"RETRY_AFTER, default=5s"`
	UninstallTimeout         time.Duration `env:"UNINSTALL_TIMEOUT, default=5m"`
	HandlerTimeoutSeconds    int32         `env:"HANDLER_TIMEOUT_SECONDS, default=30"`

	// The agent image; empty fields keep the chart's own.
	ImageRepository string `env:"IMAGE_REPOSITORY"`
	ImageName       string `env:"IMAGE_NAME"`
	ImageTag        string `env:"IMAGE_TAG"`
	// K8sDistribution is the chart's k8sDistribution: the kind of cluster
	// Prism Central is told it registers.
	K8sDistribution string `env:"K8S_DISTRIBUTION, default=NKP"`
	// ValuesFile names a YAML file of chart values merged over the computed
	// ones; Load reads it into Values.
	ValuesFile string `env:"VALUES_FILE"`

	// Values are the operator's chart values from ValuesFile, nil without one.
	Values map[string]any
	// ExtensionConfig names the ExtensionConfig that registers the hooks:
	// Sync serves the namespaces its namespaceSelector selects, as CAPI does.
	ExtensionConfig string `env:"EXTENSION_CONFIG, default=konnector-agent"`
	// SyncConcurrency bounds how many clusters a sync writes to at once, so
	// that a rotation across thousands of clusters does not flood the API
	// server.
	SyncConcurrency int `env:"SYNC_CONCURRENCY, default=8"`
	// SyncTimeout bounds a sync without a ?timeout= (the one-shot mode and a
	// PingSource's request); clusters it did not reach are named and left
	// to the next run.
	SyncTimeout time.Duration `env:"SYNC_TIMEOUT, default=30s"`
	// SyncPageSize is how many objects one LIST page of a sync holds: a sync
	// holds two pages at most, so its memory follows the page, not the fleet.
	SyncPageSize int64 `env:"SYNC_PAGE_SIZE, default=500"`
	// SyncNamespaces, when set, are the only namespaces Sync serves, read one
	// by one: the namespaced install sets them from the namespaces it binds,
	// where the function may neither read the ExtensionConfig nor list
	// Namespaces or objects across the cluster.
	SyncNamespaces []string `env:"SYNC_NAMESPACES"`
	// RolloutBatch is how many Clusters one sync moves to a changed
	// HelmChartProxy (chart version or values), least often written first
	// (konnector.PlanRollout), pausing while one already moved reports a
	// failed install; 0 moves all at once. New Clusters and credential
	// rotations are never held.
	RolloutBatch int `env:"ROLLOUT_BATCH, default=10"`

	// OnInvalidConfig says how the hooks answer a problem only a person can
	// fix: Continue (Success and a Warning Event; Sync deploys after the
	// fix) or Block (Failure, which holds the Cluster's topology).
	OnInvalidConfig string `env:"ON_INVALID_CONFIG, default=Continue"`
	// DeleteFailurePolicy is BeforeClusterDelete's failurePolicy in
	// discovery: Fail (the uninstall runs while the workload cluster exists)
	// or Ignore (a deletion never waits on konnector-hooks being reachable).
	DeleteFailurePolicy string `env:"DELETE_FAILURE_POLICY, default=Fail"`

	// TLSCertFile and TLSKeyFile, both set, make the function serve TLS
	// itself, re-reading the certificate when it changes on disk (the install
	// without Knative). Both empty: plain HTTP, Knative terminates TLS.
	TLSCertFile string `env:"TLS_CERT_FILE"`
	TLSKeyFile  string `env:"TLS_KEY_FILE"`

	// UninstallAll treats every Cluster as one without the addon, to remove
	// konnector-hooks with the agents unregistered first: the hooks deploy
	// nothing, and Sync uninstalls every served Cluster's agent.
	UninstallAll bool `env:"UNINSTALL_ALL, default=false"`
}

// Values of OnInvalidConfig and DeleteFailurePolicy.
const (
	OnInvalidConfigContinue = "Continue"
	OnInvalidConfigBlock    = "Block"
	FailurePolicyFail       = "Fail"
	FailurePolicyIgnore     = "Ignore"
)

// BlockOnInvalidConfig reports whether a problem only a person can fix is
// answered Failure.
func (s Settings) BlockOnInvalidConfig() bool { return s.OnInvalidConfig == OnInvalidConfigBlock }

// imageReference matches the parts of an image reference the settings give.
var imageReference = regexp.MustCompile(`^[A-Za-z0-9._/:@-]*$`)

// K8sDistributions are the values the chart's schema allows for k8sDistribution.
var K8sDistributions = []string{"CAPX", "OCP", "NKE", "EKSA", "NKP"}

// Load reads the settings from the environment and checks them. Its errors
// name the environment variable to fix.
func Load() (Settings, error) { return load(envconfig.OsLookuper()) }

// FromMap reads the settings from variables as Load reads the environment,
// for `konnector-hooks status`, which reads the settings ConfigMap's keys.
func FromMap(variables map[string]string) (Settings, error) {
	return load(envconfig.MapLookuper(variables))
}

func load(variables envconfig.Lookuper) (Settings, error) {
	var s Settings
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &s, Lookuper: envconfig.PrefixLookuper(Prefix+"_", variables)})
	if err != nil {
		return Settings{}, fmt.Errorf("reading settings: %s", namingVariable(err))
	}
	if len(s.SyncNamespaces) == 1 && s.SyncNamespaces[0] == "" {
		// The install's ConfigMap sets it empty: the same as unset.
		s.SyncNamespaces = nil
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	if s.ValuesFile != "" {
		values, err := readValuesFile(s.ValuesFile)
		if err != nil {
			return Settings{}, fmt.Errorf("%s_VALUES_FILE %s: %w", Prefix, s.ValuesFile, err)
		}
		s.Values = values
	}
	return s, nil
}

// namingVariable is envconfig's error with the Go field's name it starts
// with (`RetryAfter("soon"): ...`) replaced by the variable's.
func namingVariable(err error) string {
	message := err.Error()
	for f := range reflect.TypeFor[Settings]().Fields() {
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if rest, ok := strings.CutPrefix(message, f.Name); ok && key != "" {
			return Prefix + "_" + key + rest
		}
	}
	return message
}

func (s Settings) validate() error {
	required := []struct{ variable, value string }{
		{"CHART_REPOSITORY", s.ChartRepository},
		{"CHART_NAME", s.ChartName},
		{"CHART_VERSION", s.ChartVersion},
		{"RELEASE_NAME", s.ReleaseName},
		{"RELEASE_NAMESPACE", s.ReleaseNamespace},
		{"AGENT_NAME", s.AgentName},
		{"DEFAULT_CREDENTIALS_SECRET", s.DefaultCredentialsSecret},
		{"EXTENSION_CONFIG", s.ExtensionConfig},
	}
	for _, r := range required {
		if r.value == "" {
			return fmt.Errorf("%s_%s is empty: unset it to use the default or give a value", Prefix, r.variable)
		}
	}
	if u, err := url.Parse(s.ChartRepository); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "oci") {
		return fmt.Errorf("%s_CHART_REPOSITORY %q is not a chart repository URL: use https://, http:// or oci://", Prefix, s.ChartRepository)
	}
	if s.RetryAfter < time.Second || s.RetryAfter > time.Hour {
		return fmt.Errorf("%s_RETRY_AFTER %s is out of range: use a duration from 1s to 1h", Prefix, s.RetryAfter)
	}
	if s.UninstallTimeout < time.Second {
		return fmt.Errorf("%s_UNINSTALL_TIMEOUT %s is too short: use a duration of at least 1s", Prefix, s.UninstallTimeout)
	}
	for _, name := range []struct{ variable, value string }{{"AGENT_NAME", s.AgentName}, {"RELEASE_NAMESPACE", s.ReleaseNamespace}} {
		if problems := validation.IsDNS1123Label(name.value); len(problems) > 0 {
			return fmt.Errorf("%s_%s %q is not a valid Kubernetes name (%s): use lowercase letters, digits and '-'", Prefix, name.variable, name.value, strings.Join(problems, "; "))
		}
	}
	for _, image := range []struct{ variable, value string }{{"IMAGE_REPOSITORY", s.ImageRepository}, {"IMAGE_NAME", s.ImageName}, {"IMAGE_TAG", s.ImageTag}} {
		if !imageReference.MatchString(image.value) {
			return fmt.Errorf("%s_%s %q is not part of an image reference: use letters, digits and . _ - / : @ only, or leave it empty for the chart's own", Prefix, image.variable, image.value)
		}
	}
	if !slices.Contains(K8sDistributions, s.K8sDistribution) {
		return fmt.Errorf("%s_K8S_DISTRIBUTION %q is not one the chart accepts: use one of %s", Prefix, s.K8sDistribution, strings.Join(K8sDistributions, ", "))
	}
	if s.HandlerTimeoutSeconds < 1 || s.HandlerTimeoutSeconds > 30 {
		return fmt.Errorf("%s_HANDLER_TIMEOUT_SECONDS %d is out of range: CAPI accepts 1 to 30", Prefix, s.HandlerTimeoutSeconds)
	}
	if s.SyncConcurrency < 1 || s.SyncConcurrency > 256 {
		return fmt.Errorf("%s_SYNC_CONCURRENCY %d is out of range: use 1 to 256 clusters written at once", Prefix, s.SyncConcurrency)
	}
	if s.SyncPageSize < 1 || s.SyncPageSize > 5000 {
		return fmt.Errorf("%s_SYNC_PAGE_SIZE %d is out of range: use 1 to 5000 objects per LIST page", Prefix, s.SyncPageSize)
	}
	if s.RolloutBatch < 0 || s.RolloutBatch > 100000 {
		return fmt.Errorf("%s_ROLLOUT_BATCH %d is out of range: use 0 (every Cluster at once) to 100000 Clusters moved per sync", Prefix, s.RolloutBatch)
	}
	if s.SyncTimeout < time.Second || s.SyncTimeout > time.Hour {
		return fmt.Errorf("%s_SYNC_TIMEOUT %s is out of range: use a duration from 1s to 1h", Prefix, s.SyncTimeout)
	}
	for _, choice := range []struct {
		variable, value string
		allowed         []string
	}{
		{"ON_INVALID_CONFIG", s.OnInvalidConfig, []string{OnInvalidConfigContinue, OnInvalidConfigBlock}},
		{"DELETE_FAILURE_POLICY", s.DeleteFailurePolicy, []string{FailurePolicyFail, FailurePolicyIgnore}},
	} {
		if !slices.Contains(choice.allowed, choice.value) {
			return fmt.Errorf("%s_%s %q is not one of %s", Prefix, choice.variable, choice.value, strings.Join(choice.allowed, ", "))
		}
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return fmt.Errorf("%s_TLS_CERT_FILE and %s_TLS_KEY_FILE go together: set both to serve TLS, or neither for plain HTTP", Prefix, Prefix)
	}
	for _, ns := range s.SyncNamespaces {
		if problems := validation.IsDNS1123Label(ns); len(problems) > 0 {
			return fmt.Errorf("%s_SYNC_NAMESPACES: %q is not a namespace name (%s): give namespace names separated by commas", Prefix, ns, strings.Join(problems, "; "))
		}
	}
	return nil
}

// RetryAfterSeconds is RetryAfter as CAPI's retryAfterSeconds, rounded up.
func (s Settings) RetryAfterSeconds() int32 {
	return int32(math.Ceil(s.RetryAfter.Seconds()))
}
