package konnector

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

const (
	// FieldManager owns every field the hooks write with server-side apply.
	FieldManager = "konnector-hooks"
	// AppName is the app.kubernetes.io/name of every object the hooks write.
	AppName = "konnector-agent"

	// WorkloadSecretName is the Secret the chart reads the credentials from
	// (its prismCredentialsSecretName value), in the release namespace.
	WorkloadSecretName = "konnector-agent"

	labelAppName   = "app.kubernetes.io/name"
	labelManagedBy = "app.kubernetes.io/managed-by"

	objectPrefix = "konnector-agent-"
	// maxLabelValue is the longest label value: CAAPH labels every
	// HelmReleaseProxy with its HelmChartProxy's name.
	maxLabelValue = 63
	// maxRegisteredName is the longest cluster name Prism Central takes.
	maxRegisteredName = 40
	hashLength        = 8
)

// ObjectName is the name of one cluster's HelmChartProxy, ClusterResourceSet
// and resource-set Secret: a valid label value, cut long names ending in a
// short hash of the cluster name, so two never share objects.
func ObjectName(cluster string) string {
	return shorten(objectPrefix+cluster, maxLabelValue, cluster)
}

// RegisteredName is the chart's k8sClusterName: the Cluster's name, cut to
// Prism Central's 40 characters as ObjectName cuts.
func RegisteredName(cluster string) string {
	return shorten(cluster, maxRegisteredName, cluster)
}

// shorten returns name when it has at most max characters, else its start
// followed by "-" and a short hash of the cluster name, max characters in all.
func shorten(name string, max int, cluster string) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(cluster))
	return name[:max-hashLength-1] + "-" + hex.EncodeToString(sum[:])[:hashLength]
}

// OurLabels are on every object the hooks write: Sync lists by them.
func OurLabels() map[string]string {
	return map[string]string{labelAppName: AppName, labelManagedBy: FieldManager}
}

// Labels are the labels of every object the hooks write for a cluster.
func Labels(cluster string) map[string]string {
	set := OurLabels()
	set[clusterv1.ClusterNameLabel] = cluster
	return set
}

// IsOurs reports whether an object's labels mark it as the hooks' for that
// cluster: the hooks never take over or delete anyone else's.
func IsOurs(objectLabels map[string]string, cluster string) bool {
	return labels.SelectorFromSet(Labels(cluster)).Matches(labels.Set(objectLabels))
}

// ParseKey reads <namespace>/<name>, both non-empty, with no other '/'.
func ParseKey(s string) (key types.NamespacedName, ok bool) {
	namespace, name, ok := strings.Cut(s, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: namespace, Name: name}, true
}
