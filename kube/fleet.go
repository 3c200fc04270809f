package kube

import (
	"context"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
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
	// PageSize is the limit of every LIST (KONNECTOR_SYNC_PAGE_SIZE).
	PageSize int64
}

func (s FleetScope) one() bool { return s.Cluster.Name != "" }

// FleetMember is one served ClusterClass-based Cluster and this addon's
// objects for it as the LISTs found them: metadata only
// (Current.MetadataOnly), nil where none. The HelmReleaseProxies are not in
// Current: Release is what they report.
type FleetMember struct {
	Cluster *clusterv1.Cluster
	Current konnector.Current
	// Release is the release as CAAPH's HelmReleaseProxies report it
	// (konnector.ReleaseOf), for the chart version they hold.
	Release konnector.Release
	// Written is when we last applied the HelmChartProxy (its managedFields),
	// zero without one; Generation its metadata.generation.
	Written    time.Time
	Generation int64
	// Reported is the HelmChartProxy's konnector.ReportedReleaseAnnotation.
	Reported string
}

// Fleet is what a sync keeps between its pages: the served namespaces and,
// per Cluster, a few fields of each of this addon's objects, in a fixed
// size (about 150 bytes a Cluster). Clusters are read a page at a time
// (EachPage), never all at once.
type Fleet struct {
	scope FleetScope
	// served lists the served namespaces.
	served map[string]bool
	// ours holds, by namespace and cluster name, what the sync compares of
	// this addon's objects: HelmChartProxy, ClusterResourceSet, Secret, and
	// the release CAAPH reports.
	ours map[string]map[string]*fleetEntry
	// interned holds one copy of each string the entries repeat across the
	// fleet (chart versions, reported release states).
	interned map[string]string
}

// fleetEntry is what a sync keeps of one Cluster between its pages.
type fleetEntry struct {
	objects [3]objectMeta
	// release is CAAPH's report from the live HelmReleaseProxy of the
	// lowest name (konnector.ReleaseOf), nil when none was listed.
	release *konnector.Release
}

// objectMeta is the part of an object's metadata a sync decides from: it
// is ours (the LIST selects our labels, the index checks the name), so only
// its identity, version, deletion and desired-state hash are kept, each in
// a fixed size. An object whose UID is not a UUID, or whose resourceVersion
// not a number, is not kept: its Cluster is then read by name, as one with
// an object missing is.
type objectMeta struct {
	uid             uuid.UUID
	resourceVersion uint64
	// deletion is the deletionTimestamp in Unix seconds, 0 when none.
	deletion int64
	hash     [16]byte
	// hashed is false when the object carries no desired-state hash.
	hashed bool
	// written is when our field manager last applied the object, in Unix
	// seconds; generation its metadata.generation; reported its
	// konnector.ReportedReleaseAnnotation (interned).
	written    int64
	generation int64
	reported   string
}

func (m *objectMeta) present() bool { return m.uid != uuid.Nil }

