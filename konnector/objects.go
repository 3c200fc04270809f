package konnector

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// ResourceSetKey is the key of the resource-set Secret that holds the
// manifests applied to the workload cluster.
const ResourceSetKey = "konnector-agent.yaml"

// Desired are the objects the hooks keep for one cluster in its namespace.
// ResourceSetSecret holds what the ClusterResourceSet applies to the
// workload cluster; Warnings say where the agent is installed otherwise
// than configured, and how to fix it.
type Desired struct {
	HelmChartProxy     *caaphv1.HelmChartProxy
	ClusterResourceSet *addonsv1.ClusterResourceSet
	ResourceSetSecret  *corev1.Secret
	RegisteredName     string
	Warnings           []string
}

// DesiredObjects computes the objects for a cluster with the addon enabled.
func DesiredObjects(cluster *clusterv1.Cluster, cfg *clusterconfig.Config, creds Credentials, s settings.Settings) Desired {
	name := ObjectName(cluster.Name)
	values := clusterconfig.Values{
		Settings:       s,
		RegisteredName: RegisteredName(cluster.Name),
		PrismCentral:   cfg.PrismCentral,
		Categories:     cfg.Categories,
		WorkloadSecret: WorkloadSecretName,
	}
	var warnings []string
	if !cfg.PrismCentral.Insecure && cfg.PrismCentral.TrustBundle == nil {
		// The chart refuses insecure: false without a trust bundle; like
		// Nutanix's own extension, the hooks install insecure, and say so.
		warnings = append(warnings, InsecureFallbackWarning)
	}
	if cfg.KubeconfigUpload {
		endpoint := cluster.Spec.ControlPlaneEndpoint
		values.KubeconfigEndpoint = clusterconfig.KubeconfigEndpoint(endpoint.Host, endpoint.Port)
		if values.KubeconfigEndpoint == "" {
			warnings = append(warnings, "kubeconfig upload to Prism Central is off for now: Cluster "+cluster.Namespace+"/"+cluster.Name+
				" has no spec.controlPlaneEndpoint yet; it is turned on when konnector-hooks next runs for the Cluster after the endpoint is set")
		}
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:      name,
			Namespace: cluster.Namespace,
			Labels:    Labels(cluster.Name),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: clusterv1.GroupVersion.String(),
				Kind:       "Cluster",
				Name:       cluster.Name,
				UID:        cluster.UID,
			}},
		}
	}
	selector := metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: cluster.Name}}

	d := Desired{
		HelmChartProxy: &caaphv1.HelmChartProxy{
			TypeMeta:   metav1.TypeMeta{APIVersion: caaphv1.GroupVersion.String(), Kind: "HelmChartProxy"},
			ObjectMeta: meta(),
			Spec: caaphv1.HelmChartProxySpec{
				ClusterSelector:  selector,
				RepoURL:          s.ChartRepository,
				ChartName:        s.ChartName,
				Version:          s.ChartVersion,
				ReleaseName:      s.ReleaseName,
				ReleaseNamespace: s.ReleaseNamespace,
			},
		},
		ClusterResourceSet: &addonsv1.ClusterResourceSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: addonsv1.GroupVersion.String(), Kind: "ClusterResourceSet"},
			ObjectMeta: meta(),
			Spec: addonsv1.ClusterResourceSetSpec{
				ClusterSelector: selector,
				Strategy:        string(addonsv1.ClusterResourceSetStrategyReconcile),
				Resources: []addonsv1.ResourceRef{{
					Name: name,
					Kind: string(addonsv1.SecretClusterResourceSetResourceKind),
				}},
			},
		},
		ResourceSetSecret: &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(),
			Type:       addonsv1.ClusterResourceSetSecretType,
			Data:       map[string][]byte{ResourceSetKey: workloadManifests(s.ReleaseNamespace, creds)},
		},
		RegisteredName: values.RegisteredName,
		Warnings:       warnings,
	}
	d.HelmChartProxy.Spec.ValuesTemplate = clusterconfig.RenderValues(clusterconfig.ChartValues(values))
	return d
}

// InsecureFallbackWarning is the warning for insecure: false without a trust bundle.
const InsecureFallbackWarning = clusterconfig.FieldEndpoint + " has insecure: false but no additionalTrustBundle, which the chart cannot install: " +
	"the Konnector Agent is installed with insecure: true and does not verify Prism Central's certificate; " +
	"set " + clusterconfig.FieldEndpoint + ".additionalTrustBundle to the base64 of the CA bundle of Prism Central's certificate to have it verified"

// workloadManifests are what the ClusterResourceSet creates in the workload
// cluster: the release namespace, privileged (the agent's hooks and daemon
// need host access), and the credentials Secret. One JSON list, which CAPI
// reads as it reads YAML (objsFromYamlData and isJSONList in CAPI v1.12.5's
// internal/controllers/clusterresourceset/clusterresourceset_helpers.go; the
// same in v1.11.4 and, under core/reconcilers, v1.14.2), at a seventh of
// sigs.k8s.io/yaml's cost (bench/report.md).
func workloadManifests(namespace string, creds Credentials) []byte {
	ns := corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   namespace,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
		},
	}
	secret := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: WorkloadSecretName, Namespace: namespace},
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			corev1.BasicAuthUsernameKey: creds.Username,
			corev1.BasicAuthPasswordKey: creds.Password,
		},
	}
	b, err := json.Marshal([]map[string]any{manifestFields(&ns), manifestFields(&secret)})
	if err != nil {
		panic("konnector: marshalling the workload manifests: " + err.Error()) // API types always marshal
	}
	return b
}

// Manifest is obj as YAML for people (the preview), without what a
// manifest leaves out (creationTimestamp, status, an empty spec).
func Manifest(obj runtime.Object) []byte {
	b, err := yaml.Marshal(manifestFields(obj))
	if err != nil {
		panic("konnector: marshalling a manifest: " + err.Error()) // API types always marshal
	}
	return b
}

// manifestFields is obj's content as a manifest holds it.
func manifestFields(obj runtime.Object) map[string]any {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic("konnector: converting a manifest: " + err.Error()) // API types always convert
	}
	delete(u, "status")
	if spec, ok := u["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(u, "spec")
	}
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	return u
}
