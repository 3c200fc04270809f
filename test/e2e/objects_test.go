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
	bootstrapAPIVersion    = "bootstrap.e2e.konnector-hooks.io/v1alpha1"

	// extensionLabel on a namespace selects the function (ExtensionConfig)
	// that CAPI calls for the Clusters in it.
	extensionLabel = "e2e.konnector-hooks.io/extension"
	// className is the ClusterClass every test Cluster uses.
	className = "e2e-konnector"
	// workerClass is the class's MachineDeployment class, and
	// workersName the MachineDeployment topology of a Cluster with workers.
	workerClass = "default-worker"
	workersName = "md-0"
	// credentialsSecret is the default credentials Secret name (settings).
	credentialsSecret = "prism-central-credentials-for-konnector-agent"

	// CAAPH's label on HelmReleaseProxies naming their HelmChartProxy, and
	// CAPI's cluster name label.
	helmChartProxyNameLabel = "helmreleaseproxy.addons.cluster.x-k8s.io/helmchartproxy-name"
	clusterNameLabel        = "cluster.x-k8s.io/cluster-name"
	// CAPI's label on a MachineDeployment naming its workers topology, and
	// on a Machine naming its MachineDeployment.
	machineDeploymentTopologyLabel = "topology.cluster.x-k8s.io/deployment-name"
	machineDeploymentNameLabel     = "cluster.x-k8s.io/deployment-name"
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

// newClusterClass returns the ClusterClass and its templates: a control
// plane without machines and an infrastructure cluster, both of the suite's
// providers, a workers class whose MachineDeployments use the suite's
// bootstrap and infrastructure machine templates, and the clusterConfig
// variable with an open schema.
func newClusterClass(namespace string) []*unstructured.Unstructured {
	template := func(apiVersion, kind, name string) *unstructured.Unstructured {
		return object(apiVersion, kind, namespace, name, map[string]any{
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{}}},
		})
	}
	ref := func(t *unstructured.Unstructured) map[string]any {
		return map[string]any{"templateRef": map[string]any{"apiVersion": t.GetAPIVersion(), "kind": t.GetKind(), "name": t.GetName()}}
	}
	infra := template(infraAPIVersion, "E2EInfraClusterTemplate", "e2e-infra")
	cp := template(controlPlaneAPIVersion, "E2EControlPlaneTemplate", "e2e-control-plane")
	workerBootstrap := template(bootstrapAPIVersion, "E2EBootstrapConfigTemplate", "e2e-worker")
	workerMachine := template(infraAPIVersion, "E2EInfraMachineTemplate", "e2e-worker")
	class := object(clusterAPIVersion, "ClusterClass", namespace, className, map[string]any{
		"spec": map[string]any{
			"infrastructure": ref(infra),
			"controlPlane":   ref(cp),
			"workers": map[string]any{"machineDeployments": []any{map[string]any{
				"class":          workerClass,
				"bootstrap":      ref(workerBootstrap),
				"infrastructure": ref(workerMachine),
			}}},
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
	return []*unstructured.Unstructured{infra, cp, workerBootstrap, workerMachine, class}
}

// newCluster returns a Cluster of the class; with workers, its topology
// asks for one MachineDeployment of one replica of the workers class.
func newCluster(namespace, name, version, clusterConfig string, workers bool) *unstructured.Unstructured {
	var value map[string]any
	if err := yaml.Unmarshal([]byte(clusterConfig), &value); err != nil {
		panic("clusterConfig of " + name + ": " + err.Error())
	}
	topology := map[string]any{
		"classRef":  map[string]any{"name": className},
		"version":   version,
		"variables": []any{map[string]any{"name": "clusterConfig", "value": value}},
	}
	if workers {
		topology["workers"] = map[string]any{"machineDeployments": []any{map[string]any{
			"class": workerClass, "name": workersName, "replicas": int64(1),
		}}}
	}
	return object(clusterAPIVersion, "Cluster", namespace, name, map[string]any{
		"spec": map[string]any{"topology": topology},
	})
}

func marshalYAML(v any) ([]byte, error) { return yaml.Marshal(v) }
