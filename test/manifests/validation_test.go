package manifests

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// module is the product's module path, which ko:// image references name.
const module = "github.com/konnector-hooks/konnector-hooks"

// strictDryRun applies an object the way `kubectl apply --server-side
// --dry-run=server --validate=strict` does: the API server runs defaulting,
// schema validation and admission, rejects unknown or duplicate fields, and
// stores nothing.
var strictDryRun = []client.PatchOption{client.DryRunAll, client.FieldValidation("Strict")}

// createNamespaces creates, for real, the namespaces the manifests define:
// a dry run of an object in a namespace that does not exist fails.
func createNamespaces(t testing.TB, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() == "Namespace" {
			if err := apply(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// defaultInstall is what the top-level kustomization renders.
var defaultInstall = []string{
	"v1 Namespace konnector-hooks",
	"v1 ServiceAccount konnector-hooks/konnector-hooks",
	"rbac.authorization.k8s.io/v1 ClusterRole konnector-hooks",
	"rbac.authorization.k8s.io/v1 ClusterRoleBinding konnector-hooks",
	"v1 ConfigMap konnector-hooks/konnector-hooks-settings",
	"v1 ConfigMap konnector-hooks/konnector-hooks-values",
	"runtime.cluster.x-k8s.io/v1beta2 ExtensionConfig konnector-agent",
	"admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy konnector-hooks-fence",
	"admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding konnector-hooks-fence",
	"serving.knative.dev/v1 Service konnector-hooks/konnector-hooks",
	"batch/v1 CronJob konnector-hooks/konnector-hooks-sync",
}

func TestManifests_EveryObjectPassesStrictServerSideValidation(t *testing.T) {
	passesStrictValidation(t, ".", defaultInstall)
}

// passesStrictValidation renders the kustomization in dir, checks that it
// holds exactly the objects want names, and dry-runs each with strict
// server-side validation.
func passesStrictValidation(t *testing.T, dir string, want []string) {
	t.Helper()
	objs := render(t, dir)
	var got []string
	for _, obj := range objs {
		got = append(got, obj.GetAPIVersion()+" "+obj.GetKind()+" "+objectName(obj))
	}
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s renders\n  %s\nwant\n  %s", dir, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	createNamespaces(t, objs)
	for _, obj := range objs {
		if err := apply(t.Context(), withoutKoImages(obj), strictDryRun...); err != nil {
			t.Errorf("the API server rejects the manifest: %v", err)
		}
	}
}

func TestManifests_NamespacedInstallPassesStrictServerSideValidation(t *testing.T) {
	objs := render(t, namespacedInstall)
	createNamespaces(t, objs)
	for _, obj := range objs {
		if err := apply(t.Context(), withoutKoImages(obj), strictDryRun...); err != nil {
			t.Errorf("the API server rejects the namespaced install's manifest: %v", err)
		}
	}
}

func TestManifests_MisspelledFieldIsRejected(t *testing.T) {
	objs := render(t, ".")
	createNamespaces(t, objs)
	cases := []struct {
		kind, name string
		// path leads to the field to misspell; a number picks a list item.
		path []any
		typo string
	}{
		{"Service", "konnector-hooks", []any{"spec", "template", "spec", "containerConcurrency"}, "contianerConcurrency"},
		{"Service", "konnector-hooks", []any{"spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"}, "readOnlyRootFileSystem"},
		{"ExtensionConfig", "konnector-agent", []any{"spec", "namespaceSelector"}, "namespaceSelecter"},
		{"ClusterRole", "konnector-hooks", []any{"rules", 0, "verbs"}, "verb"},
		{"ConfigMap", "konnector-hooks-settings", []any{"data"}, "date"},
		{"ValidatingAdmissionPolicy", "konnector-hooks-fence", []any{"spec", "matchConditions"}, "matchCondition"},
		{"ValidatingAdmissionPolicyBinding", "konnector-hooks-fence", []any{"spec", "validationActions"}, "validationAction"},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.typo, func(t *testing.T) {
			obj := withoutKoImages(find(t, objs, tc.kind, tc.name))
			if err := apply(t.Context(), obj, strictDryRun...); err != nil {
				t.Fatalf("the manifest as written must pass first: %v", err)
			}
			misspell(t, obj.Object, tc.path, tc.typo)
			err := apply(t.Context(), obj, strictDryRun...)
			if err == nil {
				t.Fatalf("the API server accepted %s %s with the misspelled field %q", tc.kind, tc.name, tc.typo)
			}
			if !strings.Contains(err.Error(), tc.typo) {
				t.Fatalf("the rejection should name the field %q: %v", tc.typo, err)
			}
			t.Logf("rejected as expected: %v", err)
		})
	}
}

// misspell renames the field at path to typo.
func misspell(t testing.TB, obj map[string]any, path []any, typo string) {
	t.Helper()
	var node any = obj
	for _, step := range path[:len(path)-1] {
		switch s := step.(type) {
		case string:
			node = node.(map[string]any)[s]
		case int:
			node = node.([]any)[s]
		}
	}
	parent := node.(map[string]any)
	field := path[len(path)-1].(string)
	value, ok := parent[field]
	if !ok {
		t.Fatalf("the manifest has no field %v", path)
	}
	delete(parent, field)
	parent[typo] = value
}

func TestManifests_ObjectsReferToEachOther(t *testing.T) {
	objs := render(t, ".")
	ns := find(t, objs, "Namespace", "konnector-hooks")
	ksvc := find(t, objs, "Service", "konnector-hooks")
	sa := find(t, objs, "ServiceAccount", "konnector-hooks")
	binding := find(t, objs, "ClusterRoleBinding", "konnector-hooks")
	role := find(t, objs, "ClusterRole", "konnector-hooks")
	cm := find(t, objs, "ConfigMap", "konnector-hooks-settings")
	ext := find(t, objs, "ExtensionConfig", "konnector-agent")

	for _, obj := range []*unstructured.Unstructured{ksvc, sa, cm} {
		if obj.GetNamespace() != ns.GetName() {
			t.Errorf("%s %s is not in namespace %s", obj.GetKind(), objectName(obj), ns.GetName())
		}
	}
	if got := ksvc.GetLabels()["networking.knative.dev/visibility"]; got != "cluster-local" {
		t.Errorf("the Knative Service's visibility label is %q, want cluster-local", got)
	}

	// Annotation keys are free-form, so no schema catches a misspelled one.
	annotations := nested[map[string]any](t, ksvc, "spec", "template", "metadata", "annotations")
	if got := annotations["autoscaling.knative.dev/min-scale"]; got != "1" {
		t.Errorf("autoscaling.knative.dev/min-scale is %v, want \"1\": the hooks block cluster lifecycles and must not wait for a cold start", got)
	}

	spec := nested[map[string]any](t, ksvc, "spec", "template", "spec")
	if spec["serviceAccountName"] != sa.GetName() {
		t.Errorf("the Knative Service runs as %v, want ServiceAccount %s", spec["serviceAccountName"], sa.GetName())
	}
	containers := spec["containers"].([]any)
	if len(containers) != 1 {
		t.Fatalf("the Knative Service has %d containers, want 1", len(containers))
	}
	var container corev1.Container
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(containers[0].(map[string]any), &container); err != nil {
		t.Fatal(err)
	}
	command, ok := strings.CutPrefix(container.Image, "ko://"+module+"/")
	if !ok {
		t.Errorf("image %q is not a ko:// reference to a package of %s", container.Image, module)
	} else if _, err := os.Stat(filepath.Join(repoRoot, command, "main.go")); err != nil {
		t.Errorf("image %q names no main package of this repository: %v", container.Image, err)
	}
	env := map[string]string{}
	for _, e := range container.Env {
		env[e.Name] = e.Value
	}
	if env["FUNCTION_TARGET"] != handlers.FunctionHooks {
		t.Errorf("FUNCTION_TARGET is %q, want %q", env["FUNCTION_TARGET"], handlers.FunctionHooks)
	}
	if len(container.EnvFrom) != 1 || container.EnvFrom[0].ConfigMapRef == nil || container.EnvFrom[0].ConfigMapRef.Name != cm.GetName() {
		t.Errorf("the container's envFrom is %+v, want ConfigMap %s", container.EnvFrom, cm.GetName())
	}
	if p := container.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("the readiness probe is %+v, want GET /healthz", p)
	}
	if timeout := spec["timeoutSeconds"].(int64); timeout <= int64(maxHandlerTimeoutSeconds) {
		t.Errorf("Knative's timeoutSeconds %d would cut hook calls, which may take up to %d seconds", timeout, maxHandlerTimeoutSeconds)
	}

	if ref := nested[map[string]any](t, binding, "roleRef"); ref["kind"] != "ClusterRole" || ref["name"] != role.GetName() {
		t.Errorf("the ClusterRoleBinding binds %v, want ClusterRole %s", ref, role.GetName())
	}
	subjects := nested[[]any](t, binding, "subjects")
	wantSubject := map[string]any{"kind": "ServiceAccount", "name": sa.GetName(), "namespace": sa.GetNamespace()}
	if len(subjects) != 1 || !reflect.DeepEqual(subjects[0], wantSubject) {
		t.Errorf("the ClusterRoleBinding's subjects are %v, want only %v", subjects, wantSubject)
	}

	policy := find(t, objs, "ValidatingAdmissionPolicy", "konnector-hooks-fence")
	fenceBinding := find(t, objs, "ValidatingAdmissionPolicyBinding", "konnector-hooks-fence")
	if name := nested[string](t, fenceBinding, "spec", "policyName"); name != policy.GetName() {
		t.Errorf("the fence's binding binds policy %s, want %s", name, policy.GetName())
	}
	if actions := nested[[]any](t, fenceBinding, "spec", "validationActions"); !reflect.DeepEqual(actions, []any{"Deny"}) {
		t.Errorf("the fence's binding has validationActions %v, want [Deny]: anything else lets a refused write through", actions)
	}
	if policy := nested[string](t, policy, "spec", "failurePolicy"); policy != "Fail" {
		t.Errorf("the fence's failurePolicy is %s, want Fail: a fence that cannot be evaluated must refuse", policy)
	}

	wantURL := "https://" + ksvc.GetName() + "." + ksvc.GetNamespace() + ".svc.cluster.local"
	if url := nested[string](t, ext, "spec", "clientConfig", "url"); url != wantURL {
		t.Errorf("the ExtensionConfig calls %s, want the Knative Service's cluster-local address %s", url, wantURL)
	}
	if secret := ext.GetAnnotations()["runtime.cluster.x-k8s.io/inject-ca-from-secret"]; strings.Count(secret, "/") != 1 {
		t.Errorf("the ExtensionConfig's inject-ca-from-secret annotation %q is not <namespace>/<name>", secret)
	}
}

// maxHandlerTimeoutSeconds is the longest timeoutSeconds CAPI accepts in
// discovery, and so the longest a hook call may take.
const maxHandlerTimeoutSeconds = 30

func nested[T any](t testing.TB, obj *unstructured.Unstructured, path ...string) T {
	t.Helper()
	var node any = obj.Object
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("%s %s has no %s", obj.GetKind(), obj.GetName(), strings.Join(path, "."))
		}
		node = m[p]
	}
	v, ok := node.(T)
	if !ok {
		t.Fatalf("%s %s: %s is %T", obj.GetKind(), obj.GetName(), strings.Join(path, "."), node)
	}
	return v
}

