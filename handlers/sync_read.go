package handlers

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
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
// hooks' deploy path, and what of the addon exists for it.
type syncTarget struct {
	in *deployInputs
	// proxy, set and secret are this addon's objects for the Cluster, nil
	// where the LISTs found none.
	proxy  *caaphv1.HelmChartProxy
	set    *addonsv1.ClusterResourceSet
	secret *corev1.Secret
}

func (t *syncTarget) key() types.NamespacedName { return client.ObjectKeyFromObject(t.in.cluster) }

func (t *syncTarget) view() konnector.SyncView {
	return konnector.SyncView{
		Deleting:    t.in.cluster.DeletionTimestamp != nil,
		Initialized: controlPlaneInitialized(t.in.cluster),
		Enabled:     t.in.config != nil || t.in.configErr != nil,
		Leftovers:   t.proxy != nil || notDeleting(objectOrNil(t.set)) || notDeleting(objectOrNil(t.secret)),
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
func (t *syncTarget) complete() bool { return t.proxy != nil && t.set != nil && t.secret != nil }

// syncRead is what a sync reads before acting.
type syncRead struct {
	// served is false when the scope names a Cluster outside the
	// namespaces the ExtensionConfig selects.
	served  bool
	targets []*syncTarget
}

// readSync reads every served Cluster and the addon's objects with a fixed
// number of requests, whatever the number of Clusters (see the package doc of
// kube): the ExtensionConfig and its Namespaces, then, in parallel, label-
// selected LISTs of the Clusters and of our objects, and one field-selected
// LIST of the default-named credentials Secrets.
func (s *Server) readSync(ctx context.Context, c client.Client, scope syncScope) (*syncRead, error) {
	namespace := scope.cluster.Namespace
	ours := client.MatchingLabels{"app.kubernetes.io/name": konnector.AppName, "app.kubernetes.io/managed-by": konnector.FieldManager}
	clusterOpts := []client.ListOption{}
	if scope.one() {
		ours[clusterv1.ClusterNameLabel] = scope.cluster.Name
		clusterOpts = append(clusterOpts, client.MatchingFields{"metadata.name": scope.cluster.Name})
	}
	var (
		served   map[string]bool
		clusters clusterv1.ClusterList
		proxies  caaphv1.HelmChartProxyList
		sets     addonsv1.ClusterResourceSetList
		secrets  corev1.SecretList
		defaults corev1.SecretList
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		sel, found, err := kube.NamespaceSelector(gctx, c, s.settings.ExtensionConfig)
		switch {
		case err != nil:
			return err
		case !found:
			return &konnector.InputError{
				Field:   "ExtensionConfig " + s.settings.ExtensionConfig,
				Problem: "not found: Sync serves the namespaces its namespaceSelector selects, as CAPI calls the hooks for them",
				Fix:     "apply deploy/extensionconfig.yaml, or set KONNECTOR_EXTENSION_CONFIG to the name of the ExtensionConfig that registers konnector-hooks",
			}
		}
		served, err = kube.SelectedNamespaces(gctx, c, sel, namespace)
		return err
	})
	g.Go(func() error { return kube.List(gctx, c, &clusters, namespace, clusterOpts...) })
	g.Go(func() error { return kube.List(gctx, c, &proxies, namespace, ours) })
	g.Go(func() error { return kube.List(gctx, c, &sets, namespace, ours) })
	g.Go(func() error { return kube.List(gctx, c, &secrets, namespace, ours) })
	g.Go(func() error {
		return kube.List(gctx, c, &defaults, namespace, client.MatchingFields{"metadata.name": s.settings.DefaultCredentialsSecret})
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	proxyOf, setOf, secretOf := indexOurs(proxies.Items), indexOurs(sets.Items), indexOurs(secrets.Items)
	defaultIn := map[string]*corev1.Secret{}
	for i := range defaults.Items {
		defaultIn[defaults.Items[i].Namespace] = &defaults.Items[i]
	}
	read := &syncRead{served: !scope.one() || served[namespace]}
	for i := range clusters.Items {
		cluster := &clusters.Items[i]
		if !served[cluster.Namespace] || !cluster.Spec.Topology.IsDefined() {
			continue
		}
		key := client.ObjectKeyFromObject(cluster)
		t := &syncTarget{proxy: proxyOf[key], set: setOf[key], secret: secretOf[key]}
		t.in = &deployInputs{
			cluster:       cluster,
			current:       []client.Object{objectOrNil(t.proxy), objectOrNil(t.set), objectOrNil(t.secret)},
			defaultSecret: defaultIn[cluster.Namespace],
		}
		t.in.config, t.in.configErr = konnector.ReadConfig(&cluster.Spec.Topology, s.settings.DefaultCredentialsSecret)
		read.targets = append(read.targets, t)
	}
	if scope.one() && len(read.targets) == 0 {
		read.served = false
	}
	slices.SortFunc(read.targets, func(a, b *syncTarget) int {
		return cmp.Or(cmp.Compare(a.key().Namespace, b.key().Namespace), cmp.Compare(a.key().Name, b.key().Name))
	})
	return read, nil
}

// indexOurs indexes this addon's objects by the Cluster they were written
// for: the cluster-name label, and the name the hooks give that Cluster's
// objects.
func indexOurs[T any, P interface {
	*T
	client.Object
}](items []T) map[types.NamespacedName]P {
	out := make(map[types.NamespacedName]P, len(items))
	for i := range items {
		obj := P(&items[i])
		cluster := obj.GetLabels()[clusterv1.ClusterNameLabel]
		if cluster != "" && obj.GetName() == konnector.ObjectName(cluster) && konnector.IsOurs(obj.GetLabels(), cluster) {
			out[types.NamespacedName{Namespace: obj.GetNamespace(), Name: cluster}] = obj
		}
	}
	return out
}

// objectOrNil keeps deployInputs.current's rule that an absent object is a
// nil interface, not a typed nil pointer.
func objectOrNil[P interface {
	comparable
	client.Object
}](obj P) client.Object {
	var zero P
	if obj == zero {
		return nil
	}
	return obj
}

// notServed is the answer for a sync naming a Cluster that Sync does not
// serve; it changes nothing.
func (s *Server) notServed(key types.NamespacedName) string {
	return fmt.Sprintf("Cluster %s is not a ClusterClass-based Cluster in a namespace that ExtensionConfig %s selects (spec.namespaceSelector): Sync changes nothing for it; check the namespace and name, or the namespace's labels",
		key, s.settings.ExtensionConfig)
}