// ReadFleet reads what is served and indexes this addon's objects, with a
// number of requests that grows with the pages, not the Clusters (see the
// package doc). Cluster-wide, the ExtensionConfig and its Namespaces say
// what is served, read in parallel with label-selected LISTs of our objects
// in every namespace, as metadata. With scope.Namespaces (the namespaced
// install) the listed namespaces are served and the same LISTs are made in
// each of them.
func ReadFleet(ctx context.Context, c client.Client, scope FleetScope) (*Fleet, error) {
	f := &Fleet{scope: scope, ours: map[string]map[string]*fleetEntry{}, interned: map[string]string{}}
	ours := client.MatchingLabels(konnector.OurLabels())
	if scope.one() {
		ours[clusterv1.ClusterNameLabel] = scope.Cluster.Name
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	kinds := []schema.GroupVersionKind{
		caaphv1.GroupVersion.WithKind("HelmChartProxy"), addonsv1.GroupVersion.WithKind("ClusterResourceSet"), corev1.SchemeGroupVersion.WithKind("Secret"),
	}
	for _, namespace := range f.listedNamespaces() {
		for slot, gvk := range kinds {
			g.Go(func() error {
				newList := func() *metav1.PartialObjectMetadataList {
					list := &metav1.PartialObjectMetadataList{}
					list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
					return list
				}
				return ListPages(gctx, c, newList, namespace, scope.PageSize, func(list *metav1.PartialObjectMetadataList) error {
					mu.Lock()
					defer mu.Unlock()
					for i := range list.Items {
						f.index(&list.Items[i], slot)
					}
					return nil
				}, ours)
			})
		}
	}
	if len(scope.Namespaces) > 0 {
		f.served = map[string]bool{}
		for _, ns := range scope.Namespaces {
			if !scope.one() || ns == scope.Cluster.Namespace {
				f.served[ns] = true
			}
		}
	} else {
		g.Go(func() error {
			sel, found, err := NamespaceSelector(gctx, c, scope.ExtensionConfig)
			switch {
			case err != nil:
				return err
			case !found:
				return konnector.ExtensionConfigNotFound(scope.ExtensionConfig)
			}
			selected, err := SelectedNamespaces(gctx, c, sel, scope.Cluster.Namespace)
			mu.Lock()
			f.served = selected
			mu.Unlock()
			return err
		})
	}
	for _, namespace := range f.listedNamespaces() {
		g.Go(func() error {
			return f.listReleases(gctx, c, namespace, &mu)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The LISTs ran beside the read of what is served: drop what they found
	// elsewhere.
	for namespace := range f.ours {
		if !f.served[namespace] {
			delete(f.ours, namespace)
		}
	}
	return f, nil
}

// listedNamespaces are the namespaces the LISTs are made in: each served
// one with scope.Namespaces, else every namespace ("") or the one of the
// Cluster the scope names.
func (f *Fleet) listedNamespaces() []string {
	switch {
	case len(f.scope.Namespaces) == 0:
		return []string{f.scope.Cluster.Namespace}
	case f.scope.one():
		for _, ns := range f.scope.Namespaces {
			if ns == f.scope.Cluster.Namespace {
				return []string{ns}
			}
		}
		return nil
	}
	return f.scope.Namespaces
}

// index keeps what the sync compares of one of our objects, found under the
// Cluster it was written for: its cluster-name label, and the name the
// hooks give that Cluster's objects.
func (f *Fleet) index(obj *metav1.PartialObjectMetadata, slot int) {
	cluster := obj.Labels[clusterv1.ClusterNameLabel]
	if cluster == "" || obj.Name != konnector.ObjectName(cluster) || !konnector.IsOurs(obj.Labels, cluster) {
		return
	}
	var m objectMeta
	var err error
	if m.uid, err = uuid.Parse(string(obj.UID)); err != nil || m.uid == uuid.Nil {
		return
	}
	if m.resourceVersion, err = strconv.ParseUint(obj.ResourceVersion, 10, 64); err != nil {
		return
	}
	if t := obj.DeletionTimestamp; t != nil {
		m.deletion = max(1, t.Unix())
	}
	if h, ok := obj.Annotations[konnector.DesiredHashAnnotation]; ok {
		n, err := hex.Decode(m.hash[:], []byte(h))
		m.hashed = err == nil && n == len(m.hash)
	}
	m.reported = f.intern(obj.Annotations[konnector.ReportedReleaseAnnotation])
	if t := konnector.LastApplied(obj.ManagedFields); !t.IsZero() {
		m.written = t.Unix()
	}
	m.generation = obj.Generation
	f.entry(obj.Namespace, cluster).objects[slot] = m
}

// entry is the Cluster's entry, made when it has none.
func (f *Fleet) entry(namespace, cluster string) *fleetEntry {
	byName := f.ours[namespace]
	if byName == nil {
		byName = map[string]*fleetEntry{}
		f.ours[namespace] = byName
	}
	e := byName[cluster]
	if e == nil {
		e = &fleetEntry{}
		byName[cluster] = e
	}
	return e
}

func (f *Fleet) intern(s string) string {
	if s == "" {
		return ""
	}
	if i, ok := f.interned[s]; ok {
		return i
	}
	f.interned[s] = s
	return s
}

// listReleases lists, a page at a time, the HelmReleaseProxies CAAPH made
// from HelmChartProxies (CAAPH labels each with its HelmChartProxy's name
// and its Cluster's: constructHelmReleaseProxy in
// controllers/helmchartproxy/helmchartproxy_controller_phases.go, v0.5.3)
// and keeps, for each of ours, the release it reports. They are read whole,
// for their status, and other addons' are on the same pages; only the
// short Release of ours is kept.
func (f *Fleet) listReleases(ctx context.Context, c client.Client, namespace string, mu *sync.Mutex) error {
	sel := labels.NewSelector()
	hasProxy, err := labels.NewRequirement(caaphv1.HelmChartProxyLabelName, selection.Exists, nil)
	if err != nil {
		return err
	}
	sel = sel.Add(*hasProxy)
	if f.scope.one() {
		one, err := labels.NewRequirement(clusterv1.ClusterNameLabel, selection.Equals, []string{f.scope.Cluster.Name})
		if err != nil {
			return err
		}
		sel = sel.Add(*one)
	}
	newList := func() *caaphv1.HelmReleaseProxyList { return &caaphv1.HelmReleaseProxyList{} }
	return ListPages(ctx, c, newList, namespace, f.scope.PageSize, func(list *caaphv1.HelmReleaseProxyList) error {
		mu.Lock()
		defer mu.Unlock()
		for i := range list.Items {
			f.indexRelease(&list.Items[i])
		}
		return nil
	}, client.MatchingLabelsSelector{Selector: sel})
}

// indexRelease keeps the release of one of our HelmReleaseProxies, as
// konnector.ReleaseOf reads a Cluster's: a live one, the lowest name first.
func (f *Fleet) indexRelease(hrp *caaphv1.HelmReleaseProxy) {
	cluster := hrp.Labels[clusterv1.ClusterNameLabel]
	if cluster == "" || hrp.Labels[caaphv1.HelmChartProxyLabelName] != konnector.ObjectName(cluster) || hrp.DeletionTimestamp != nil {
		return
	}
	e := f.entry(hrp.Namespace, cluster)
	release := konnector.ReleaseOf([]caaphv1.HelmReleaseProxy{*hrp})
	if e.release != nil {
		release = e.release.Or(release)
	}
	release.ChartVersion = f.intern(release.ChartVersion)
	e.release = &release
}

// EachPage reads the served ClusterClass-based Clusters a page at a time
// and calls each with the page's members, sorted by namespace and name,
// before it reads the next page: what a sync holds at once is one page of
// Clusters. It returns how many members it found.
func (f *Fleet) EachPage(ctx context.Context, c client.Client, each func([]FleetMember) error) (int, error) {
	var opts []client.ListOption
	if f.scope.one() {
		opts = append(opts, client.MatchingFields{"metadata.name": f.scope.Cluster.Name})
	}
	found := 0
	for _, namespace := range f.listedNamespaces() {
		err := ListPages(ctx, c, func() *clusterv1.ClusterList { return &clusterv1.ClusterList{} }, namespace, f.scope.PageSize, func(list *clusterv1.ClusterList) error {
			var members []FleetMember
			for i := range list.Items {
				cluster := &list.Items[i]
				if !f.served[cluster.Namespace] || !cluster.Spec.Topology.IsDefined() {
					continue
				}
				members = append(members, f.member(cluster))
			}
			found += len(members)
			if len(members) == 0 {
				return nil
			}
			return each(members)
		}, opts...)
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

// member gives a Cluster's objects as the LISTs found them, metadata only,
// and its release.
func (f *Fleet) member(cluster *clusterv1.Cluster) FleetMember {
	m := FleetMember{Cluster: cluster, Current: konnector.Current{MetadataOnly: true}, Release: konnector.ReleaseOf(nil)}
	e := f.ours[cluster.Namespace][cluster.Name]
	if e == nil {
		return m
	}
	if e.release != nil {
		m.Release = *e.release
	}
	if hcp := &e.objects[0]; hcp.present() {
		m.Reported, m.Generation = hcp.reported, hcp.generation
		if hcp.written != 0 {
			m.Written = time.Unix(hcp.written, 0)
		}
	}
	m.Current = f.current(cluster.Namespace, cluster.Name, &e.objects)
	return m
}

// current gives a Cluster's objects as the LISTs found them, metadata only.
func (f *Fleet) current(namespace, cluster string, objects *[3]objectMeta) konnector.Current {
	cur := konnector.Current{MetadataOnly: true}
	meta := func(m *objectMeta) metav1.ObjectMeta {
		om := metav1.ObjectMeta{
			Namespace: namespace, Name: konnector.ObjectName(cluster), UID: types.UID(m.uid.String()),
			ResourceVersion: strconv.FormatUint(m.resourceVersion, 10), Labels: konnector.Labels(cluster),
		}
		if m.deletion != 0 {
			t := metav1.Unix(m.deletion, 0)
			om.DeletionTimestamp = &t
		}
		if m.hashed {
			om.Annotations = map[string]string{konnector.DesiredHashAnnotation: hex.EncodeToString(m.hash[:])}
		}
		if m.reported != "" {
			if om.Annotations == nil {
				om.Annotations = map[string]string{}
			}
			om.Annotations[konnector.ReportedReleaseAnnotation] = m.reported
		}
		return om
	}
	if m := &objects[0]; m.present() {
		cur.HelmChartProxy = &caaphv1.HelmChartProxy{ObjectMeta: meta(m)}
	}
	if m := &objects[1]; m.present() {
		cur.ClusterResourceSet = &addonsv1.ClusterResourceSet{ObjectMeta: meta(m)}
	}
	if m := &objects[2]; m.present() {
		cur.ResourceSetSecret = &corev1.Secret{ObjectMeta: meta(m)}
	}
	return cur
}

// ReadSecrets reads the Secrets, at most concurrency at once; one that does
// not exist maps to nil, one that could not be read is left out (the error
// is the first of them). Sync reads the credentials Secrets its Clusters
// name this way, each once, and no other Secret by name.
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
