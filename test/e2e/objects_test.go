package e2e

import (
	"encoding/base64"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// API versions the suite writes. CAPI v1.12 and later store and serve v1beta2.
const (
	clusterAPIVersion      = "cluster.x-k8s.io/v1beta2"
	runtimeAPIVersion      = "runtime.cluster.x-k8s.io/v1beta2"
	caaphAPIVersion        = "addons.cluster.x-k8s.io/v1alpha1"
	crsAPIVersion          = "addons.cluster.x-k8s.io/v1beta2"
	infraAPIVersion        = "infrastructure.e2e.konnector-hooks.io/v1alpha1"
	controlPlaneAPIVersion = "controlplane.e2e.konnector-hooks.io/v1alpha1"

	// extensionLabel on a namespace selects the function (ExtensionConfig)
	// that CAPI calls for the Clusters in it.
	extensionLabel = "e2e.konnector-hooks.io/extension"
	// className is the ClusterClass every test Cluster uses.
	className = "e2e-konnector"
	// credentialsSecret is the default credentials Secret name (settings).
	credentialsSecret = "prism-central-credentials-for-konnector-agent"

	// CAAPH's label on HelmReleaseProxies naming their HelmChartProxy, and
	// CAPI's cluster name label.
	helmChartProxyNameLabel = "helmreleaseproxy.addons.cluster.x-k8s.io/helmchartproxy-name"
	clusterNameLabel        = "cluster.x-k8s.io/cluster-name"
)

// clusterConfig variables: the addon's examples from the seed, each with
// the Prism Central endpoint a Nutanix cluster carries, and a cluster
// without the addon.
const (
	prismCentralURL = "https://prism-central.example.com:9440"
	prismCentral    = `"nutanix":{"prismCentralEndpoint":{"url":"` + prismCentralURL + `"}}`
	// basicConfig and minimalConfig are the seed's Basic and Minimal
	// examples (the same addon configuration).
	basicConfig   = `{` + prismCentral + `,"addons":{"konnectorAgent":{}}}`
	minimalConfig = basicConfig
	// advancedConfig is the seed's Advanced example.
	advancedConfig = `{` + prismCentral + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"` + credentialsSecret + `"}}}}}`
	// categoriesConfig adds Prism Central categories of the control plane.
	categoriesConfig = `{` + prismCentral + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"AppType","value":"Kubernetes"}]}}},"addons":{"konnectorAgent":{}}}`
	// noAddonConfig is a Nutanix cluster without the addon.
	noAddonConfig = `{` + prismCentral + `}`
)

func object(apiVersion, kind, namespace, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: fields}
	if u.Object == nil {
		u.Object = map[string]any{}
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func newNamespace(name, extension string) *unstructured.Unstructured {
	ns := object("v1", "Namespace", "", name, nil)
	ns.SetLabels(map[string]string{extensionLabel: extension})
	return ns
}

func newCredentials(namespace string) *unstructured.Unstructured {
	return object("v1", "Secret", namespace, credentialsSecret, map[string]any{
		"stringData": map[string]any{"username": "e2e-admin", "password": "e2e-not-a-real-password"},
	})
}

// newExtensionConfig registers a function with CAPI for the namespaces
// labelled with its name.
func newExtensionConfig(name, url string, caBundle []byte) *unstructured.Unstructured {
	return object(runtimeAPIVersion, "ExtensionConfig", "", name, map[string]any{
		"spec": map[string]any{
			"clientConfig": map[string]any{
				"url":      url,
				"caBundle": base64.StdEncoding.EncodeToString(caBundle),
			},
			"namespaceSelector": map[string]any{
				"matchLabels": map[string]any{extensionLabel: name},
			},
		},
	})
}

// newClusterClass returns the ClusterClass and its two templates: a control
// plane without machines and an infrastructure cluster, both of the suite's
// providers, and the clusterConfig variable with an open schema.
func newClusterClass(namespace string) []*unstructured.Unstructured {
	infra := object(infraAPIVersion, "E2EInfraClusterTemplate", namespace, "e2e-infra", map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{}}},
	})
	cp := object(controlPlaneAPIVersion, "E2EControlPlaneTemplate", namespace, "e2e-control-plane", map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{}}},
	})
	class := object(clusterAPIVersion, "ClusterClass", namespace, className, map[string]any{
		"spec": map[string]any{
			"infrastructure": map[string]any{"templateRef": map[string]any{
				"apiVersion": infraAPIVersion, "kind": "E2EInfraClusterTemplate", "name": "e2e-infra",
			}},
			"controlPlane": map[string]any{"templateRef": map[string]any{
				"apiVersion": controlPlaneAPIVersion, "kind": "E2EControlPlaneTemplate", "name": "e2e-control-plane",
			}},
			"variables": []any{map[string]any{
				"name":     "clusterConfig",
				"required": false,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	})
	return []*unstructured.Unstructured{infra, cp, class}
}

func newCluster(namespace, name, version, clusterConfig string) *unstructured.Unstructured {
	var value map[string]any
	if err := yaml.Unmarshal([]byte(clusterConfig), &value); err != nil {
		panic("clusterConfig of " + name + ": " + err.Error())
	}
	return object(clusterAPIVersion, "Cluster", namespace, name, map[string]any{
		"spec": map[string]any{"topology": map[string]any{
			"classRef":  map[string]any{"name": className},
			"version":   version,
			"variables": []any{map[string]any{"name": "clusterConfig", "value": value}},
		}},
	})
}

func marshalYAML(v any) ([]byte, error) { return yaml.Marshal(v) }
