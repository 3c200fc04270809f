package handlers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

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
// number of requests per namespace read, whatever the number of Clusters
// (see the package doc of kube). Cluster-wide, the ExtensionConfig and its
// Namespaces say what is served, read in parallel with label-selected LISTs
// of the Clusters and of our objects in every namespace. With
// KONNECTOR_SYNC_NAMESPACES (the namespaced install) the listed namespaces
// are served and the same LISTs are made in each of them. Then the
// default-named credentials Secret is read in each served namespace that
// has a Cluster with the addon on, and in no other.
func (s *Server) readSync(ctx context.Context, c client.Client, scope syncScope) (*syncRead, error) {
	ours := client.MatchingLabels(konnector.OurLabels())
	clusterOpts := []client.ListOption{}
	if scope.one() {
		ours[clusterv1.ClusterNameLabel] = scope.cluster.Name
		clusterOpts = append(clusterOpts, client.MatchingFields{"metadata.name": scope.cluster.Name})
	}
	var (
		mu       sync.Mutex
		served   map[string]bool
		clusters []clusterv1.Cluster
		proxies  []caaphv1.HelmChartProxy
		sets     []addonsv1.ClusterResourceSet
		secrets  []corev1.Secret
	)
	g, gctx := errgroup.WithContext(ctx)
	listIn := func(namespace string) {
		var (
			cl clusterv1.ClusterList
			pl caaphv1.HelmChartProxyList
			sl addonsv1.ClusterResourceSetList
			xl corev1.SecretList
		)
		lists := []struct {
			list client.ObjectList
			opts []client.ListOption
		}{{&cl, clusterOpts}, {&pl, []client.ListOption{ours}}, {&sl, []client.ListOption{ours}}, {&xl, []client.ListOption{ours}}}
		var lg errgroup.Group
		for _, l := range lists {
			lg.Go(func() error { return kube.List(gctx, c, l.list, namespace, l.opts...) })
		}
		g.Go(func() error {
			if err := lg.Wait(); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			clusters, proxies = append(clusters, cl.Items...), append(proxies, pl.Items...)
			sets, secrets = append(sets, sl.Items...), append(secrets, xl.Items...)
			return nil
		})
	}
	if len(s.settings.SyncNamespaces) > 0 {
		served = map[string]bool{}
		for _, ns := range s.settings.SyncNamespaces {
			if !scope.one() || ns == scope.cluster.Namespace {
				served[ns] = true
				listIn(ns)
			}
		}
	} else {
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
			selected, err := kube.SelectedNamespaces(gctx, c, sel, scope.cluster.Namespace)
			mu.Lock()
			served = selected
			mu.Unlock()
			return err
		})
		listIn(scope.cluster.Namespace)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	proxyOf, setOf, secretOf := indexOurs(proxies), indexOurs(sets), indexOurs(secrets)
	read := &syncRead{served: !scope.one() || served[scope.cluster.Namespace]}
	for i := range clusters {
		cluster := &clusters[i]
		if !served[cluster.Namespace] || !cluster.Spec.Topology.IsDefined() {
			continue
		}
		key := client.ObjectKeyFromObject(cluster)
		t := &syncTarget{proxy: proxyOf[key], set: setOf[key], secret: secretOf[key]}
		t.in = &deployInputs{
			cluster: cluster,
			current: konnector.Current{HelmChartProxy: t.proxy, ClusterResourceSet: t.set, ResourceSetSecret: t.secret},
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
	if err := s.readDefaultSecrets(ctx, c, read.targets); err != nil {
		return nil, err
	}
	return read, nil
}

// readDefaultSecrets reads the default-named credentials Secret once in each
// namespace where a Cluster with the addon on is synced, and gives it to
// those Clusters' inputs: Secrets of namespaces that are not served, or
// that have no Cluster with the addon, are never read.
func (s *Server) readDefaultSecrets(ctx context.Context, c client.Client, targets []*syncTarget) error {
	byNamespace := map[string][]*syncTarget{}
	for _, t := range targets {
		if t.in.config != nil {
			byNamespace[t.key().Namespace] = append(byNamespace[t.key().Namespace], t)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.settings.SyncConcurrency)
	for namespace, users := range byNamespace {
		g.Go(func() error {
			secret := &corev1.Secret{}
			found, err := get(gctx, c, types.NamespacedName{Namespace: namespace, Name: s.settings.DefaultCredentialsSecret}, secret)
			if err != nil || !found {
				return err
			}
			for _, t := range users {
				t.in.defaultSecret = secret
			}
			return nil
		})
	}
	return g.Wait()
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

// objectOrNil keeps an absent object a nil interface, not a typed nil
// pointer.
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
