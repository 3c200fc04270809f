package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
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
	// PageSize is the limit of the Clusters' LIST (KONNECTOR_SYNC_PAGE_SIZE).
	PageSize int64
}

// One reports whether the scope names one Cluster.
func (s FleetScope) One() bool { return s.Cluster.Name != "" }

// Describe names what the scope covers, for messages.
func (s FleetScope) Describe() string {
	if s.One() {
		return "Cluster " + s.Cluster.String()
	}
	return "every served Cluster"
}

// EachFleetPage reads the served ClusterClass-based Clusters and their
// objects a page at a time, and calls each with a page's members (their
// Cluster and Current, the rest left to each), in the
// LIST's order, one page after the other. It reads the next page while each
// runs, so that a sync holds two pages at most and its decisions and writes
// overlap the API server's work on the next LISTs. It returns how many
// members it found.
func EachFleetPage(ctx context.Context, c client.Client, scope FleetScope, each func([]konnector.DeployFacts) error) (found int, err error) {
	served, err := servedNamespaces(ctx, c, scope)
	if err != nil {
		return 0, err
	}
	var opts []client.ListOption
	if scope.One() {
		opts = append(opts, client.MatchingFields{"metadata.name": scope.Cluster.Name})
	}
	// running gives the result of the page each works on (nil: none); a
	// panic in each panics again in the caller's goroutine, where a
	// caller's recovery sees it.
	var running chan func() error
	finish := func() error {
		if running == nil {
			return nil
		}
		result := <-running
		running = nil
		return result()
	}
	defer func() {
		if ferr := finish(); err == nil {
			err = ferr
		}
	}()
	for _, namespace := range listedNamespaces(scope) {
		err := ListPages(ctx, c, func() *clusterv1.ClusterList { return &clusterv1.ClusterList{} }, namespace, scope.PageSize, func(list *clusterv1.ClusterList) error {
			var members []konnector.DeployFacts
			for i := range list.Items {
				if cluster := &list.Items[i]; served[cluster.Namespace] && cluster.Spec.Topology.IsDefined() {
					members = append(members, konnector.DeployFacts{Cluster: cluster})
				}
			}
			if len(members) == 0 {
				return nil
			}
			found += len(members)
			if err := readMembersObjects(ctx, c, namespace, members); err != nil {
				return err
			}
			if err := finish(); err != nil {
				return err
			}
			done := make(chan func() error, 1)
			running = done
			go func() {
				defer func() {
					if p := recover(); p != nil {
						done <- func() error { panic(p) }
					}
				}()
				err := each(members)
				done <- func() error { return err }
			}()
			return nil
		}, opts...)
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

// servedNamespaces are scope.Namespaces, else those the ExtensionConfig's
// namespaceSelector selects, which picks the namespaces CAPI calls the
// hooks for (none selects every namespace, as CAPI reads it): one LIST, of
// the scope's Cluster's namespace alone when it names one.
func servedNamespaces(ctx context.Context, c client.Client, scope FleetScope) (map[string]bool, error) {
	served := map[string]bool{}
	if len(scope.Namespaces) > 0 {
		for _, ns := range scope.Namespaces {
			served[ns] = true
		}
		return served, nil
	}
	ec := &runtimev1.ExtensionConfig{}
	if err := c.Get(ctx, types.NamespacedName{Name: scope.ExtensionConfig}, ec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, konnector.ExtensionConfigNotFound(scope.ExtensionConfig)
		}
		return nil, fmt.Errorf("reading ExtensionConfig %s: %w", scope.ExtensionConfig, err)
	}
	sel := labels.Everything()
	if ec.Spec.NamespaceSelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(ec.Spec.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("ExtensionConfig %s has an invalid spec.namespaceSelector: %w", scope.ExtensionConfig, err)
		}
	}
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
	if scope.Cluster.Namespace != "" {
		opts = append(opts, client.MatchingFields{"metadata.name": scope.Cluster.Namespace})
	}
	list := &corev1.NamespaceList{}
	if err := List(ctx, c, list, "", opts...); err != nil {
		return nil, err
	}
	for _, ns := range list.Items {
		served[ns.Name] = true
	}
	return served, nil
}

// listedNamespaces are those the Clusters are listed in: each of
// scope.Namespaces, else every one (""), or that of the scope's Cluster.
func listedNamespaces(scope FleetScope) []string {
	switch {
	case len(scope.Namespaces) == 0:
		return []string{scope.Cluster.Namespace}
	case scope.One():
		if slices.Contains(scope.Namespaces, scope.Cluster.Namespace) {
			return []string{scope.Cluster.Namespace}
		}
		return nil
	}
	return scope.Namespaces
}

