// Package installed checks an installed konnector-hooks from the outside, as
// CAPI reaches it: by the ExtensionConfig's URL (the Knative Service's
// cluster-local name, resolved by the cluster's DNS to its ingress), with
// CAPI's request shape (POST, JSON with apiVersion and kind, no
// Content-Type, ?timeout=). It runs only when KONNECTOR_INSTALLED_URL is
// set: hack/e2e-knative.sh check runs it in the network namespace of the
// cluster of hack/cluster.sh.
//
//	KONNECTOR_INSTALLED_URL  the URL CAPI calls, http:// or https://
//	KONNECTOR_INSTALLED_CA   for https: the CA bundle CAPI would get in caBundle
//	KONNECTOR_INSTALLED_DNS  the cluster's DNS server (host:port) that resolves
//	                         the URL's host; default: the system's resolver
//	KUBECONFIG               an administrator of the management cluster, to
//	                         create the demo Cluster and read what the hook wrote
package installed

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimehooksv1 "sigs.k8s.io/cluster-api/api/runtime/hooks/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/konnector-hooks/konnector-hooks/test/hookcall"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

const (
	testdata = "../testdata"
	// The demo Cluster: the sample request's Cluster (the seed's
	// clusterConfig inside a Nutanix cluster's), in a namespace of its own.
	namespace = "konnector-installed"
	name      = "my-cluster"
	// The credentials Secret the addon reads by default.
	credentials = "prism-central-credentials-for-konnector-agent"
)

func TestInstalled_DiscoveryAndAfterControlPlaneInitializedThroughTheIngress(t *testing.T) {
	url := os.Getenv("KONNECTOR_INSTALLED_URL")
	if url == "" {
		t.Skip("KONNECTOR_INSTALLED_URL is not set: hack/e2e-knative.sh check runs this against an installed konnector-hooks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := adminClient(t)
	createDemoCluster(ctx, t, c)
	hc := httpClient(t)

	discovery := call(ctx, t, hc, url+hookcall.PathDiscovery, readFile(t, "discovery.json"))
	var d runtimehooksv1.DiscoveryResponse
	if err := json.Unmarshal([]byte(discovery.Raw), &d); err != nil {
		t.Fatal(err)
	}
	if discovery.HTTPStatus != http.StatusOK || d.Kind != "DiscoveryResponse" || d.Status != runtimehooksv1.ResponseStatusSuccess || len(d.Handlers) != 3 {
		t.Fatalf("discovery answered HTTP %d: %s", discovery.HTTPStatus, discovery.Raw)
	}
	for _, h := range d.Handlers {
		t.Logf("discovery: handler %s (%s, timeoutSeconds %d, failurePolicy %s)", h.Name, h.RequestHook.Hook, *h.TimeoutSeconds, *h.FailurePolicy)
	}

	// CAPI v1.12 sends a v1beta1 Cluster, v1.13 and later a v1beta2 one.
	for _, file := range []string{"after-control-plane-initialized.v1beta1.json", "after-control-plane-initialized.v1beta2.json"} {
		a := call(ctx, t, hc, url+hookcall.PathACPI, hookcall.Request(t, testdata, file, namespace, name))
		if a.HTTPStatus != http.StatusOK || a.Kind != "AfterControlPlaneInitializedResponse" || a.Status != string(runtimehooksv1.ResponseStatusSuccess) {
			t.Fatalf("AfterControlPlaneInitialized (%s) answered HTTP %d: %s", file, a.HTTPStatus, a.Raw)
		}
	}

	// What the hook wrote, with the labels of SPEC §7.
	for _, obj := range []client.Object{&caaphv1.HelmChartProxy{}, &addonsv1.ClusterResourceSet{}} {
		key := types.NamespacedName{Namespace: namespace, Name: "konnector-agent-" + name}
		if err := c.Get(ctx, key, obj); err != nil {
			t.Fatalf("after AfterControlPlaneInitialized: %T %s: %v", obj, key, err)
		}
		if got := obj.GetLabels()["app.kubernetes.io/managed-by"]; got != "konnector-hooks" {
			t.Errorf("%T %s: label app.kubernetes.io/managed-by is %q", obj, key, got)
		}
		t.Logf("written: %T %s", obj, key)
	}
}

// call POSTs body to url as CAPI's runtime client does and logs the answer
// and how long it took.
func call(ctx context.Context, t *testing.T, hc *http.Client, url string, body []byte) hookcall.Answer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?timeout=10s", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", url, err)
	}
	t.Logf("POST %s?timeout=10s: HTTP %d in %s: %s", url, resp.StatusCode, time.Since(start).Round(time.Millisecond), b)
	return hookcall.Decode(t, resp.StatusCode, b)
}

// httpClient resolves names with the cluster's DNS and trusts the CA of
// KONNECTOR_INSTALLED_CA, like CAPI's controller in a pod with the
// ExtensionConfig's caBundle; CAPI's client waits at most the hook's timeout.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if dns := os.Getenv("KONNECTOR_INSTALLED_DNS"); dns != "" {
		dialer.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, dns)
		}}
	}
	transport := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if ca := os.Getenv("KONNECTOR_INSTALLED_CA"); ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(readPath(t, ca)) {
			t.Fatalf("%s holds no PEM certificate", ca)
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}
}

func adminClient(t *testing.T) client.Client {
	t.Helper()
	cfg, err := config.GetConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: managementcluster.AdminScheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createDemoCluster creates the Cluster of the sample request (as CAPI's
// controllers would have, status included) and the credentials Secret,
// unless a previous run did.
func createDemoCluster(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	var sample struct{ Cluster clusterv1.Cluster }
	if err := json.Unmarshal(readFile(t, "after-control-plane-initialized.v1beta2.json"), &sample); err != nil {
		t.Fatal(err)
	}
	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: sample.Cluster.Labels},
		Spec:       sample.Cluster.Spec,
		Status:     sample.Cluster.Status,
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		managementcluster.NewCredentials(namespace, credentials, "admin", "demo-password"),
	} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := managementcluster.CreateCluster(ctx, c, cluster); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	return readPath(t, filepath.Join(testdata, name))
}

func readPath(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
