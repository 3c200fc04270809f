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

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

const namespace = "default"

// demoClusters follow the addon documentation's Basic, Advanced and Minimal
// examples, with the Prism Central endpoint every Nutanix cluster carries.
var demoClusters = []struct{ name, clusterConfig string }{
	{"my-cluster", `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`},
	{"custom-credentials-cluster", `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`},
	{"minimal-cluster", `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`},
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
		if err := managementcluster.CreateCluster(ctx, env.Client, managementcluster.NewCluster(namespace, d.name, d.clusterConfig)); err != nil {
			return err
		}
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
	printExamples(kubeconfig, port)

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

func printExamples(kubeconfig, port string) {
	base := "http://localhost:" + port + "/hooks.runtime.cluster.x-k8s.io/v1alpha1"
	fmt.Printf(`
konnector-hooks is serving on :%[1]s against a local management API server.
Demo Clusters in namespace %[3]s: my-cluster, custom-credentials-cluster, minimal-cluster
(credentials Secret prism-central-credentials-for-konnector-agent).

  export KUBECONFIG=%[2]s

  curl -s -X POST '%[4]s/discovery?timeout=10s' -d @test/testdata/discovery.json
  curl -s -X POST '%[4]s/aftercontrolplaneinitialized/after-control-plane-initialized?timeout=10s' -d @test/testdata/after-control-plane-initialized.v1beta2.json
  curl -s -X POST '%[4]s/beforeclusterupgrade/before-cluster-upgrade?timeout=10s' -d @test/testdata/before-cluster-upgrade.v1beta1.json
  curl -s -X POST '%[4]s/beforeclusterdelete/before-cluster-delete?timeout=10s' -d @test/testdata/before-cluster-delete.v1beta2.json
  curl -s http://localhost:%[1]s/render/%[3]s/my-cluster

Press Ctrl-C to stop.
`, port, kubeconfig, namespace, base)
}
