package kube

import (
	"cmp"
	"context"
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
)

// FleetScope is what one sync reads.
type FleetScope struct {
	// Cluster names one Cluster; empty for every served one.
	Cluster types.NamespacedName
	// Namespaces, when set (KONNECTOR_SYNC_NAMESPACES), are the served
	// namespaces; else those ExtensionConfig's namespaceSelector selects.
	Namespaces      []string
	ExtensionConfig string
}

func (s FleetScope) one() bool { return s.Cluster.Name != "" }

// FleetMember is one served ClusterClass-based Cluster and this addon's
// objects for it as the LISTs found them (nil where none; the
// HelmReleaseProxies are not listed).
type FleetMember struct {
	Cluster *clusterv1.Cluster
	Current konnector.Current
}

// Fleet is what a sync reads before acting.
type Fleet struct {
	// Served is false when the scope names a Cluster that is not served.
	Served bool
	// Members are sorted by namespace and name.
	Members []FleetMember
}

// ReadFleet reads every served Cluster and the addon's objects with a fixed
// number of requests per namespace read, whatever the number of Clusters
// (see the package doc). Cluster-wide, the ExtensionConfig and its
// Namespaces say what is served, read in parallel with label-selected LISTs
// of the Clusters and of our objects in every namespace. With
// scope.Namespaces (the namespaced install) the listed namespaces are
// served and the same LISTs are made in each of them.
func ReadFleet(ctx context.Context, c client.Client, scope FleetScope) (*Fleet, error) {
	ours := client.MatchingLabels(konnector.OurLabels())
	clusterOpts := []client.ListOption{}
	if scope.one() {
		ours[clusterv1.ClusterNameLabel] = scope.Cluster.Name
		clusterOpts = append(clusterOpts, client.MatchingFields{"metadata.name": scope.Cluster.Name})
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
			lg.Go(func() error { return List(gctx, c, l.list, namespace, l.opts...) })
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
	if len(scope.Namespaces) > 0 {
		served = map[string]bool{}
		for _, ns := range scope.Namespaces {
			if !scope.one() || ns == scope.Cluster.Namespace {
				served[ns] = true
				listIn(ns)
			}
		}
	} else {
		g.Go(func() error {
			sel, found, err := NamespaceSelector(gctx, c, scope.ExtensionConfig)
			switch {
			case err != nil:
				return err
			case !found:
				return &konnector.InputError{
					Field:   "ExtensionConfig " + scope.ExtensionConfig,
					Problem: "not found: Sync serves the namespaces its namespaceSelector selects, as CAPI calls the hooks for them",
					Fix:     "apply deploy/extensionconfig.yaml, or set KONNECTOR_EXTENSION_CONFIG to the name of the ExtensionConfig that registers konnector-hooks",
				}
			}
			selected, err := SelectedNamespaces(gctx, c, sel, scope.Cluster.Namespace)
			mu.Lock()
			served = selected
			mu.Unlock()
			return err
		})
		listIn(scope.Cluster.Namespace)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	proxyOf, setOf, secretOf := indexOurs(proxies), indexOurs(sets), indexOurs(secrets)
	fleet := &Fleet{}
	for i := range clusters {
		cluster := &clusters[i]
		if !served[cluster.Namespace] || !cluster.Spec.Topology.IsDefined() {
			continue
		}
		key := client.ObjectKeyFromObject(cluster)
		fleet.Members = append(fleet.Members, FleetMember{
			Cluster: cluster,
			Current: konnector.Current{HelmChartProxy: proxyOf[key], ClusterResourceSet: setOf[key], ResourceSetSecret: secretOf[key]},
		})
	}
	fleet.Served = !scope.one() || len(fleet.Members) > 0
	slices.SortFunc(fleet.Members, func(a, b FleetMember) int {
		return cmp.Or(cmp.Compare(a.Cluster.Namespace, b.Cluster.Namespace), cmp.Compare(a.Cluster.Name, b.Cluster.Name))
	})
	return fleet, nil
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

// ReadSecretInEach reads the Secret of that name in each namespace, at most
// concurrency at once; a namespace without it maps to nil. Sync reads the
// default-named credentials Secret this way in the served namespaces that
// have a Cluster with the addon, and in no other.
func ReadSecretInEach(ctx context.Context, c client.Client, name string, namespaces []string, concurrency int) (map[string]*corev1.Secret, error) {
	out := make(map[string]*corev1.Secret, len(namespaces))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, namespace := range namespaces {
		g.Go(func() error {
			secret, err := ReadSecret(gctx, c, types.NamespacedName{Namespace: namespace, Name: name})
			mu.Lock()
			out[namespace] = secret
			mu.Unlock()
			return err
		})
	}
	return out, g.Wait()
}