func TestManifests_SettingsConfigMapHoldsEverySettingAtItsDefault(t *testing.T) {
	cm := find(t, render(t, "deploy"), "ConfigMap", "konnector-hooks-settings")
	data := nested[map[string]any](t, cm, "data")
	want := settingsVariables()
	got := slices.Sorted(maps.Keys(data))
	if !slices.Equal(got, want) {
		t.Fatalf("the ConfigMap sets\n  %v\nthe function reads\n  %v", got, want)
	}

	defaults := defaultSettings(t)
	variables := map[string]string{}
	for name, value := range data {
		variables[name] = value.(string)
	}
	fromConfigMap, err := settings.FromMap(variables)
	if err != nil {
		t.Fatalf("the function would not start with the ConfigMap's settings: %v", err)
	}
	if !reflect.DeepEqual(fromConfigMap, defaults) {
		t.Fatalf("the ConfigMap's settings differ from the defaults:\n  got  %+v\n  want %+v", fromConfigMap, defaults)
	}
}

// settingsVariables lists the environment variables settings.Load reads.
func settingsVariables() []string {
	var names []string
	for f := range reflect.TypeFor[settings.Settings]().Fields() {
		if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
			names = append(names, settings.Prefix+"_"+key)
		}
	}
	slices.Sort(names)
	return names
}

