package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// clusterConfig enables the addon as the README's basic example does, with
// the Prism Central endpoint every Nutanix cluster carries.
const clusterConfig = `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`

const (
	credentialsSecret = "prism-central-credentials-for-konnector-agent"
	// holdFinalizer keeps a deleted Cluster on the API server, as CAPI's own
	// finalizer does while it calls BeforeClusterDelete.
	holdFinalizer = "bench.konnector-hooks/hold"
)

// fixtures creates the management-cluster objects the hook calls need.
type fixtures struct {
	c         client.Client
	templates map[string][]byte // request bodies from test/testdata
}

func newFixtures(cfg *rest.Config, repo string) (*fixtures, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = -1 // no client-side rate limit: the harness creates clusters in bulk
	c, err := client.New(cfg, client.Options{Scheme: managementcluster.AdminScheme})
	if err != nil {
		return nil, err
	}
	f := &fixtures{c: c, templates: map[string][]byte{}}
	for _, name := range []string{"discovery.json", "after-control-plane-initialized.v1beta2.json", "before-cluster-upgrade.v1beta2.json", "before-cluster-delete.v1beta2.json"} {
		b, err := os.ReadFile(filepath.Join(repo, "test", "testdata", name))
		if err != nil {
			return nil, err
		}
		f.templates[name] = b
	}
	return f, nil
}

// namespace creates a namespace with the default credentials Secret.
func (f *fixtures) namespace(ctx context.Context, name string) error {
	if err := f.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	if err := f.c.Create(ctx, managementcluster.NewCredentials(name, credentialsSecret, "admin", "bench-password")); err != nil {
		return fmt.Errorf("creating the credentials Secret in %s: %w", name, err)
	}
	return nil
}

// cluster creates an addon-enabled Cluster with an initialized control plane.
func (f *fixtures) cluster(ctx context.Context, namespace, name string, finalizers ...string) (*clusterv1.Cluster, error) {
	cl := managementcluster.NewCluster(namespace, name, clusterConfig)
	cl.Finalizers = finalizers
	return cl, managementcluster.CreateCluster(ctx, f.c, cl)
}

// clusters creates count clusters named prefix-<i> with a few workers.
func (f *fixtures) clusters(ctx context.Context, namespace, prefix string, count int) ([]string, error) {
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, count)
	work := make(chan string)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if _, err := f.cluster(ctx, namespace, name); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, name := range names {
		work <- name
	}
	close(work)
	wg.Wait()
	close(errs)
	return names, <-errs
}

// request returns the body of a test/testdata request for namespace/name.
func (f *fixtures) request(template, namespace, name string) []byte {
	var body map[string]any
	if err := json.Unmarshal(f.templates[template], &body); err != nil {
		panic(err) // the testdata files are JSON
	}
	if cl, ok := body["cluster"].(map[string]any); ok {
		md := cl["metadata"].(map[string]any)
		md["namespace"], md["name"] = namespace, name
		if labels, ok := md["labels"].(map[string]any); ok {
			labels[clusterv1.ClusterNameLabel] = name
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}

// deletingCluster sets up the BeforeClusterDelete pending poll: the addon is
// deployed, CAAPH's finalizer holds the HelmChartProxy, the Cluster is deleted
// (our finalizer keeps it), and the first hook call has deleted the proxy.
func (f *fixtures) deletingCluster(ctx context.Context, hooks *caller, namespace, name string) error {
	cl, err := f.cluster(ctx, namespace, name, holdFinalizer)
	if err != nil {
		return err
	}
	a, err := hooks.post(pathACPI, f.request("after-control-plane-initialized.v1beta2.json", namespace, name))
	if err == nil {
		err = expect(a, -1)
	}
	if err != nil {
		return fmt.Errorf("deploying the addon on %s/%s: %w", namespace, name, err)
	}
	hcp := &caaphv1.HelmChartProxy{}
	key := types.NamespacedName{Namespace: namespace, Name: "konnector-agent-" + name}
	if err := f.c.Get(ctx, key, hcp); err != nil {
		return fmt.Errorf("reading HelmChartProxy %s: %w", key, err)
	}
	base := hcp.DeepCopy()
	hcp.Finalizers = append(hcp.Finalizers, caaphv1.HelmChartProxyFinalizer)
	if err := f.c.Patch(ctx, hcp, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("adding CAAPH's finalizer to %s: %w", key, err)
	}
	if err := f.c.Delete(ctx, cl); err != nil {
		return fmt.Errorf("deleting Cluster %s/%s: %w", namespace, name, err)
	}
	body := f.request("before-cluster-delete.v1beta2.json", namespace, name)
	a, err = hooks.post(pathBCD, body)
	if err == nil {
		err = expect(a, 5)
	}
	if err != nil {
		return fmt.Errorf("first BeforeClusterDelete call for %s/%s: %w", namespace, name, err)
	}
	// The proxy must now be deleting and still there.
	if err := f.c.Get(ctx, key, hcp); err != nil || hcp.DeletionTimestamp == nil {
		return fmt.Errorf("HelmChartProxy %s is not held in deletion (err %v)", key, err)
	}
	return nil
}

// getCluster is the latency floor: one plain typed GET of a Cluster.
func (f *fixtures) getCluster(ctx context.Context, c client.Client, namespace, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &clusterv1.Cluster{})
}
