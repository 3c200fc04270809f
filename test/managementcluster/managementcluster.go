// Package managementcluster starts a real management API server for tests
// and for `make run`: kube-apiserver and etcd from KUBEBUILDER_ASSETS (built
// by hack/envtest-assets.sh) with the CAPI and CAAPH CRDs of the pinned
// module versions, read from the Go module cache.
package managementcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// CRD files the hooks need, relative to their module's root.
var crdFiles = map[string][]string{
	"sigs.k8s.io/cluster-api": {
		"config/crd/bases/cluster.x-k8s.io_clusters.yaml",
		"config/crd/bases/addons.cluster.x-k8s.io_clusterresourcesets.yaml",
		"config/crd/bases/runtime.cluster.x-k8s.io_extensionconfigs.yaml",
	},
	"sigs.k8s.io/cluster-api-addon-provider-helm": {
		"config/crd/bases/addons.cluster.x-k8s.io_helmchartproxies.yaml",
		"config/crd/bases/addons.cluster.x-k8s.io_helmreleaseproxies.yaml",
	},
}

// AdminScheme holds every built-in Kubernetes type besides the hooks' types,
// for tests and fixtures that touch more than the hooks do.
var AdminScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(clusterv1.AddToScheme(s))
	utilruntime.Must(addonsv1.AddToScheme(s))
	utilruntime.Must(caaphv1.AddToScheme(s))
	utilruntime.Must(runtimev1.AddToScheme(s))
	return s
}()

// Env is a running management API server.
type Env struct {
	env *envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an administrator's client with AdminScheme.
	Client client.Client
}

// Option changes the API server Start starts.
type Option func(*envtest.Environment)

// APIServerFlag appends a kube-apiserver flag, e.g. to turn an API off.
func APIServerFlag(name, value string) Option {
	return func(env *envtest.Environment) {
		env.ControlPlane.GetAPIServer().Configure().Append(name, value)
	}
}

// Start starts the API server and installs the CRDs.
func Start(options ...Option) (*Env, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd with hack/envtest-assets.sh")
	}
	paths, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDInstallOptions: envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true},
	}
	for _, o := range options {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the management API server: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: AdminScheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{env: env, Config: cfg, Client: c}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// CRDPaths returns the CRD files of the pinned CAPI and CAAPH modules.
func CRDPaths() ([]string, error) {
	var paths []string
	for module, files := range crdFiles {
		dir, err := ModuleDir(module)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			paths = append(paths, filepath.Join(dir, f))
		}
	}
	return paths, nil
}

// ModuleDir returns the module cache directory of a module at the version
// go.mod selects, downloading it when needed.
func ModuleDir(module string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", module).Output()
	var info struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil || info.Dir == "" {
		return "", fmt.Errorf("finding module %s in the module cache (go mod download): %v %s", module, err, info.Error)
	}
	return info.Dir, nil
}
