package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// config is what hack/e2e.sh hands the suite: the CAPI version under test,
// its manager binary and manifests, CAAPH's, the fixture chart and the
// function binary. hack/e2e-knative.sh capi hands it, instead of the
// function binary, an installed konnector-hooks on a real management
// cluster (the installed mode, installed_test.go).
type config struct {
	// capiVersion is the CAPI release under test, e.g. v1.12.5.
	capiVersion string
	// capiManager is the CAPI core controller manager binary of that release.
	capiManager string
	// capiCRDs is that release's directory of CRDs (config/crd/bases).
	capiCRDs string
	// capiWebhooks is that release's admission webhook manifests
	// (config/webhook/manifests.yaml).
	capiWebhooks string
	// caaphManager is the CAAPH controller manager binary.
	caaphManager string
	// caaphCRDs is the CAAPH directory of CRDs (config/crd/bases).
	caaphCRDs string
	// caaphWebhooks is CAAPH's admission webhook manifests
	// (config/webhook/manifests.yaml).
	caaphWebhooks string
	// chart is the directory of the Konnector Agent fixture chart.
	chart string
	// function is the konnector-hooks binary (go build ./cmd/konnector-hooks).
	function string
	// artifacts is where logs and object dumps are written.
	artifacts string

	// managementKubeconfig, when set, is a real management cluster's
	// administrator kubeconfig: the suite installs the CRDs there and runs
	// CAPI and CAAPH against it instead of starting envtest.
	managementKubeconfig string
	// installed, when set, is the konnector-hooks installed on that
	// cluster, which CAPI calls instead of the suite's functions.
	installed *installedConfig
}

// installedConfig names an installed konnector-hooks (E2E_INSTALLED_*).
type installedConfig struct {
	// extensionConfig is the ExtensionConfig the install registered
	// (deploy/extensionconfig.yaml: konnector-agent).
	extensionConfig string
	// namespace holds the install: its settings ConfigMap
	// konnector-hooks-settings, its Sync CronJob konnector-hooks-sync.
	namespace string
	// workload is what serves the hooks, as kind/name: ksvc/<name> (the
	// Knative Service) or deployment/<name> (deploy/without-knative).
	workload string
	// pods selects the pods that serve the hooks, whose container hooks
	// logs every call.
	pods string
}

func configFromEnv() (config, error) {
	c := config{
		capiVersion:   os.Getenv("E2E_CAPI_VERSION"),
		capiManager:   os.Getenv("E2E_CAPI_MANAGER"),
		capiCRDs:      os.Getenv("E2E_CAPI_CRDS"),
		capiWebhooks:  os.Getenv("E2E_CAPI_WEBHOOKS"),
		caaphManager:  os.Getenv("E2E_CAAPH_MANAGER"),
		caaphCRDs:     os.Getenv("E2E_CAAPH_CRDS"),
		caaphWebhooks: os.Getenv("E2E_CAAPH_WEBHOOKS"),
		chart:         os.Getenv("E2E_CHART"),
		function:      os.Getenv("E2E_FUNCTION"),
		artifacts:     os.Getenv("E2E_ARTIFACTS"),
	}
	required := map[string]string{
		"E2E_CAPI_VERSION": c.capiVersion, "E2E_CAPI_MANAGER": c.capiManager, "E2E_CAPI_CRDS": c.capiCRDs,
		"E2E_CAPI_WEBHOOKS": c.capiWebhooks, "E2E_CAAPH_MANAGER": c.caaphManager, "E2E_CAAPH_CRDS": c.caaphCRDs, "E2E_CAAPH_WEBHOOKS": c.caaphWebhooks,
		"E2E_CHART": c.chart, "E2E_FUNCTION": c.function,
		"KUBEBUILDER_ASSETS": os.Getenv("KUBEBUILDER_ASSETS"),
	}
	c.managementKubeconfig = os.Getenv("E2E_MANAGEMENT_KUBECONFIG")
	if name := os.Getenv("E2E_INSTALLED_EXTENSION_CONFIG"); name != "" {
		c.installed = &installedConfig{
			extensionConfig: name,
			namespace:       os.Getenv("E2E_INSTALLED_NAMESPACE"),
			workload:        os.Getenv("E2E_INSTALLED_WORKLOAD"),
			pods:            os.Getenv("E2E_INSTALLED_PODS"),
		}
		// The installed function takes the place of the binary.
		delete(required, "E2E_FUNCTION")
		required["E2E_MANAGEMENT_KUBECONFIG"] = c.managementKubeconfig
		required["E2E_INSTALLED_NAMESPACE"] = c.installed.namespace
		required["E2E_INSTALLED_WORKLOAD"] = c.installed.workload
		required["E2E_INSTALLED_PODS"] = c.installed.pods
	}
	var missing []string
	for name, value := range required {
		if value == "" {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return c, fmt.Errorf("%s not set: run the end-to-end suite with hack/e2e.sh (make e2e), which builds the CAPI and CAAPH managers and the function and sets them, or against an installed konnector-hooks with hack/e2e-knative.sh capi (make e2e-knative)", strings.Join(missing, ", "))
	}
	if c.artifacts == "" {
		dir, err := os.MkdirTemp("", "konnector-hooks-e2e-")
		if err != nil {
			return c, err
		}
		c.artifacts = dir
	}
	return c, os.MkdirAll(c.artifacts, 0o755)
}
