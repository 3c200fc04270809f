// Command localrun is what `make run` starts when no KUBECONFIG is set: an
// embedded management API server (kube-apiserver and etcd from envtest) with
// the CAPI and CAAPH CRDs, demo Clusters configured as the addon's
// documentation shows, and the function binary serving against it.
// Ctrl-C stops everything it started.
//
// Usage: localrun <path to the konnector-hooks binary>
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

const namespace = "default"

// demoClusters follow the addon documentation's Basic, Advanced and Minimal
// examples inside the clusterConfig a cluster built from Nutanix's
// ClusterClasses carries (Prism Central endpoint with CAPX's credentials,
// control-plane categories, other addons), and a fourth cluster whose Prism
// Central certificate is verified against a base64 trust bundle, with worker
// categories.
var demoClusters = []struct {
	name, clusterConfig, workerConfig string
}{
	{"my-cluster", nutanixConfig(`"konnectorAgent":{}`, ""), ""},
	{"custom-credentials-cluster", nutanixConfig(`"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}`, ""), ""},
	{"minimal-cluster", nutanixConfig(`"konnectorAgent":{}`, ""), ""},
	{"verified-cluster", nutanixConfig(`"konnectorAgent":{"enableKubeconfigUpload":true}`, demoTrustBundle),
		`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"Team","value":"platform"}]}}}`},
}

// demoTrustBundle is base64 of a self-signed demo CA certificate, as
// Nutanix's clusterConfig carries additionalTrustBundle.
const demoTrustBundle = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJsVENDQVR1Z0F3SUJBZ0lVV3lsUm9DWDF1bWpsbVQ2ZU92cHUwTEZzRjdNd0NnWUlLb1pJemowRUF3SXcKSURFZU1Cd0dBMVVFQXd3VlVISnBjMjBnUTJWdWRISmhiQ0JrWlcxdklFTkJNQjRYRFRJMk1USXdNakF6TXpVeQpPRm9YRFRNMk1URXlPVEF6TXpVeU9Gb3dJREVlTUJ3R0ExVUVBd3dWVUhKcGMyMGdRMlZ1ZEhKaGJDQmtaVzF2CklFTkJNRmt3RXdZSEtvWkl6ajBDQVFZSUtvWkl6ajBEQVFjRFFnQUVjK3huMHBOaDFFV3F3RCszbjBydEl2KzMKTityTk8xd3VpaHNzc3hxWGl2bHdBcXFLUlprTHdDVTNKQytUOVd3N0tOODllNlM3K3hUbWJKY3lTc0FwdjZOVApNRkV3SFFZRFZSME9CQllFRkZGU1BJcTlLWjNKd05RL1pKUis0cUJtTnp2S01COEdBMVVkSXdRWU1CYUFGRkZTClBJcTlLWjNKd05RL1pKUis0cUJtTnp2S01BOEdBMVVkRXdFQi93UUZNQU1CQWY4d0NnWUlLb1pJemowRUF3SUQKU0FBd1JRSWhBTGZzT1k2UWoycXFpa2lsTFlvSmV1cTk4M2FXcXRLb3p2eDU3MHlVSTk1akFpQitXVFF0MWlCKwo2TTBFYXNSTEJGcWpra3B1UFk1SU5vWFFSWHpQV05McVBBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="

func nutanixConfig(konnectorAgent, trustBundle string) string {
	trust := `"insecure":false`
	if trustBundle != "" {
		trust += `,"additionalTrustBundle":"` + trustBundle + `"`
	}
	return `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440",` + trust +
		`,"credentials":{"secretRef":{"name":"prism-central-credentials"}}}},` +
		`"controlPlane":{"nutanix":{"machineDetails":{"vcpus":4,"additionalCategories":[{"key":"AppType","value":"Kubernetes"}]}}},` +
		`"addons":{"cni":{"provider":"Cilium"},` + konnectorAgent + `}}`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: localrun <konnector-hooks binary>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

func run(binary string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := managementcluster.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()

	dir, err := os.MkdirTemp("", "konnector-hooks-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	if err := env.Client.Create(ctx, managementcluster.NewCredentials(namespace, "prism-central-credentials-for-konnector-agent", "admin", "demo-password")); err != nil {
		return err
	}
	for _, d := range demoClusters {
		cluster := managementcluster.NewCluster(namespace, d.name, d.clusterConfig)
		cluster.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: d.name + ".clusters.example.com", Port: 6443}
		if d.workerConfig != "" {
			cluster.Spec.Topology.Variables = append(cluster.Spec.Topology.Variables,
				clusterv1.ClusterVariable{Name: "workerConfig", Value: apiextensionsv1.JSON{Raw: []byte(d.workerConfig)}})
		}
		if err := managementcluster.CreateCluster(ctx, env.Client, cluster); err != nil {
			return err
		}
	}
	// The ExtensionConfig as deploy/ registers it, so that POST /sync serves
	// the namespaces it selects (all of them).
	if err := env.Client.Create(ctx, &runtimev1.ExtensionConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "konnector-agent"},
		Spec: runtimev1.ExtensionConfigSpec{
			ClientConfig:      runtimev1.ClientConfig{URL: "https://konnector-hooks.konnector-hooks.svc.cluster.local"},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpExists}}},
		},
	}); err != nil {
		return err
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PORT="+port)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", binary, err)
	}
	printExamples(kubeconfig, port, binary)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if ctx.Err() == nil {
			return fmt.Errorf("konnector-hooks exited: %v", err)
		}
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}
	fmt.Println("\nstopped konnector-hooks and the local management API server")
	return nil
}

func printExamples(kubeconfig, port, binary string) {
	base := "http://localhost:" + port + "/hooks.runtime.cluster.x-k8s.io/v1alpha1"
	fmt.Printf(`
konnector-hooks is serving on :%[1]s against a local management API server.
Demo Clusters in namespace %[3]s: my-cluster, custom-credentials-cluster, minimal-cluster, verified-cluster
(credentials Secret prism-central-credentials-for-konnector-agent).

  export KUBECONFIG=%[2]s

  curl -s -X POST '%[4]s/discovery?timeout=10s' -d @test/testdata/discovery.json
  curl -s -X POST '%[4]s/aftercontrolplaneinitialized/after-control-plane-initialized?timeout=10s' -d @test/testdata/after-control-plane-initialized.v1beta2.json
  curl -s -X POST '%[4]s/beforeclusterupgrade/before-cluster-upgrade?timeout=10s' -d @test/testdata/before-cluster-upgrade.v1beta1.json
  curl -s -X POST '%[4]s/beforeclusterdelete/before-cluster-delete?timeout=10s' -d @test/testdata/before-cluster-delete.v1beta2.json
  %[5]s render %[3]s/my-cluster
  %[5]s render %[3]s/verified-cluster
  curl -s -X POST http://localhost:%[1]s/sync

Press Ctrl-C to stop.
`, port, kubeconfig, namespace, base, binary)
}
