// Package valuestest holds what the tests of clusterconfig and konnector
// share: the configuration they start from, and a reader of a
// HelmChartProxy's valuesTemplate that does what CAAPH and Helm do.
package valuestest

import (
	"encoding/json"
	"strings"
	"testing"
	"text/template"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

const (
	// DefaultSecret is KONNECTOR_DEFAULT_CREDENTIALS_SECRET's default.
	DefaultSecret = "prism-central-credentials-for-konnector-agent"
	// PrismCentral is clusterConfig's nutanix field with an endpoint.
	PrismCentral = `"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}}`
	// TrustBundle is a PEM bundle of one certificate.
	TrustBundle = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2xlYW4=\n-----END CERTIFICATE-----\n"
)

// JSONString is s as a JSON string.
func JSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Settings are the default settings.
func Settings(t testing.TB) settings.Settings {
	t.Helper()
	s, err := settings.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// CAAPHRender does to a valuesTemplate what CAAPH does before Helm sees it:
// execute it as a Go template with the cluster as data.
func CAAPHRender(t testing.TB, valuesTemplate string) string {
	t.Helper()
	tmpl, err := template.New("values").Parse(valuesTemplate)
	if err != nil {
		t.Fatalf("CAAPH would fail to parse the valuesTemplate: %v\n%s", err, valuesTemplate)
	}
	var b strings.Builder
	data := map[string]any{"Cluster": map[string]any{"metadata": map[string]any{"name": "INJECTED"}}}
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("CAAPH would fail to execute the valuesTemplate: %v", err)
	}
	return b.String()
}

// Rendered are the chart values as Helm reads them after CAAPH's pass.
type Rendered struct {
	Agent struct {
		Name              string         `json:"name"`
		NamespaceOverride string         `json:"namespaceOverride"`
		Image             map[string]any `json:"image"`
	} `json:"agent"`
	PC struct {
		Endpoint              string  `json:"endpoint"`
		Port                  int32   `json:"port"`
		Insecure              bool    `json:"insecure"`
		AdditionalTrustBundle *string `json:"additionalTrustBundle"`
	} `json:"pc"`
	K8sClusterName             string         `json:"k8sClusterName"`
	K8sDistribution            string         `json:"k8sDistribution"`
	CategoryMappings           string         `json:"categoryMappings"`
	KubeconfigUpload           map[string]any `json:"kubeconfigUpload"`
	CreateSecret               bool           `json:"createSecret"`
	PrismCredentialsSecretName string         `json:"prismCredentialsSecretName"`
}
