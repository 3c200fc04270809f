package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// workloadCluster is the API server of one test Cluster: its own envtest
// kube-apiserver and etcd, reached by CAPI's ClusterResourceSet controller
// and by CAAPH through the <cluster>-kubeconfig Secret the test writes as
// the control plane provider would. Each Cluster gets its own, because the
// ClusterResourceSet delivers the cluster-scoped Namespace ntnx-system and
// the chart installs cluster-scoped RBAC: two Clusters sharing one API
// server would see each other's objects.
type workloadCluster struct {
	name    string
	env     *envtest.Environment
	config  *rest.Config
	client  client.Client
	kubelet *kubelet
	// host and port of the API server, for spec.controlPlaneEndpoint.
	host string
	port int32
}

// startWorkloadClusters starts the API servers and kubelet stand-ins of
// the named Clusters, in parallel (each takes seconds), and stops them, in
// parallel too, when the test ends.
func startWorkloadClusters(t *testing.T, names ...string) map[string]*workloadCluster {
	t.Helper()
	out := make(map[string]*workloadCluster, len(names))
	errs := make([]error, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	started := time.Now()
	for i, name := range names {
		wg.Go(func() {
			w, err := startWorkloadCluster(name)
			errs[i] = err
			if w != nil {
				mu.Lock()
				out[name] = w
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		stopping := time.Now()
		var wg sync.WaitGroup
		for _, w := range out {
			wg.Go(w.stop)
		}
		wg.Wait()
		t.Logf("stopped the workload API servers of %v in %s", names, time.Since(stopping).Round(time.Millisecond))
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("started the workload API servers of %v in %s", names, time.Since(started).Round(time.Millisecond))
	return out
}

// startWorkloadCluster starts the API server and the kubelet stand-in; on
// error it returns what it started, for the caller to stop.
func startWorkloadCluster(name string) (*workloadCluster, error) {
	// CAPI's ClusterCache and CAAPH keep connections to the API server
	// open, which its graceful shutdown waits on until envtest kills it
	// (20s by default; 1s without them). Nothing in a workload cluster
	// needs a graceful end: kill it sooner.
	w := &workloadCluster{name: name, env: &envtest.Environment{ControlPlaneStopTimeout: 3 * time.Second}}
	cfg, err := w.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the workload API server of Cluster %s: %w", name, err)
	}
	w.config = cfg
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return w, err
	}
	if w.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return w, err
	}
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return w, fmt.Errorf("workload API server URL %q: %w", cfg.Host, err)
	}
	port, err := strconv.ParseInt(u.Port(), 10, 32)
	if err != nil {
		return w, fmt.Errorf("workload API server URL %q has no port: %w", cfg.Host, err)
	}
	w.host, w.port = u.Hostname(), int32(port)
	w.kubelet = startKubelet(w.client, name)
	return w, nil
}

func (w *workloadCluster) stop() {
	w.kubelet.stop()
	_ = w.env.Stop()
}

// kubeconfig is the kubeconfig of the workload cluster's administrator, as
// a control plane provider writes it into the <cluster>-kubeconfig Secret.
func (w *workloadCluster) kubeconfig() ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[w.name] = &clientcmdapi.Cluster{Server: w.config.Host, CertificateAuthorityData: w.config.CAData}
	kc.AuthInfos[w.name+"-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: w.config.CertData, ClientKeyData: w.config.KeyData, Token: w.config.BearerToken}
	kc.Contexts[w.name] = &clientcmdapi.Context{Cluster: w.name, AuthInfo: w.name + "-admin"}
	kc.CurrentContext = w.name
	return clientcmd.Write(*kc)
}

// kubeconfigSecret is the <cluster>-kubeconfig Secret CAPI's contract asks
// the control plane provider for: key value, type cluster.x-k8s.io/secret,
// labelled with the cluster name.
func (w *workloadCluster) kubeconfigSecret(namespace, cluster string) (*unstructured.Unstructured, error) {
	value, err := w.kubeconfig()
	if err != nil {
		return nil, err
	}
	s := object("v1", "Secret", namespace, cluster+"-kubeconfig", map[string]any{
		"type": "cluster.x-k8s.io/secret",
		"data": map[string]any{"value": base64.StdEncoding.EncodeToString(value)},
	})
	s.SetLabels(map[string]string{clusterNameLabel: cluster})
	return s, nil
}

func (w *workloadCluster) String() string {
	return fmt.Sprintf("workload cluster %s (%s)", w.name, w.config.Host)
}

// get reads an object of the workload cluster; found is false when it does
// not exist.
func (w *workloadCluster) get(ctx context.Context, obj client.Object, namespace, name string) (bool, error) {
	err := w.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("reading %T %s/%s in %s: %w", obj, namespace, name, w, err)
	}
	return err == nil, nil
}
