package handlers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// caaphReports writes the HelmReleaseProxy of a Cluster's HelmChartProxy as
// CAAPH v0.5.3 leaves it once it has acted on its spec: the labels and
// spec of constructHelmReleaseProxy (controllers/helmchartproxy), and the
// status of reconcileNormal (controllers/helmreleaseproxy): Helm's status
// and revision, HelmReleaseReady True, or False with reason
// HelmInstallOrUpgradeFailed and Helm's error, observedGeneration. CAAPH
// does not run in this package's API server; make e2e runs the real one.
// version is the chart version CAAPH copied from our HelmChartProxy.
func caaphReports(t testing.TB, namespace, cluster, version string, failure string) {
	t.Helper()
	ctx := context.Background()
	name := konnector.ObjectName(cluster) + "-x7k2p"
	hrp := &caaphv1.HelmReleaseProxy{}
	err := mgmt.Client.Get(ctx, key(namespace, name), hrp)
	if err != nil {
		hrp = &caaphv1.HelmReleaseProxy{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
				clusterv1.ClusterNameLabel: cluster, caaphv1.HelmChartProxyLabelName: konnector.ObjectName(cluster),
			}},
			Spec: caaphv1.HelmReleaseProxySpec{
				ClusterRef: corev1.ObjectReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Namespace: namespace, Name: cluster},
				ChartName:  "konnector-agent", RepoURL: "https://mesosphere.github.io/charts/stable/", ReleaseName: "konnector-agent", ReleaseNamespace: "ntnx-system",
				Version: version,
			},
		}
		if err := mgmt.Client.Create(ctx, hrp); err != nil {
			t.Fatal(err)
		}
	} else if hrp.Spec.Version != version {
		hrp.Spec.Version = version
		if err := mgmt.Client.Update(ctx, hrp); err != nil {
			t.Fatal(err)
		}
	}
	ready := metav1.Condition{Type: caaphv1.HelmReleaseReadyCondition, Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.Now()}
	hrp.Status.Status, hrp.Status.Revision = "deployed", hrp.Status.Revision+1
	if failure != "" {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, caaphv1.HelmInstallOrUpgradeFailedReason, failure
		hrp.Status.Status = "failed"
	}
	meta.SetStatusCondition(&hrp.Status.Conditions, ready)
	hrp.Status.ObservedGeneration = hrp.Generation
	if err := mgmt.Client.Status().Update(ctx, hrp); err != nil {
		t.Fatal(err)
	}
}

// chartOf is the chart version a Cluster's HelmChartProxy holds.
func chartOf(t testing.TB, namespace, cluster string) string {
	t.Helper()
	hcp := &caaphv1.HelmChartProxy{}
	if err := mgmt.Client.Get(context.Background(), key(namespace, konnector.ObjectName(cluster)), hcp); err != nil {
		t.Fatal(err)
	}
	return hcp.Spec.Version
}

// eventCount is the count of our Event of reason on a Cluster, 0 when none.
func eventCount(t testing.TB, namespace, cluster, reason string) int32 {
	t.Helper()
	var n int32
	for _, e := range clusterEvents(t, namespace, cluster) {
		if e.Reason == reason {
			n += max(e.Count, 1)
		}
	}
	return n
}

const notFound = `failed to install chart: chart "konnector-agent" version "9.9.9" not found in https://mesosphere.github.io/charts/stable/ repository`

func TestSync_ReportsAFailedInstallWhileItLastsAndTheInstalledReleaseOnce(t *testing.T) {
	counter := &requestCounter{}
	f := newSyncFixture(t, withCounter(counter))
	ns := f.servedNamespace(t)
	createCluster(t, ns, "a", configBasic)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})

	// CAAPH has not created its HelmReleaseProxy yet: pending, nothing said.
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})

	version := chartOf(t, ns, "a")
	caaphReports(t, ns, "a", version, notFound)
	for i := range 2 {
		a := f.sync(t, "/sync", plainPOST)
		a.mustCount(t, SyncCounts{Checked: 1, InstallFailed: 1})
		got := a.outcomeOf(ns + "/a")
		if a.Status != "Success" || got.Outcome != konnector.OutcomeInstallFailed || !strings.Contains(got.Message, `version "9.9.9" not found`) ||
			!strings.Contains(a.Message, "the agent failed to install on some") {
			t.Fatalf("sync %d: want installFailed with CAAPH's message:\n%s", i+1, a.Raw)
		}
		if n := eventCount(t, ns, "a", konnector.ReasonInstallFailed); n != int32(i+1) {
			t.Fatalf("sync %d: KonnectorAgentInstallFailed counted %d times, want %d", i+1, n, i+1)
		}
	}

	caaphReports(t, ns, "a", version, "")
	counter.take()
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})
	var writes []string
	for _, c := range counter.take() {
		if !strings.HasPrefix(c, "GET ") {
			writes = append(writes, c)
		}
	}
	if want := []string{"POST /api/v1/namespaces/" + ns + "/events", "PATCH /apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/" + ns + "/helmchartproxies/konnector-agent-a"}; !slices.Equal(writes, want) {
		t.Fatalf("writes once deployed: %v, want the Event and the mark on the HelmChartProxy: %v", writes, want)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})
	if n := eventCount(t, ns, "a", konnector.ReasonInstalled); n != 1 {
		t.Fatalf("KonnectorAgentInstalled recorded %d times over two syncs, want once", n)
	}
	for _, c := range counter.take() {
		if !strings.HasPrefix(c, "GET ") {
			t.Fatalf("a sync after the installed release was said writes %s", c)
		}
	}
}

