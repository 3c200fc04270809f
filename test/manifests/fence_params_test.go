package manifests

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// pinnedSettings are the settings the fence pins a HelmChartProxy to.
var pinnedSettings = []string{"KONNECTOR_CHART_NAME", "KONNECTOR_CHART_REPOSITORY", "KONNECTOR_RELEASE_NAME", "KONNECTOR_RELEASE_NAMESPACE"}

func TestFence_ParametersAreTheSettingsConfigMapTheFunctionReads(t *testing.T) {
	for _, dir := range []string{".", "deploy", "test/manifests/testdata/renamed", "test/manifests/testdata/namespaced"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			policy, binding, settingsMap := fenceObjects(t, objs)
			if kind := nested[map[string]any](t, policy, "spec", "paramKind"); kind["apiVersion"] != "v1" || kind["kind"] != "ConfigMap" {
				t.Fatalf("the fence's paramKind is %v, want v1 ConfigMap", kind)
			}
			ref := nested[map[string]any](t, binding, "spec", "paramRef")
			if ref["name"] != settingsMap.GetName() || ref["namespace"] != settingsMap.GetNamespace() || ref["parameterNotFoundAction"] != "Deny" {
				t.Fatalf("the fence's paramRef is %v, want ConfigMap %s with parameterNotFoundAction Deny", ref, objectName(settingsMap))
			}
			// The Knative Service reads the same ConfigMap.
			if svc := findKind(objs, "Service"); svc != nil {
				from := nested[[]any](t, svc, "spec", "template", "spec", "containers")[0].(map[string]any)["envFrom"].([]any)
				if name := from[0].(map[string]any)["configMapRef"].(map[string]any)["name"]; name != settingsMap.GetName() {
					t.Fatalf("the function reads its settings from ConfigMap %v, the fence from %s", name, settingsMap.GetName())
				}
			}
			// Every setting the fence reads is set: the function's default
			// and the fence could otherwise disagree.
			used := fenceSettings(t, policy)
			if !slices.Equal(used, pinnedSettings) {
				t.Fatalf("the fence reads the settings %v, want %v", used, pinnedSettings)
			}
			data := nested[map[string]any](t, settingsMap, "data")
			for _, key := range used {
				if v, _ := data[key].(string); v == "" {
					t.Errorf("ConfigMap %s does not set %s, which the fence pins HelmChartProxies to", objectName(settingsMap), key)
				}
			}
		})
	}
	// The overlay that forgets fence-identity leaves the paramRef on a
	// ConfigMap that does not exist there: the fence then refuses every
	// write (parameterNotFoundAction Deny) rather than pin nothing.
	_, binding, settingsMap := fenceObjects(t, render(t, "test/manifests/testdata/renamed-unfenced"))
	if ref := nested[map[string]any](t, binding, "spec", "paramRef"); ref["name"] == settingsMap.GetName() {
		t.Fatalf("testdata/renamed-unfenced should leave the paramRef on the old ConfigMap, but it names %v", ref)
	}
}

func fenceObjects(t testing.TB, objs []*unstructured.Unstructured) (policy, binding, settingsMap *unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		switch {
		case o.GetKind() == "ValidatingAdmissionPolicy":
			policy = o
		case o.GetKind() == "ValidatingAdmissionPolicyBinding":
			binding = o
		case o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "konnector-hooks-settings"):
			settingsMap = o
		}
	}
	if policy == nil || binding == nil || settingsMap == nil {
		t.Fatal("the install renders no fence policy, binding or settings ConfigMap")
	}
	return policy, binding, settingsMap
}

