package konnector

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
