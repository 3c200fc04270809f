package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// syncAnswer is the part of a Sync answer these tests check.
type syncAnswer struct {
	Status   string `json:"status"`
	Message  string `json:"message"`
	Clusters []struct {
		Cluster, Outcome, Message string
	} `json:"clusters"`
}

// callSync sends POST /sync as a PingSource does in binary mode; any HTTP
// status but 200 fails the test.
func callSync(t testing.TB, h http.Handler) syncAnswer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/sync", strings.NewReader(`{"trigger":"schedule"}`))
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Id", "rbac-sync")
	r.Header.Set("Ce-Type", "dev.knative.sources.ping")
	r.Header.Set("Ce-Source", "/apis/v1/namespaces/konnector-hooks/pingsources/konnector-hooks-sync")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var a syncAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusOK {
		t.Fatalf("POST /sync: HTTP %d, %v\n%s", w.Code, err, w.Body)
	}
	return a
}

// outcome is the one listed Cluster's outcome; "" when none is listed.
func (a syncAnswer) outcome(t testing.TB, step string) string {
	t.Helper()
	t.Logf("%s: %s: %s", step, a.Status, a.Message)
	switch len(a.Clusters) {
	case 0:
		return ""
	case 1:
		t.Logf("  %s %s: %s", a.Clusters[0].Cluster, a.Clusters[0].Outcome, a.Clusters[0].Message)
		return a.Clusters[0].Outcome
	}
	t.Fatalf("%s: %d clusters listed, want at most 1: %+v", step, len(a.Clusters), a.Clusters)
	return ""
}

// syncFlows runs Sync as the ServiceAccount through what it does between
// the hooks: install on a running cluster, nothing to change, and the
// uninstall of a disabled addon down to the credentials delivery. Cluster-
// wide, the ExtensionConfig is one of the flow's own, selecting only its
// namespace; in a namespaced install (namespaces set), Sync serves the
// install's namespaces through KONNECTOR_SYNC_NAMESPACES, as
// deploy/namespaced sets it, and the flow runs in the first of them.
func syncFlows(t *testing.T, cfg *rest.Config, defaults settings.Settings, namespaces []string) {
	ctx := t.Context()
	s := defaults
	var ns string
	if len(namespaces) > 0 {
		ns = namespaces[0]
		s.SyncNamespaces = namespaces
	} else {
		ns = newNamespace(t, "rbac-sync-")
		ec := &runtimev1.ExtensionConfig{
			ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: runtimev1.ExtensionConfigSpec{
				ClientConfig:      runtimev1.ClientConfig{URL: "https://konnector-hooks.konnector-hooks.svc.cluster.local"},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			},
		}
		createWithScheme(t, ec)
		s.ExtensionConfig = ec.Name
	}
	hooks := newHooks(t, cfg, s)

	const name = "synced-cluster"
	if len(namespaces) == 0 {
		create(t, managementcluster.NewCredentials(ns, defaults.DefaultCredentialsSecret, "admin", "not-a-real-password"))
	}
	cluster := managementcluster.NewCluster(ns, name, clusterConfig)
	if err := managementcluster.CreateCluster(ctx, admin, cluster); err != nil {
		t.Fatal(err)
	}
	if got := callSync(t, hooks).outcome(t, "Sync of a cluster created before the install"); got != "applied" {
		t.Fatalf("outcome %q, want applied", got)
	}
	if got := callSync(t, hooks).outcome(t, "Sync with nothing to change"); got != "" {
		t.Fatalf("outcome %q listed, want none", got)
	}

	// CAAPH adopts the HelmChartProxy and makes its release proxy; then the
	// user disables the addon.
	proxyKey := types.NamespacedName{Namespace: ns, Name: konnector.ObjectName(name)}
	hcp := &caaphv1.HelmChartProxy{}
	if err := admin.Get(ctx, proxyKey, hcp); err != nil {
		t.Fatal(err)
	}
	hcp.Finalizers = append(hcp.Finalizers, caaphv1.HelmChartProxyFinalizer)
	if err := admin.Update(ctx, hcp); err != nil {
		t.Fatal(err)
	}
	release := newReleaseProxy(ns, name, hcp.Name)
	create(t, release)
	disabled := fmt.Sprintf(`{"spec":{"topology":{"variables":[{"name":"clusterConfig","value":%s}]}}}`, `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}}}`)
	if err := admin.Patch(ctx, cluster, client.RawPatch(types.MergePatchType, []byte(disabled))); err != nil {
		t.Fatal(err)
	}
	if got := callSync(t, hooks).outcome(t, "Sync after disabling the addon"); got != "uninstalling" {
		t.Fatalf("outcome %q, want uninstalling", got)
	}
	if err := admin.Delete(ctx, release); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{release, hcp} {
		if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		releaseFinalizers(t, obj)
	}
	if got := callSync(t, hooks).outcome(t, "Sync once CAAPH uninstalled the release"); got != "uninstalled" {
		t.Fatalf("outcome %q, want uninstalled", got)
	}
	for _, obj := range []client.Object{&addonsv1.ClusterResourceSet{}, &corev1.Secret{}} {
		if err := admin.Get(ctx, proxyKey, obj); !apierrors.IsNotFound(err) {
			t.Fatalf("after the uninstall, %T %s should be gone: %v", obj, proxyKey, err)
		}
	}
}

// clusterScopedSyncGrants are the grants only a cluster-wide Sync uses: it
// reads the ExtensionConfig and lists the Namespaces it selects. A
// RoleBinding cannot grant cluster-scoped reads, so in a namespaced install
// Sync serves KONNECTOR_SYNC_NAMESPACES instead and the flows are checked
// without these.
var clusterScopedSyncGrants = map[access]bool{
	{"runtime.cluster.x-k8s.io", "extensionconfigs", "get"}: true,
	{"", "namespaces", "list"}:                              true,
}

// withoutGrants returns the rules less the given verbs.
func withoutGrants(rules []rbacv1.PolicyRule, syncGrants map[access]bool) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		kept := r.DeepCopy()
		kept.Verbs = nil
		for _, v := range r.Verbs {
			drop := true
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					drop = drop && syncGrants[access{g, res, v}]
				}
			}
			if !drop {
				kept.Verbs = append(kept.Verbs, v)
			}
		}
		if len(kept.Verbs) > 0 {
			out = append(out, *kept)
		}
	}
	return out
}

// createWithScheme creates an object of a kind kube.Scheme holds.
func createWithScheme(t testing.TB, obj client.Object) {
	t.Helper()
	if err := admin.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}
