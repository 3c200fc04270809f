package konnector

import (
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SyncStep is what a sync does for one Cluster, decided from what the sync
// listed. Between the hooks, Sync gives a Cluster the state the hooks would
// give it, and leaves alone what belongs to a hook that is still to come.
type SyncStep int

const (
	// SyncLeaveToDelete: the Cluster is deleting; BeforeClusterDelete
	// uninstalls the agent and CAPI waits for it.
	SyncLeaveToDelete SyncStep = iota
	// SyncLeaveToInitialize: the control plane is not initialized;
	// AfterControlPlaneInitialized deploys once it is.
	SyncLeaveToInitialize
	// SyncConverge: the addon is enabled (or its configuration is invalid,
	// which the hooks' path reports): bring the objects to the desired state.
	SyncConverge
	// SyncUninstall: the addon is no longer enabled but objects of it
	// remain: uninstall as BeforeClusterDelete does, then remove the rest.
	SyncUninstall
	// SyncNotEnabled: the addon is off and nothing of it exists.
	SyncNotEnabled
)

// SyncView is what a sync knows of one Cluster before it acts.
type SyncView struct {
	Deleting, Initialized bool
	// Enabled is true when clusterConfig.addons.konnectorAgent is present,
	// valid or not.
	Enabled bool
	// Leftovers is true when any object this addon wrote for the Cluster
	// still exists.
	Leftovers bool
}

// Next decides the sync step for one Cluster.
func (v SyncView) Next() SyncStep {
	switch {
	case v.Deleting:
		return SyncLeaveToDelete
	case !v.Initialized:
		return SyncLeaveToInitialize
	case v.Enabled:
		return SyncConverge
	case v.Leftovers:
		return SyncUninstall
	}
	return SyncNotEnabled
}

// SyncStep decides the sync step for the Cluster of f, as the sync's
// LISTs read it. A ClusterResourceSet or Secret that is being deleted is
// gone for the sync (CAPI's finalizer releases the ClusterResourceSet):
// deleting it again would report the uninstall twice. A deleting
// HelmChartProxy still counts: its uninstall is waited for.
func (f DeployFacts) SyncStep() SyncStep {
	live := func(obj client.Object) bool { return obj != nil && obj.GetDeletionTimestamp() == nil }
	cur := f.Current
	return SyncView{
		Deleting:    f.Cluster.DeletionTimestamp != nil,
		Initialized: ControlPlaneInitialized(f.Cluster),
		Enabled:     f.Config != nil || f.ConfigErr != nil,
		Leftovers:   cur.HelmChartProxy != nil || live(ObjectOrNil(cur.ClusterResourceSet)) || live(ObjectOrNil(cur.ResourceSetSecret)),
	}.Next()
}

// ServedNamespaces words which namespaces Sync serves, for its messages:
// those of KONNECTOR_SYNC_NAMESPACES when set, else those the ExtensionConfig
// selects.
func ServedNamespaces(syncNamespaces []string, extensionConfig string) string {
	if len(syncNamespaces) > 0 {
		return fmt.Sprintf("the namespaces of KONNECTOR_SYNC_NAMESPACES (%s)", strings.Join(syncNamespaces, ", "))
	}
	return fmt.Sprintf("the namespaces ExtensionConfig %s selects", extensionConfig)
}

// ExtensionConfigNotFound is the error of a sync whose ExtensionConfig,
// which says the namespaces it serves, does not exist.
func ExtensionConfigNotFound(name string) error {
	return &InputError{
		Field:   "ExtensionConfig " + name,
		Problem: "not found: Sync serves the namespaces its namespaceSelector selects, as CAPI calls the hooks for them",
		Fix:     "apply deploy/extensionconfig.yaml, or set KONNECTOR_EXTENSION_CONFIG to the name of the ExtensionConfig that registers konnector-hooks",
	}
}

// NotServedMessage is the answer for a sync naming a Cluster that Sync does
// not serve; it changes nothing.
func NotServedMessage(cluster string, syncNamespaces []string, extensionConfig string) string {
	if len(syncNamespaces) > 0 {
		return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace of KONNECTOR_SYNC_NAMESPACES (%s): Sync changes nothing for it; check the namespace and name, or the setting",
			cluster, strings.Join(syncNamespaces, ", "))
	}
	return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace that ExtensionConfig %s selects (spec.namespaceSelector): Sync changes nothing for it; check the namespace and name, or the namespace's labels",
		cluster, extensionConfig)
}

// UninstalledMessage is Sync's answer once the agent of a Cluster whose
// addon was disabled is uninstalled: what went, and the credentials Secret
// left in the workload cluster with how to delete it (a ClusterResourceSet
// never deletes what it applied, and the function has no workload-cluster
// access by design).
func UninstalledMessage(namespace, cluster string, deleted []string, releaseNamespace string) string {
	message := fmt.Sprintf("Konnector Agent uninstalled from Cluster %s/%s, whose clusterConfig no longer enables the addon: its HelmChartProxy and HelmReleaseProxies are gone", namespace, cluster)
	if len(deleted) > 0 {
		message += "; deleted " + strings.Join(deleted, ", ")
	}
	secret := releaseNamespace + "/" + WorkloadSecretName
	return message + fmt.Sprintf(". The Secret %s in the workload cluster still holds the Prism Central credentials (a ClusterResourceSet does not delete what it applied): delete it with "+
		"`clusterctl get kubeconfig %s -n %s > %s.kubeconfig && kubectl --kubeconfig %s.kubeconfig delete secret -n %s %s`",
		secret, cluster, namespace, cluster, cluster, releaseNamespace, WorkloadSecretName)
}