func TestManifests_ValuesConfigMapIsAcceptedAtStartUp(t *testing.T) {
	cm := find(t, render(t, "deploy"), "ConfigMap", "konnector-hooks-values")
	values := nested[map[string]any](t, cm, "data")["values.yaml"].(string)
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KONNECTOR_VALUES_FILE", path)
	if _, err := settings.Load(); err != nil {
		t.Fatalf("the function would not start with the shipped values file: %v", err)
	}
	// The ConfigMap is for values without credentials: it suggests none.
	for _, key := range konnector.CredentialValues {
		last := key[strings.LastIndex(key, ".")+1:]
		if strings.Contains(values, last) {
			t.Errorf("the values ConfigMap mentions %s, a credential: credentials go in the Secret konnector-hooks-values", key)
		}
	}
}

func TestManifests_ValuesComeFromTheSecretOrTheConfigMap(t *testing.T) {
	svc := find(t, render(t, "knative"), "Service", "konnector-hooks")
	spec := nested[map[string]any](t, svc, "spec", "template", "spec")
	mounts := map[string]string{}
	for _, m := range spec["containers"].([]any)[0].(map[string]any)["volumeMounts"].([]any) {
		m := m.(map[string]any)
		mounts[m["name"].(string)] = m["mountPath"].(string)
	}
	want := map[string]struct{ kind, path string }{
		// Credentials only ever in the Secret, which the operator creates.
		"secret":    {"konnector-hooks-values", "/etc/konnector-hooks/values"},
		"configMap": {"konnector-hooks-values", "/etc/konnector-hooks/values-configmap"},
	}
	found := map[string]bool{}
	for _, v := range spec["volumes"].([]any) {
		v := v.(map[string]any)
		for source, w := range want {
			src, ok := v[source].(map[string]any)
			if !ok {
				continue
			}
			name := src["name"]
			if source == "secret" {
				name = src["secretName"]
			}
			if name != w.kind || src["optional"] != true || mounts[v["name"].(string)] != w.path {
				t.Errorf("volume %v (mounted at %q): want the optional %s %s at %s", v, mounts[v["name"].(string)], source, w.kind, w.path)
			}
			found[source] = true
		}
	}
	if !found["secret"] || !found["configMap"] {
		t.Fatalf("the Knative Service mounts %v, want the values Secret and ConfigMap", spec["volumes"])
	}
	// The install does not ship the Secret: applying it again would
	// overwrite the operator's credentials.
	for _, obj := range render(t, ".") {
		if obj.GetKind() == "Secret" {
			t.Errorf("the install ships Secret %s", objectName(obj))
		}
	}
}
