// Package oldserver shows what installing the clusterctl release does on an
// API server older than Kubernetes 1.30, which serves no
// admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy: its own
// envtest, with that API turned off (kube-apiserver --runtime-config), as
// the one difference from a 1.30 or later server that matters to the
// install.
package oldserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	clusterctl "sigs.k8s.io/cluster-api/cmd/clusterctl/client"
	"sigs.k8s.io/cluster-api/cmd/clusterctl/client/cluster"
	"sigs.k8s.io/cluster-api/cmd/clusterctl/client/config"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
	"github.com/konnector-hooks/konnector-hooks/test/manifests/release"
)

// knativeServing holds the Knative Service CRD (as in package manifests).
const knativeServing = "knative.dev/serving@v0.51.0"

var (
	// mgmt is the package's API server, without ValidatingAdmissionPolicy v1.
	mgmt       *managementcluster.Env
	kubeconfig string
)

func TestMain(m *testing.M) {
	// envtest and clusterctl log through controller-runtime's logger; the
	// test reports what it checks itself.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := managementcluster.Start(
		managementcluster.APIServerFlag("runtime-config", "admissionregistration.k8s.io/v1/validatingadmissionpolicies=false,admissionregistration.k8s.io/v1/validatingadmissionpolicybindings=false"),
		// And its admission plugin, which waits for the API to sync.
		managementcluster.APIServerFlag("disable-admission-plugins", "ValidatingAdmissionPolicy"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server without ValidatingAdmissionPolicy v1:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	knative, err := managementcluster.ModuleDir(knativeServing)
	if err == nil {
		_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(knative, "config", "core", "300-resources", "service.yaml")}, ErrorIfPathMissing: true})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installing the Knative Service CRD:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "konnector-hooks-oldserver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgmt = env
	return m.Run()
}

// clusterctl creates a provider's objects in order and stops at the first it
// cannot create. Without ValidatingAdmissionPolicy v1 that is the fence,
// right after the Namespace: nothing that runs the function, grants it
// rights or points CAPI at it is created.
func TestRelease_OnAServerWithoutValidatingAdmissionPolicyV1ClusterctlStopsAtTheFence(t *testing.T) {
	configPath, err := release.WriteLocalRepository(t.TempDir(), filepath.Join("..", "..", ".."), "registry.example.com/konnector-hooks:v0.1.0", "v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	configClient, err := config.New(t.Context(), configPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := clusterctl.New(t.Context(), configPath, clusterctl.InjectConfig(configClient))
	if err != nil {
		t.Fatal(err)
	}
	components, err := c.GenerateProvider(t.Context(), release.ProviderName, clusterctlv1.RuntimeExtensionProviderType, clusterctl.ComponentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy := cluster.Kubeconfig{Path: kubeconfig}
	err = cluster.New(proxy, configClient).ProviderComponents().Create(t.Context(), components.Objs())
	if err == nil || !strings.Contains(err.Error(), `no matches for kind "ValidatingAdmissionPolicy" in version "admissionregistration.k8s.io/v1"`) {
		t.Fatalf("clusterctl's create answered %v, want it to stop at the fence", err)
	}
	t.Logf("clusterctl: %v", err)

	for _, obj := range components.Objs() {
		found := &unstructured.Unstructured{}
		found.SetGroupVersionKind(obj.GroupVersionKind())
		err := mgmt.Client.Get(t.Context(), client.ObjectKeyFromObject(&obj), found)
		switch created := err == nil; {
		case obj.GetKind() == "Namespace" && !created:
			t.Errorf("the Namespace was not created: %v", err)
		case obj.GetKind() != "Namespace" && created:
			t.Errorf("%s %s was created before clusterctl stopped", obj.GetKind(), obj.GetName())
		}
	}
}
