// Package kube reads and writes the management cluster for the hooks and Sync.
//
// Knative starts the function from zero and every hook call blocks a
// cluster's lifecycle, so opening a client costs nothing on the wire: the
// rest config, HTTP transport and uncached client are built once and shared,
// the scheme holds only the types used, and the REST mapping is static (every
// kind's resource is known), so no discovery request is ever made. Each
// hook's requests are the reads and writes it does itself.
//
// A sync (fleet.go) costs one GET of the ExtensionConfig and one LIST of
// Namespaces (none with KONNECTOR_SYNC_NAMESPACES); per page of
// KONNECTOR_SYNC_PAGE_SIZE Clusters, the page's LIST and one LIST each of our
// HelmChartProxies, ClusterResourceSets, resource-set Secrets and CAAPH's
// HelmReleaseProxies, selected by the page's Cluster names; and one GET of
// each credentials Secret the Clusters name, once per sync. An up-to-date
// Cluster costs nothing more; a changed one, the writes that differ and one
// Event; one missing an object, the hooks' reads by name, so that an object
// of our name that is not ours is refused, never taken over.
package kube

import (
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
)

// Scheme holds core/v1, CAPI v1beta2 (Cluster, ClusterResourceSet,
// ExtensionConfig) and CAAPH v1alpha1: exactly the types the functions use.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, clusterv1.AddToScheme, addonsv1.AddToScheme, caaphv1.AddToScheme, runtimev1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // the generated AddToScheme functions do not fail
		}
	}
	return s
}

// namespacedKinds are the namespaced kinds the functions read or write,
// and the settings ConfigMap `konnector-hooks status` reads.
var namespacedKinds = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Secret"),
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	corev1.SchemeGroupVersion.WithKind("Event"),
	clusterv1.GroupVersion.WithKind("Cluster"),
	addonsv1.GroupVersion.WithKind("ClusterResourceSet"),
	caaphv1.GroupVersion.WithKind("HelmChartProxy"),
	caaphv1.GroupVersion.WithKind("HelmReleaseProxy"),
}

// clusterScopedKinds are the cluster-scoped kinds Sync reads: the
// ExtensionConfig and the Namespaces its namespaceSelector selects.
var clusterScopedKinds = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Namespace"),
	runtimev1.GroupVersion.WithKind("ExtensionConfig"),
}

// RESTMapper maps the functions' kinds to resources without asking the API server.
func RESTMapper() meta.RESTMapper {
	var versions []schema.GroupVersion
	for _, gvk := range append(slices.Clone(namespacedKinds), clusterScopedKinds...) {
		versions = append(versions, gvk.GroupVersion())
	}
	m := meta.NewDefaultRESTMapper(versions)
	for _, gvk := range namespacedKinds {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, gvk := range clusterScopedKinds {
		m.Add(gvk, meta.RESTScopeRoot)
	}
	return m
}

// Opener opens management-cluster clients. Its zero value is not usable;
// build it with NewOpener or FromEnvironment.
type Opener struct {
	load func() (*rest.Config, error)

	mu     sync.Mutex
	client client.Client
}

// NewOpener returns an Opener that builds its rest config with load, on the
// first Open.
func NewOpener(load func() (*rest.Config, error)) *Opener {
	return &Opener{load: load}
}

// FromEnvironment returns an Opener for the management cluster as
// controller-runtime's config.GetConfig finds it: KUBECONFIG, else in-cluster,
// else ~/.kube/config, so that a pod never prefers a stray kubeconfig file
// to its own ServiceAccount.
func FromEnvironment() *Opener {
	return NewOpener(config.GetConfig)
}

// FromKubeconfig returns an Opener for a kubeconfig file and context, picked
// as kubectl's --kubeconfig and --context do (empty: KUBECONFIG, else
// ~/.kube/config; the file's current context).
func FromKubeconfig(path, context string) *Opener {
	return NewOpener(func() (*rest.Config, error) {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = path
		return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	})
}

// Open returns the shared client, built on the first call with no API
// request. A failed build is tried again on the next call, so that a token
// not yet mounted at start-up does not keep the process from ever serving.
func (o *Opener) Open() (client.Client, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.client != nil {
		return o.client, nil
	}
	c, err := o.build()
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

func (o *Opener) build() (client.Client, error) {
	cfg, err := o.load()
	if err != nil {
		return nil, fmt.Errorf("loading the management cluster's configuration (KUBECONFIG or in-cluster): %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "konnector-hooks"
	// No client-side rate limit: client-go's limiter would queue concurrent
	// hook calls behind each other; CAPI bounds the calls, and the API
	// server's priority and fairness protects it.
	cfg.QPS = -1
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the management cluster's HTTP client: %w", err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Scheme: Scheme, Mapper: RESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("building the management cluster's client: %w", err)
	}
	return c, nil
}