func findKind(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// fenceSettings lists the KONNECTOR_* keys the fence's expressions name.
func fenceSettings(t testing.TB, policy *unstructured.Unstructured) []string {
	t.Helper()
	b, err := policy.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`'(KONNECTOR_[A-Z_]+)'`).FindAllStringSubmatch(string(b), -1) {
		keys[m[1]] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

func TestFence_TheChartRepositorySettingChangesWhatTheFenceAllows(t *testing.T) {
	ctx := t.Context()
	sa := installServiceAccount(t, "deploy")
	ns := newNamespace(t, "fence-params-")
	c := sa.client(t)
	cfg := sa.config(nil)
	defaults := defaultSettings(t)
	hooks := newHooks(t, cfg, defaults)
	create(t, managementcluster.NewCredentials(ns, defaults.DefaultCredentialsSecret, "admin", "not-a-real-password"))
	for _, name := range []string{"before", "after"} {
		if err := managementcluster.CreateCluster(ctx, admin, managementcluster.NewCluster(ns, name, clusterConfig)); err != nil {
			t.Fatal(err)
		}
	}

	// Written with the shipped setting; CAAPH's finalizer on it.
	callHook(t, hooks, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", types.NamespacedName{Namespace: ns, Name: "before"})).
		mustSucceed(t, "AfterControlPlaneInitialized with the shipped settings")
	before := &caaphv1.HelmChartProxy{}
	if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: konnector.ObjectName("before")}, before); err != nil {
		t.Fatal(err)
	}
	before.Finalizers = []string{caaphv1.HelmChartProxyFinalizer}
	if err := admin.Update(ctx, before); err != nil {
		t.Fatal(err)
	}

	// The operator moves the chart: one setting, in the settings ConfigMap.
	const moved = "https://charts.example.com/moved/"
	setSetting(t, sa, "KONNECTOR_CHART_REPOSITORY", moved)
	probe := newProxy(ns, konnector.ObjectName("probe"), "probe", konnector.Labels("probe"))
	waitUntil(t, "the fence allows the moved repository and refuses the shipped one", func() error {
		if err := c.Create(ctx, probe.DeepCopy(), client.DryRunAll); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `KONNECTOR_CHART_REPOSITORY is `+moved) {
			return fmt.Errorf("a HelmChartProxy from the shipped repository: %v", err)
		}
		movedProbe := probe.DeepCopy()
		movedProbe.Spec.RepoURL = moved
		return c.Create(ctx, movedProbe, client.DryRunAll)
	})

	// A function still running with the old setting writes nothing.
	stale := callHook(t, hooks, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", types.NamespacedName{Namespace: ns, Name: "after"}))
	if stale.Status != "Failure" || !strings.Contains(stale.Message, "KONNECTOR_CHART_REPOSITORY is "+moved) {
		t.Fatalf("AfterControlPlaneInitialized with the old setting answered %s: %s", stale.Status, stale.Message)
	}
	t.Logf("with the old setting: %s", stale.Message)
	// Restarted with the new setting, it writes the moved chart.
	movedSettings := defaults
	movedSettings.ChartRepository = moved
	callHook(t, newHooks(t, cfg, movedSettings), pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", types.NamespacedName{Namespace: ns, Name: "after"})).
		mustSucceed(t, "AfterControlPlaneInitialized with the moved repository")
	after := &caaphv1.HelmChartProxy{}
	if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: konnector.ObjectName("after")}, after); err != nil || after.Spec.RepoURL != moved {
		t.Fatalf("HelmChartProxy of after: repoURL %q, %v; want %s", after.Spec.RepoURL, err, moved)
	}

	// The proxy written before keeps its repository through a write that
	// leaves it (releasing CAAPH's finalizer), but cannot be moved to any
	// repository but the setting's.
	attacker := before.DeepCopy()
	attacker.Spec.RepoURL = "https://charts.attacker.example/stable/"
	was := snapshot(t, []client.Object{before})
	err := c.Patch(ctx, attacker, client.MergeFrom(before))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+sa.fence+"'") || !strings.Contains(err.Error(), "spec.repoURL is") {
		t.Fatalf("moving the earlier HelmChartProxy to another repository: %v, want Forbidden by the fence", err)
	}
	if now := snapshot(t, []client.Object{before}); now != was {
		t.Fatalf("the refused patch changed the server: %s, then %s", was, now)
	}
	released := before.DeepCopy()
	released.Finalizers = nil
	if err := c.Patch(ctx, released, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatalf("releasing CAAPH's finalizer of the HelmChartProxy written before the move: %v", err)
	}
}

// setSetting changes one key of the install's settings ConfigMap, as an
// operator would, and puts it back when the test ends, waiting until the
// fence reads the shipped settings again.
func setSetting(t *testing.T, sa serviceAccount, key, value string) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	key0 := types.NamespacedName{Namespace: sa.settings.GetNamespace(), Name: sa.settings.GetName()}
	if err := admin.Get(t.Context(), key0, cm); err != nil {
		t.Fatal(err)
	}
	shipped := cm.Data[key]
	patch := func(ctx context.Context, v string) error {
		current := &corev1.ConfigMap{}
		if err := admin.Get(ctx, key0, current); err != nil {
			return err
		}
		changed := current.DeepCopy()
		changed.Data[key] = v
		return admin.Patch(ctx, changed, client.MergeFrom(current))
	}
	if err := patch(t.Context(), value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := patch(ctx, shipped); err != nil {
			t.Fatal(err)
		}
		// newProxy writes the shipped chart settings.
		probe := newProxy(sa.subject.Namespace, konnector.ObjectName("probe"), "probe", konnector.Labels("probe"))
		c := sa.client(t)
		waitUntil(t, "the fence reads the shipped settings again", func() error {
			return c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		})
	})
}
