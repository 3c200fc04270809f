package kube_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

var testConfig *rest.Config

// TestMain starts the package's one management API server.
func TestMain(m *testing.M) {
	env, err := managementcluster.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testConfig = env.Config
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// requests records the API requests made through a config.
type requests struct {
	mu    sync.Mutex
	paths []string
}

func (r *requests) config() *rest.Config {
	cfg := rest.CopyConfig(testConfig)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			r.mu.Lock()
			r.paths = append(r.paths, req.Method+" "+req.URL.Path)
			r.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOpen_MakesNoAPIRequestAndMapsWithoutDiscovery(t *testing.T) {
	ctx := context.Background()
	seen := &requests{}
	opener := kube.NewOpener(func() (*rest.Config, error) { return seen.config(), nil })
	c, err := opener.Open()
	if err != nil {
		t.Fatal(err)
	}
	if len(seen.paths) != 0 {
		t.Fatalf("opening a client made API requests: %v", seen.paths)
	}

	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c1", Namespace: "default"},
		Spec:       clusterv1.ClusterSpec{Topology: clusterv1.Topology{ClassRef: clusterv1.ClusterClassRef{Name: "cc"}, Version: "v1.33.1"}},
	}
	if err := c.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	var read clusterv1.Cluster
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "c1"}, &read); err != nil {
		t.Fatalf("reading a v1beta2 Cluster: %v", err)
	}
	hcp := &caaphv1.HelmChartProxy{
		TypeMeta:   metav1.TypeMeta{APIVersion: caaphv1.GroupVersion.String(), Kind: "HelmChartProxy"},
		ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "default"},
		Spec: caaphv1.HelmChartProxySpec{
			ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: "c1"}},
			ChartName:       "konnector-agent", RepoURL: "https://charts.example.com", Version: "1.0.0",
		},
	}
	if err := kube.Apply(ctx, c, hcp, "konnector-hooks"); err != nil {
		t.Fatalf("writing a HelmChartProxy with server-side apply: %v", err)
	}
	var written caaphv1.HelmChartProxy
	if err := c.Get(ctx, client.ObjectKeyFromObject(hcp), &written); err != nil {
		t.Fatal(err)
	}
	if len(written.ManagedFields) == 0 || written.ManagedFields[0].Manager != "konnector-hooks" || written.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("field manager: %+v", written.ManagedFields)
	}

	for _, p := range seen.paths {
		switch p {
		case "GET /api", "GET /apis":
			t.Fatalf("discovery request %q", p)
		}
	}
	if len(seen.paths) != 4 {
		t.Fatalf("expected exactly 4 requests (create, get, apply, get), got %v", seen.paths)
	}
}

func TestOpen_ConfigErrorIsReported(t *testing.T) {
	opener := kube.NewOpener(func() (*rest.Config, error) { return nil, fmt.Errorf("no kubeconfig") })
	if _, err := opener.Open(); err == nil {
		t.Fatal("Open succeeded without a configuration")
	}
}

// A failed build is not kept: the next call builds again, and once a client
// is built it is shared and the configuration not read again.
func TestOpen_BuildsAgainAfterAFailure(t *testing.T) {
	loads := 0
	opener := kube.NewOpener(func() (*rest.Config, error) {
		loads++
		if loads == 1 {
			return nil, fmt.Errorf("service account token not mounted yet")
		}
		return rest.CopyConfig(testConfig), nil
	})
	if _, err := opener.Open(); err == nil {
		t.Fatal("the first Open succeeded")
	}
	first, err := opener.Open()
	if err != nil {
		t.Fatalf("Open after a failed build: %v", err)
	}
	again, err := opener.Open()
	if err != nil || again != first || loads != 2 {
		t.Fatalf("a built client is not shared: same %v, loads %d, err %v", again == first, loads, err)
	}
}
