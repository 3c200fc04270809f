package settings

import (
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
	}
	if s != want {
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

func TestRetryAfterSeconds_RoundsUp(t *testing.T) {
	s := Settings{RetryAfter: 1500 * time.Millisecond}
	if got := s.RetryAfterSeconds(); got != 2 {
		t.Fatalf("RetryAfterSeconds() = %d, want 2", got)
	}
}
