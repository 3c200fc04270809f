package handlers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// syncScope is what one sync covers: every served Cluster, or one.
type syncScope struct {
	// cluster is empty for every served Cluster.
	cluster types.NamespacedName
}

func (sc syncScope) one() bool { return sc.cluster.Name != "" }

// syncTarget is one Cluster as the sync's LISTs show it: the inputs of the
// hooks' deploy path, its current objects as the LISTs found them.
type syncTarget struct {
	in *deployInputs
}

func (t *syncTarget) key() types.NamespacedName { return client.ObjectKeyFromObject(t.in.cluster) }

func (t *syncTarget) view() konnector.SyncView {
	cur := t.in.current
	return konnector.SyncView{
		Deleting:    t.in.cluster.DeletionTimestamp != nil,
		Initialized: konnector.ControlPlaneInitialized(t.in.cluster),
		Enabled:     t.in.config != nil || t.in.configErr != nil,
		Leftovers:   cur.HelmChartProxy != nil || notDeleting(konnector.ObjectOrNil(cur.ClusterResourceSet)) || notDeleting(konnector.ObjectOrNil(cur.ResourceSetSecret)),
	}
}

// notDeleting reports whether obj exists and is not being deleted. A
// ClusterResourceSet or Secret that is being deleted is gone for the sync
// (CAPI's finalizer releases the ClusterResourceSet): deleting it again
// would report the uninstall twice. A deleting HelmChartProxy still counts:
// its uninstall is waited for.
func notDeleting(obj client.Object) bool {
	return obj != nil && obj.GetDeletionTimestamp() == nil
}

// complete reports whether the LISTs found all of the Cluster's objects.
// The LISTs select our labels, so an object of our name without them is not
// among them: when one is missing the sync reads by name, as the hooks do.
func (t *syncTarget) complete() bool {
	cur := t.in.current
	return cur.HelmChartProxy != nil && cur.ClusterResourceSet != nil && cur.ResourceSetSecret != nil
}

// syncRead is what a sync reads before acting.
type syncRead struct {
	// served is false when the scope names a Cluster that is not served.
	served  bool
	targets []*syncTarget
}

// readSync reads the served Clusters and our objects (kube.ReadFleet),
// decides each Cluster's configuration, and gives each Cluster with the
// addon the default-named credentials Secret of its namespace, read once
// per such namespace and in no other.
func (s *Server) readSync(ctx context.Context, c client.Client, scope syncScope) (*syncRead, error) {
	fleet, err := kube.ReadFleet(ctx, c, kube.FleetScope{
		Cluster:         scope.cluster,
		Namespaces:      s.settings.SyncNamespaces,
		ExtensionConfig: s.settings.ExtensionConfig,
	})
	if err != nil {
		return nil, err
	}
	read := &syncRead{served: fleet.Served}
	users := map[string][]*deployInputs{}
	for _, m := range fleet.Members {
		in := &deployInputs{cluster: m.Cluster, current: m.Current}
		in.config, in.configErr = konnector.ReadConfig(&m.Cluster.Spec.Topology, s.settings.DefaultCredentialsSecret)
		read.targets = append(read.targets, &syncTarget{in: in})
		if in.config != nil {
			users[m.Cluster.Namespace] = append(users[m.Cluster.Namespace], in)
		}
	}
	withAddon := slices.Collect(maps.Keys(users))
	secrets, err := kube.ReadSecretInEach(ctx, c, s.settings.DefaultCredentialsSecret, withAddon, s.settings.SyncConcurrency)
	if err != nil {
		return nil, err
	}
	for namespace, inputs := range users {
		for _, in := range inputs {
			in.defaultSecret = secrets[namespace]
		}
	}
	return read, nil
}

// notServed is the answer for a sync naming a Cluster that Sync does not
// serve; it changes nothing.
func (s *Server) notServed(key types.NamespacedName) string {
	if len(s.settings.SyncNamespaces) > 0 {
		return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace of KONNECTOR_SYNC_NAMESPACES (%s): Sync changes nothing for it; check the namespace and name, or the setting",
			key, strings.Join(s.settings.SyncNamespaces, ", "))
	}
	return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace that ExtensionConfig %s selects (spec.namespaceSelector): Sync changes nothing for it; check the namespace and name, or the namespace's labels",
		key, s.settings.ExtensionConfig)
}