func TestSync_RolloutMovesABatchPerSyncOldestFirstAndPausesOnAFailedInstall(t *testing.T) {
	const oldVersion, newVersion = "1.3.0-rc.0", "1.4.1"
	f := newSyncFixture(t, withSettings(func(s *settings.Settings) { s.ChartVersion, s.RolloutBatch = oldVersion, 2 }))
	ns := f.servedNamespace(t)
	clusters := []string{"a", "b", "c", "d", "e"}
	for _, name := range clusters {
		createCluster(t, ns, name, configBasic)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 5, Applied: 5})
	// CAAPH installs e's agent only once the rollout holds it.
	for _, name := range clusters[:4] {
		caaphReports(t, ns, name, oldVersion, "")
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 5, UpToDate: 5})

	// The operator changes the chart version: Sync is the same function
	// with the new settings, as a new revision of its Service.
	upgraded := func(batch int) *syncFixture {
		return &syncFixture{extensionConfig: f.extensionConfig, router: newServer(t, withSettings(func(s *settings.Settings) {
			s.ExtensionConfig, s.ChartVersion, s.RolloutBatch = f.extensionConfig, newVersion, batch
		}))}
	}
	g := upgraded(2)
	versions := func() []string {
		var v []string
		for _, name := range clusters {
			v = append(v, chartOf(t, ns, name))
		}
		return v
	}
	a := g.sync(t, "/sync", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 5, Applied: 2, RolloutHeld: 3})
	if a.Rollout == nil || !slices.Equal(a.Rollout.Moved, []string{ns + "/a", ns + "/b"}) || a.Rollout.Held != 3 || a.Rollout.Paused ||
		!strings.Contains(a.Message, "2 Clusters moved by this sync (KONNECTOR_ROLLOUT_BATCH=2), 3 wait") {
		t.Fatalf("first batch: %s", a.Raw)
	}
	if got := versions(); !slices.Equal(got, []string{newVersion, newVersion, oldVersion, oldVersion, oldVersion}) {
		t.Fatalf("chart versions after one batch: %v", got)
	}

	// CAAPH fails to upgrade one moved Cluster: nothing more moves, but a
	// credentials rotation and a new Cluster still go through.
	caaphReports(t, ns, "a", newVersion, notFound)
	caaphReports(t, ns, "b", newVersion, "")
	caaphReports(t, ns, "e", oldVersion, "")
	rotateDefaultSecret(t, ns)
	createCluster(t, ns, "f", configBasic)
	a = g.sync(t, "/sync", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 6, Applied: 2, InstallFailed: 1, RolloutHeld: 3, UpToDate: 0})
	if a.Rollout == nil || !a.Rollout.Paused || !slices.Equal(a.Rollout.PausedBy, []string{ns + "/a"}) || len(a.Rollout.Moved) != 0 ||
		!strings.Contains(a.Message, "the rollout of a HelmChartProxy change is paused: the agent failed to install on "+ns+"/a") {
		t.Fatalf("paused: %s", a.Raw)
	}
	if got := versions(); !slices.Equal(got, []string{newVersion, newVersion, oldVersion, oldVersion, oldVersion}) {
		t.Fatalf("chart versions while paused: %v", got)
	}
	if chartOf(t, ns, "f") != newVersion {
		t.Fatal("a new Cluster waits for a paused rollout")
	}
	if n := eventCount(t, ns, "e", konnector.ReasonInstalled); n != 1 {
		t.Fatalf("the release CAAPH installed on a held Cluster, at its previous chart version: %d KonnectorAgentInstalled Events, want 1", n)
	}
	for _, name := range []string{"c", "d", "e"} {
		if resourceSetPassword(t, ns, name) != rotatedPassword {
			t.Fatalf("the rotated password did not reach held Cluster %s", name)
		}
	}

	// The install recovers: the rollout resumes with the next batch.
	caaphReports(t, ns, "a", newVersion, "")
	// c, d and e were each written once, in the first sync: the two of the
	// oldest writes move, the name breaking a tie of the same second
	// (managedFields' resolution), so which two depends on the clock.
	written := map[string]time.Time{}
	for _, name := range []string{"c", "d", "e"} {
		h := &caaphv1.HelmChartProxy{}
		if err := mgmt.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: konnector.ObjectName(name)}, h); err != nil {
			t.Fatal(err)
		}
		written[name] = konnector.LastApplied(h.ManagedFields)
	}
	a = g.sync(t, "/sync", plainPOST)
	if a.Rollout == nil || len(a.Rollout.Moved) != 2 || a.Rollout.Held != 1 {
		t.Fatalf("resumed: %s", a.Raw)
	}
	for _, moved := range a.Rollout.Moved {
		for _, left := range []string{"c", "d", "e"} {
			if slices.Contains(a.Rollout.Moved, ns+"/"+left) {
				continue
			}
			m := strings.TrimPrefix(moved, ns+"/")
			if w := written[m]; w.After(written[left]) || (w.Equal(written[left]) && m > left) {
				t.Fatalf("resumed: moved %s (written %s) before %s (written %s): %s", m, w, left, written[left], a.Raw)
			}
		}
	}
	// Batch 0: the rest at once.
	a = upgraded(0).sync(t, "/sync", plainPOST)
	if a.Rollout != nil || !slices.Equal(versions(), []string{newVersion, newVersion, newVersion, newVersion, newVersion}) {
		t.Fatalf("batch 0: %v\n%s", versions(), a.Raw)
	}
	if n := eventCount(t, ns, "a", konnector.ReasonInstallFailed); n != 1 {
		t.Fatalf("KonnectorAgentInstallFailed on the paused-by Cluster: %d, want 1", n)
	}
}