// readMembersObjects fills in the members' objects with four parallel LISTs
// in namespace: ours labelled with one of the members' cluster names, and the
// HelmReleaseProxies CAAPH labels with one of those Clusters and one of our
// HelmChartProxies' names (constructHelmReleaseProxy in CAAPH v0.5.3's
// controllers/helmchartproxy/helmchartproxy_controller_phases.go). An object
// counts for a member only in its namespace and under the name the hooks
// read by, so those of same-named Clusters elsewhere are left out.
func readMembersObjects(ctx context.Context, c client.Client, namespace string, members []konnector.DeployFacts) error {
	byCluster := map[types.NamespacedName]*konnector.Current{}
	var clusters, proxies []string
	for i := range members {
		m := &members[i]
		byCluster[client.ObjectKeyFromObject(m.Cluster)] = &m.Current
		// A name that is no label value (too long for one) is on no object
		// of ours: the hooks' read by name reports why.
		proxy := konnector.ObjectName(m.Cluster.Name)
		if len(validation.IsValidLabelValue(m.Cluster.Name)) == 0 && len(validation.IsValidLabelValue(proxy)) == 0 {
			clusters, proxies = append(clusters, m.Cluster.Name), append(proxies, proxy)
		}
	}
	if len(clusters) == 0 {
		return nil
	}
	ours := labels.SelectorFromSet(konnector.OurLabels()).Add(in(clusterv1.ClusterNameLabel, clusters))
	releases := labels.NewSelector().Add(in(clusterv1.ClusterNameLabel, clusters), in(caaphv1.HelmChartProxyLabelName, proxies))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range []struct {
		list client.ObjectList
		sel  labels.Selector
		// name is the name the hooks would give the object.
		name func(client.Object) string
		keep func(*konnector.Current, client.Object)
	}{
		{&caaphv1.HelmChartProxyList{}, ours, client.Object.GetName, func(cur *konnector.Current, o client.Object) { cur.HelmChartProxy = o.(*caaphv1.HelmChartProxy) }},
		{&addonsv1.ClusterResourceSetList{}, ours, client.Object.GetName, func(cur *konnector.Current, o client.Object) {
			cur.ClusterResourceSet = o.(*addonsv1.ClusterResourceSet)
		}},
		{&corev1.SecretList{}, ours, client.Object.GetName, func(cur *konnector.Current, o client.Object) { cur.ResourceSetSecret = o.(*corev1.Secret) }},
		{&caaphv1.HelmReleaseProxyList{}, releases, func(o client.Object) string { return o.GetLabels()[caaphv1.HelmChartProxyLabelName] },
			func(cur *konnector.Current, o client.Object) {
				cur.HelmReleaseProxies = append(cur.HelmReleaseProxies, *o.(*caaphv1.HelmReleaseProxy))
			}},
	} {
		g.Go(func() error {
			if err := List(gctx, c, l.list, namespace, client.MatchingLabelsSelector{Selector: l.sel}); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			return meta.EachListItem(l.list, func(item runtime.Object) error {
				o := item.(client.Object)
				cluster := o.GetLabels()[clusterv1.ClusterNameLabel]
				if cur := byCluster[types.NamespacedName{Namespace: o.GetNamespace(), Name: cluster}]; cur != nil && l.name(o) == konnector.ObjectName(cluster) {
					l.keep(cur, o)
				}
				return nil
			})
		})
	}
	return g.Wait()
}

// in is the requirement that key is one of values (valid, at least one).
func in(key string, values []string) labels.Requirement {
	r, err := labels.NewRequirement(key, selection.In, values)
	if err != nil {
		panic("kube: a label requirement on " + key + ": " + err.Error()) // the keys are constants, the values checked
	}
	return *r
}

// ReadSecrets reads the Secrets, at most concurrency at once; one that does
// not exist maps to nil, one that could not be read is left out (the error
// is the first). Sync reads each credentials Secret once this way.
func ReadSecrets(ctx context.Context, c client.Client, keys []types.NamespacedName, concurrency int) (map[types.NamespacedName]*corev1.Secret, error) {
	out := make(map[types.NamespacedName]*corev1.Secret, len(keys))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(concurrency)
	for _, key := range keys {
		g.Go(func() error {
			secret, err := ReadSecret(ctx, c, key)
			if err == nil {
				mu.Lock()
				out[key] = secret
				mu.Unlock()
			}
			return err
		})
	}
	return out, g.Wait()
}
