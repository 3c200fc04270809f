// Package manifests proves the deployable part of konnector-hooks on a real
// API server (envtest): that deploy/'s RBAC and admission fence let every
// hook flow through and refuse what the hooks never do, in the default, the
// renamed and the namespaced install, and that every object of the
// top-level kustomization is accepted, field by field, by the schemas it
// will meet.
//
// It is a module of its own so that kustomize and Knative stay out of the
// product's go.mod.
package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// knativeServing is the Knative Serving release whose Service CRD the
// manifests are validated against; its module holds the CRD files.
const knativeServing = "knative.dev/serving@v0.51.0"

// certManager is the cert-manager release whose Issuer and Certificate CRDs
// deploy/without-knative is validated against; its module holds them
// (deploy/crds), as cert-manager's release manifests install them.
const certManager = "github.com/cert-manager/cert-manager@v1.21.2"

// repoRoot is the product's repository, where the kustomizations live.
var repoRoot = filepath.Join("..", "..")

var (
	// mgmt is the one management API server of this package's tests.
	mgmt *managementcluster.Env
	// admin is an administrator's client that maps any kind, CRDs included,
	// by discovery.
	admin client.Client
)

// testScheme holds the hooks' types (kube.Scheme) and the built-in ones,
// RBAC among them, that the tests write as an administrator.
var testScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, clusterv1.AddToScheme, addonsv1.AddToScheme, caaphv1.AddToScheme, runtimev1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	env, err := managementcluster.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if err := installKnativeService(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := installCertManager(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgmt = env
	admin, err = client.New(env.Config, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("management API server (envtest) with the Knative Service and cert-manager CRDs started in %s\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// installKnativeService installs the services.serving.knative.dev CRD of the
// pinned Knative Serving release, as Knative's own release manifests do.
func installKnativeService(env *managementcluster.Env) error {
	dir, err := managementcluster.ModuleDir(knativeServing)
	if err != nil {
		return err
	}
	crd := filepath.Join(dir, "config", "core", "300-resources", "service.yaml")
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("installing the Knative Service CRD from %s: %w", crd, err)
	}
	return nil
}

// installCertManager installs the Issuer and Certificate CRDs of the pinned
// cert-manager release.
func installCertManager(env *managementcluster.Env) error {
	dir, err := managementcluster.ModuleDir(certManager)
	if err != nil {
		return err
	}
	var crds []string
	for _, f := range []string{"cert-manager.io_issuers.yaml", "cert-manager.io_certificates.yaml"} {
		crds = append(crds, filepath.Join(dir, "deploy", "crds", f))
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("installing the cert-manager CRDs from %s: %w", dir, err)
	}
	return nil
}

// render builds the kustomization in dir (relative to the repository root)
// with the kustomize Go API, as `kubectl kustomize` would.
func render(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range resources.Resources() {
		// Through JSON, so that numbers are int64 as in any object read
		// from the API server.
		b, err := r.MarshalJSON()
		obj := &unstructured.Unstructured{}
		if err == nil {
			err = obj.UnmarshalJSON(b)
		}
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, r.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// find returns the one rendered object of that kind and name.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if found != nil {
				t.Fatalf("two %s objects named %s", kind, name)
			}
			found = o
		}
	}
	if found == nil {
		t.Fatalf("no %s named %s in the rendered manifests", kind, name)
	}
	return found
}

// apply writes obj with server-side apply as an administrator, for real.
func apply(ctx context.Context, obj *unstructured.Unstructured, opts ...client.PatchOption) error {
	opts = append([]client.PatchOption{client.FieldOwner("konnector-hooks-manifests-test"), client.ForceOwnership}, opts...)
	//nolint:staticcheck // Patch with client.Apply is the apply call that takes fieldValidation; client.Apply() does not in controller-runtime v0.22.
	if err := admin.Patch(ctx, obj.DeepCopy(), client.Apply, opts...); err != nil {
		return fmt.Errorf("applying %s %s: %w", obj.GetKind(), objectName(obj), err)
	}
	return nil
}

func objectName(obj client.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

// withoutKoImages replaces every ko:// image reference, which `ko resolve`
// turns into a registry image at deploy time, with a plain image name.
func withoutKoImages(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	out.Object = replaceStrings(out.Object, func(s string) string {
		if strings.HasPrefix(s, "ko://") {
			return "registry.example.com/konnector-hooks:validation"
		}
		return s
	}).(map[string]any)
	return out
}

func replaceStrings(v any, f func(string) string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = replaceStrings(e, f)
		}
	case []any:
		for i, e := range v {
			v[i] = replaceStrings(e, f)
		}
	case string:
		return f(v)
	}
	return v
}

// waitUntil retries check until it returns nil, for at most a minute: for
// what the API server applies asynchronously (RBAC bindings, policies).
func waitUntil(t testing.TB, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("waiting until %s: %v (last: %v)", what, err, last)
	}
}
