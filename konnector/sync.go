package konnector

import (
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SyncStep is what a sync does for one Cluster: the state the hooks would
// give it, leaving alone what belongs to a hook still to come.
type SyncStep int

const (
	// SyncLeaveToDelete: BeforeClusterDelete uninstalls the agent.
	SyncLeaveToDelete SyncStep = iota
	// SyncLeaveToInitialize: AfterControlPlaneInitialized deploys it.
	SyncLeaveToInitialize
	// SyncConverge: the addon is on (valid or not): the hooks' deploy.
	SyncConverge
	// SyncUninstall: the addon is off and objects of it remain.
	SyncUninstall
	// SyncNotEnabled: the addon is off and nothing of it exists.
	SyncNotEnabled
)

// SyncView is what a sync knows of one Cluster before it acts. Enabled:
// clusterConfig.addons.konnectorAgent is present, valid or not; Leftovers:
// an object of the addon exists.
type SyncView struct {
	Deleting, Initialized, Enabled, Leftovers bool
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

// SyncStep decides the sync step for the Cluster of f. A deleting
// ClusterResourceSet or Secret counts as gone (deleting it again would
// report the uninstall twice); a deleting HelmChartProxy is waited for.
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

// ServedNamespaces words which namespaces Sync serves, for its messages.
func ServedNamespaces(syncNamespaces []string, extensionConfig string) string {
	if len(syncNamespaces) > 0 {
		return fmt.Sprintf("the namespaces of KONNECTOR_SYNC_NAMESPACES (%s)", strings.Join(syncNamespaces, ", "))
	}
	return fmt.Sprintf("the namespaces ExtensionConfig %s selects", extensionConfig)
}

// ExtensionConfigNotFound is the error of a sync without its ExtensionConfig.
func ExtensionConfigNotFound(name string) error {
	return &InputError{
		Field:   "ExtensionConfig " + name,
		Problem: "not found: Sync serves the namespaces its namespaceSelector selects, as CAPI calls the hooks for them",
		Fix:     "apply deploy/extensionconfig.yaml, or set KONNECTOR_EXTENSION_CONFIG to the name of the ExtensionConfig that registers konnector-hooks",
	}
}

// NotServedMessage answers a sync of a Cluster Sync does not serve.
func NotServedMessage(cluster string, syncNamespaces []string, extensionConfig string) string {
	if len(syncNamespaces) > 0 {
		return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace of KONNECTOR_SYNC_NAMESPACES (%s): Sync changes nothing for it; check the namespace and name, or the setting",
			cluster, strings.Join(syncNamespaces, ", "))
	}
	return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace that ExtensionConfig %s selects (spec.namespaceSelector): Sync changes nothing for it; check the namespace and name, or the namespace's labels",
		cluster, extensionConfig)
}
