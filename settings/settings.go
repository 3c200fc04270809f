// Package settings holds the function's configuration: every default lives
// here, and it is read once from KONNECTOR_* environment variables at start-up.
package settings

import (
	"fmt"
	"math"
	"net/url"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Prefix is the prefix of every environment variable read into Settings.
const Prefix = "KONNECTOR"

// Settings are the operator's choices for every cluster the hooks serve.
type Settings struct {
	ChartRepository          string        `envconfig:"CHART_REPOSITORY" default:"https://mesosphere.github.io/charts/stable/"`
	ChartName                string        `envconfig:"CHART_NAME" default:"konnector-agent"`
	ChartVersion             string        `envconfig:"CHART_VERSION" default:"1.3.0-rc.0"`
	ReleaseName              string        `envconfig:"RELEASE_NAME" default:"konnector-agent"`
	ReleaseNamespace         string        `envconfig:"RELEASE_NAMESPACE" default:"ntnx-system"`
	AgentName                string        `envconfig:"AGENT_NAME" default:"konnector-agent"`
	DefaultCredentialsSecret string        `envconfig:"DEFAULT_CREDENTIALS_SECRET" default:"prism-central-credentials-for-konnector-agent"`
	RetryAfter               time.Duration `envconfig:"RETRY_AFTER" default:"5s"`
	UninstallTimeout         time.Duration `envconfig:"UNINSTALL_TIMEOUT" default:"5m"`
	HandlerTimeoutSeconds    int32         `envconfig:"HANDLER_TIMEOUT_SECONDS" default:"30"`
}

// Load reads the settings from the environment and checks them. Its errors
// name the environment variable to fix.
func Load() (Settings, error) {
	var s Settings
	if err := envconfig.Process(Prefix, &s); err != nil {
		return Settings{}, fmt.Errorf("reading settings: %w", err)
	}
	return s, s.validate()
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
	if s.HandlerTimeoutSeconds < 1 || s.HandlerTimeoutSeconds > 30 {
		return fmt.Errorf("%s_HANDLER_TIMEOUT_SECONDS %d is out of range: CAPI accepts 1 to 30", Prefix, s.HandlerTimeoutSeconds)
	}
	return nil
}

// RetryAfterSeconds is RetryAfter as CAPI's retryAfterSeconds, rounded up.
func (s Settings) RetryAfterSeconds() int32 {
	return int32(math.Ceil(s.RetryAfter.Seconds()))
}
