package manifests

import (
	"context"
	"fmt"
	"github.com/konnector-hooks/konnector-hooks/addon"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/hookcall"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// clusterConfig enables the addon on a Nutanix cluster, as the seed's
// examples do.
const clusterConfig = `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`

// holdFinalizer keeps a deleted test Cluster on the API server, deleting, as
// CAPI's own finalizer would while BeforeClusterDelete runs.
const holdFinalizer = "test.konnector-hooks.io/hold"

// clusterConfigMissingSecret names a credentials Secret that never exists.
const clusterConfigMissingSecret = `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"never-created"}}}}}`

// Paths CAPI calls, as discovery announces them.
const (
	pathACPI = hookcall.PathACPI
	pathBCU  = hookcall.PathBCU
	pathBCD  = hookcall.PathBCD
)

func TestRBAC_HookFlowsPassAsTheServiceAccount(t *testing.T) {
	sa := installServiceAccount(t, "deploy")
	runHookFlows(t, sa, newNamespace(t, "rbac-flows-"), "agent-cluster")
}

// runHookFlows takes a Cluster named name in namespace ns through every hook
// flow, calling the hooks as the ServiceAccount, and checks that no request
// was refused (by RBAC or by the admission fence) and no grant went unused.
func runHookFlows(t *testing.T, sa serviceAccount, ns, name string) {
	ctx := t.Context()
	log := &requestLog{}
	cfg := sa.config(log)
	defaults := defaultSettings(t)
	hooks := newHooks(t, cfg, defaults)
	// Refused requests are reported even when a flow fails; unused grants
	// only when every flow ran.
	completed := false
	defer func() { checkLeastPrivilege(t, sa, log.all(), completed) }()

	key := types.NamespacedName{Namespace: ns, Name: name}
	proxyKey := types.NamespacedName{Namespace: ns, Name: konnector.ObjectName(name)}
	create(t, managementcluster.NewCredentials(ns, defaults.DefaultCredentialsSecret, "admin", "not-a-real-password"))
	cluster := managementcluster.NewCluster(ns, name, clusterConfig)
	cluster.Finalizers = []string{holdFinalizer}
	if err := managementcluster.CreateCluster(ctx, admin, cluster); err != nil {
		t.Fatal(err)
	}

	// A Cluster whose credentials Secret is missing: both hooks answer
	// Success and record one Warning Event, counted twice (read and
	// patched the second time).
	missing := types.NamespacedName{Namespace: ns, Name: name + "-no-secret"}
	if err := managementcluster.CreateCluster(ctx, admin, managementcluster.NewCluster(ns, missing.Name, clusterConfigMissingSecret)); err != nil {
		t.Fatal(err)
	}
	callHook(t, hooks, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", missing)).mustSucceed(t, "AfterControlPlaneInitialized without the credentials Secret")
	callHook(t, hooks, pathBCU, request(t, "before-cluster-upgrade.v1beta2.json", missing)).mustSucceed(t, "BeforeClusterUpgrade without the credentials Secret")
	var events corev1.EventList
	if err := admin.List(ctx, &events, client.InNamespace(ns), client.MatchingFields{"involvedObject.name": missing.Name}); err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 1 || events.Items[0].Reason != "KonnectorAgentNotDeployed" || events.Items[0].Count != 2 {
		t.Fatalf("Events on Cluster %s: %+v, want one KonnectorAgentNotDeployed counted twice", missing, events.Items)
	}
	if err := admin.Delete(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: missing.Name}}); err != nil {
		t.Fatal(err)
	}

	// AfterControlPlaneInitialized writes the HelmChartProxy, the
	// ClusterResourceSet and its Secret.
	answer := callHook(t, hooks, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", key))
	answer.mustSucceed(t, "AfterControlPlaneInitialized on a new cluster")
	hcp := &caaphv1.HelmChartProxy{}
	for _, obj := range []client.Object{hcp, &addonsv1.ClusterResourceSet{}, &corev1.Secret{}} {
		if err := admin.Get(ctx, proxyKey, obj); err != nil {
			t.Fatalf("after AfterControlPlaneInitialized: %T %s: %v", obj, proxyKey, err)
		}
	}
	if hcp.Spec.Version != defaults.ChartVersion {
		t.Fatalf("HelmChartProxy %s installs chart version %q, want %q", proxyKey, hcp.Spec.Version, defaults.ChartVersion)
	}

	// The preview (konnector-hooks render), run with the function's rights,
	// reads only what the hooks read.
	preview := addon.New(defaults, kube.NewOpener(func() (*rest.Config, error) { return cfg, nil }), slog.New(slog.NewJSONHandler(t.Output(), nil)), time.Now)
	if _, err := preview.Render(ctx, ns+"/"+name); err != nil {
		t.Fatalf("render %s: %v", key, err)
	}

	// BeforeClusterUpgrade after the operator changed the chart version.
	upgraded := defaults
	upgraded.ChartVersion = "1.4.0"
	answer = callHook(t, newHooks(t, cfg, upgraded), pathBCU, request(t, "before-cluster-upgrade.v1beta1.json", key))
	answer.mustSucceed(t, "BeforeClusterUpgrade with a new chart version")
	if err := admin.Get(ctx, proxyKey, hcp); err != nil {
		t.Fatal(err)
	}
	if hcp.Spec.Version != upgraded.ChartVersion {
		t.Fatalf("after BeforeClusterUpgrade, HelmChartProxy %s installs chart version %q, want %q", proxyKey, hcp.Spec.Version, upgraded.ChartVersion)
	}

	// CAAPH's part, done as an administrator: its finalizer on the
	// HelmChartProxy and the HelmReleaseProxy it made from it.
	hcp.Finalizers = append(hcp.Finalizers, caaphv1.HelmChartProxyFinalizer)
	if err := admin.Update(ctx, hcp); err != nil {
		t.Fatal(err)
	}
	release := newReleaseProxy(ns, name, hcp.Name)
	create(t, release)

	// CAPI deletes the Cluster; its finalizer keeps it, deleting, while
	// BeforeClusterDelete runs.
	if err := admin.Delete(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	deleteRequest := request(t, "before-cluster-delete.v1beta2.json", key)

	answer = callHook(t, hooks, pathBCD, deleteRequest)
	answer.mustSucceed(t, "BeforeClusterDelete, first call")
	answer.mustRetryAfter(t, defaults.RetryAfterSeconds())
	if err := admin.Get(ctx, proxyKey, hcp); err != nil || hcp.DeletionTimestamp == nil {
		t.Fatalf("after the first BeforeClusterDelete, HelmChartProxy %s should be deleting (CAAPH's finalizer holds it): %v, deletionTimestamp %v", proxyKey, err, hcp.DeletionTimestamp)
	}
	// CAAPH deletes the HelmReleaseProxy; its finalizer holds it while the
	// Helm uninstall runs.
	if err := admin.Delete(ctx, release); err != nil {
		t.Fatal(err)
	}

	answer = callHook(t, hooks, pathBCD, deleteRequest)
	answer.mustSucceed(t, "BeforeClusterDelete while CAAPH uninstalls")
	answer.mustRetryAfter(t, defaults.RetryAfterSeconds())
	if !strings.Contains(answer.Message, release.Name) {
		t.Errorf("the waiting answer should name HelmReleaseProxy %s: %q", release.Name, answer.Message)
	}

	// The uninstall times out: once the clock is past the timeout after the
	// HelmChartProxy's deletionTimestamp, the hooks release CAAPH's
	// finalizers (the Cluster is deleting). The shortest timeout the
	// settings accept, so that the test waits only that long.
	timedOut := defaults
	timedOut.UninstallTimeout = time.Second
	time.Sleep(time.Until(hcp.DeletionTimestamp.Add(timedOut.UninstallTimeout + time.Second)))
	answer = callHook(t, newHooks(t, cfg, timedOut), pathBCD, deleteRequest)
	answer.mustSucceed(t, "BeforeClusterDelete after the uninstall timeout")
	answer.mustRetryAfter(t, 0)
	if err := admin.Get(ctx, proxyKey, &caaphv1.HelmChartProxy{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the uninstall timed out, HelmChartProxy %s should be gone: %v", proxyKey, err)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(release), &caaphv1.HelmReleaseProxy{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the uninstall timed out, HelmReleaseProxy %s should be gone: %v", release.Name, err)
	}

	answer = callHook(t, hooks, pathBCD, deleteRequest)
	answer.mustSucceed(t, "BeforeClusterDelete once the addon is gone")
	answer.mustRetryAfter(t, 0)

	// A HelmReleaseProxy left behind by a HelmChartProxy that is gone is
	// deleted by the hooks themselves.
	orphan := newReleaseProxy(ns, name, hcp.Name)
	orphan.Name = "konnector-agent-orphan"
	create(t, orphan)
	answer = callHook(t, hooks, pathBCD, deleteRequest)
	answer.mustSucceed(t, "BeforeClusterDelete with an orphaned HelmReleaseProxy")
	answer.mustRetryAfter(t, defaults.RetryAfterSeconds())
	if err := admin.Get(ctx, client.ObjectKeyFromObject(orphan), orphan); err != nil || orphan.DeletionTimestamp == nil {
		t.Fatalf("HelmReleaseProxy %s should be deleting: %v", orphan.Name, err)
	}
	releaseFinalizers(t, orphan)
	syncFlows(t, cfg, defaults, sa.namespaces)
	if len(sa.namespaces) > 0 {
		sa.rules = withoutGrants(sa.rules, clusterScopedSyncGrants)
	}
	completed = true
}

// checkLeastPrivilege fails for every request the ServiceAccount was refused
// (a refused Event is only logged by the hooks, so the answers alone would
// not show it) and, when all flows ran, for every verb it is granted that no
// request used.
func checkLeastPrivilege(t *testing.T, sa serviceAccount, requests []apiRequest, allFlowsRan bool) {
	t.Helper()
	used := map[access]bool{}
	for _, r := range requests {
		if !r.authorized() {
			t.Errorf("the ServiceAccount was refused %s, which needs %v: %s", r, r.needs, r.refusal)
			continue
		}
		for _, a := range r.needs {
			used[a] = true
		}
	}
	for _, g := range grants(t, sa.rules) {
		if allFlowsRan && !used[g] {
			t.Errorf("the ClusterRole grants %s but no hook flow used it: remove it, or add the flow that needs it to this test", g)
		}
	}
	var summary []string
	for a := range used {
		summary = append(summary, a.String())
	}
	slices.Sort(summary)
	t.Logf("%d API requests as %s; access used: %s", len(requests), sa.user, strings.Join(summary, ", "))
}

func TestRBAC_ServiceAccountIsRefusedWhatTheHooksNeverDo(t *testing.T) {
	ctx := t.Context()
	sa := installServiceAccount(t, "deploy")
	c := sa.client(t)

	ns := newNamespace(t, "rbac-refused-")
	const name = "refused-cluster"
	cluster := managementcluster.NewCluster(ns, name, clusterConfig)
	if err := managementcluster.CreateCluster(ctx, admin, cluster); err != nil {
		t.Fatal(err)
	}
	secret := managementcluster.NewCredentials(ns, "prism-central-credentials-for-konnector-agent", "admin", "not-a-real-password")
	create(t, secret)
	hcp := &caaphv1.HelmChartProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: konnector.ObjectName(name)},
		Spec: caaphv1.HelmChartProxySpec{
			ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: name}},
			ChartName:       "konnector-agent",
			RepoURL:         "https://mesosphere.github.io/charts/stable/",
		},
	}
	create(t, hcp)
	configMap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}}
	create(t, configMap)

	refused := []struct {
		what string
		do   func(context.Context) error
	}{
		{"delete a Cluster", func(ctx context.Context) error { return c.Delete(ctx, cluster.DeepCopy()) }},
		{"create a Cluster", func(ctx context.Context) error {
			return c.Create(ctx, managementcluster.NewCluster(ns, "another-cluster", clusterConfig))
		}},
		{"patch a Cluster", func(ctx context.Context) error {
			patched := cluster.DeepCopy()
			patched.Labels["konnector-hooks-test"] = "patched"
			return c.Patch(ctx, patched, client.MergeFrom(cluster))
		}},
		{"label a Namespace", func(ctx context.Context) error {
			return c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"konnector-hooks-test":"patched"}}}`)))
		}},
		{"update a Secret", func(ctx context.Context) error { return c.Update(ctx, secret.DeepCopy()) }},
		{"delete all Secrets of a namespace", func(ctx context.Context) error {
			return c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns))
		}},
		{"update a HelmChartProxy", func(ctx context.Context) error {
			updated := hcp.DeepCopy()
			updated.Spec.Version = "9.9.9"
			return c.Update(ctx, updated)
		}},
		{"create a HelmReleaseProxy", func(ctx context.Context) error { return c.Create(ctx, newReleaseProxy(ns, name, hcp.Name)) }},
		{"delete the namespace", func(ctx context.Context) error {
			return c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}},
		{"read a ConfigMap", func(ctx context.Context) error {
			return c.Get(ctx, client.ObjectKeyFromObject(configMap), &corev1.ConfigMap{})
		}},
	}
	for _, r := range refused {
		if err := r.do(ctx); !apierrors.IsForbidden(err) {
			t.Errorf("%s as %s: got %v, want Forbidden: the ClusterRole grants more than the hooks need", r.what, sa.user, err)
		}
	}
}

// defaultSettings are the function's defaults, as it reads them with no
// KONNECTOR_* variable set.
func defaultSettings(t testing.TB) settings.Settings {
	t.Helper()
	for _, env := range os.Environ() {
		if name, _, _ := strings.Cut(env, "="); strings.HasPrefix(name, settings.Prefix+"_") {
			t.Setenv(name, "")
			_ = os.Unsetenv(name)
		}
	}
	s, err := settings.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newHooks returns the function's router, built as function.go builds it,
// with a management-cluster client that uses cfg.
func newHooks(t testing.TB, cfg *rest.Config, s settings.Settings) http.Handler {
	return newServer(t, cfg, s).Router()
}

func newServer(t testing.TB, cfg *rest.Config, s settings.Settings) *handlers.Server {
	opener := kube.NewOpener(func() (*rest.Config, error) { return cfg, nil })
	return handlers.New(s, opener, slog.New(slog.NewJSONHandler(t.Output(), nil)))
}

// hookAnswer is a decoded hook response.
type hookAnswer struct{ hookcall.Answer }

// callHook sends body the way CAPI's runtime client does (hookcall.Post,
// with ?timeout=10s); any HTTP status but 200 fails the test.
func callHook(t testing.TB, h http.Handler, path string, body []byte) hookAnswer {
	t.Helper()
	a := hookcall.Post(t, h, path, "10s", body)
	if a.HTTPStatus != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d\n%s", path, a.HTTPStatus, a.Raw)
	}
	return hookAnswer{a}
}

func (a hookAnswer) mustSucceed(t testing.TB, call string) {
	t.Helper()
	retry := "none"
	if a.RetryAfterSeconds != nil {
		retry = fmt.Sprint(*a.RetryAfterSeconds)
	}
	t.Logf("%s: %s (retryAfterSeconds %s): %s", call, a.Status, retry, a.Message)
	if a.Status != "Success" {
		t.Fatalf("%s answered %s, want Success: %s", call, a.Status, a.Message)
	}
}

func (a hookAnswer) mustRetryAfter(t testing.TB, seconds int32) {
	t.Helper()
	if a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != seconds {
		t.Fatalf("retryAfterSeconds %v, want %d: %s", a.RetryAfterSeconds, seconds, a.Message)
	}
}

// request loads a sample request of test/testdata and points it at cluster.
func request(t testing.TB, file string, cluster types.NamespacedName) []byte {
	t.Helper()
	return hookcall.Request(t, filepath.Join(repoRoot, "test", "testdata"), file, cluster.Namespace, cluster.Name)
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	create(t, ns)
	return ns.Name
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := admin.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, objectName(obj), err)
	}
}

// newReleaseProxy returns a HelmReleaseProxy as CAAPH makes it from a
// HelmChartProxy for a cluster: labelled with both, with CAAPH's finalizer.
func newReleaseProxy(namespace, cluster, proxy string) *caaphv1.HelmReleaseProxy {
	return &caaphv1.HelmReleaseProxy{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      "konnector-agent-" + cluster + "-release",
			Labels: map[string]string{
				clusterv1.ClusterNameLabel:      cluster,
				caaphv1.HelmChartProxyLabelName: proxy,
			},
			Finalizers: []string{caaphv1.HelmReleaseProxyFinalizer},
		},
		Spec: caaphv1.HelmReleaseProxySpec{
			ClusterRef: corev1.ObjectReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Namespace: namespace, Name: cluster},
			ChartName:  "konnector-agent",
			RepoURL:    "https://mesosphere.github.io/charts/stable/",
		},
	}
}

// releaseFinalizers lets a test object go, as its controller would.
func releaseFinalizers(t testing.TB, obj client.Object) {
	t.Helper()
	obj.SetFinalizers(nil)
	if err := admin.Update(t.Context(), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
