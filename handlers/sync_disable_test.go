package handlers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// syncedCluster creates a cluster with the addon in a served namespace,
// deploys it through a sync, and lets "CAAPH" adopt the HelmChartProxy and
// create its release.
func syncedCluster(t *testing.T, f *syncFixture, name string, opts ...clusterOption) (string, *clusterv1.Cluster) {
	t.Helper()
	ns := f.servedNamespace(t)
	cluster := createCluster(t, ns, name, configBasic, opts...)
	f.sync(t, "/sync/"+ns+"/"+name, plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	adoptByCAAPH(t, ns, name)
	return ns, cluster
}

func TestSync_DisableUninstallsThroughTheBeforeClusterDeleteSteps(t *testing.T) {
	f := newSyncFixture(t)
	ns, _ := syncedCluster(t, f, "c")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
	crs := &addonsv1.ClusterResourceSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	rs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}

	setClusterConfig(t, ns, "c", configNoAddon)
	step := func(outcome, says string) syncAnswer {
		t.Helper()
		a := f.sync(t, "/sync", pingBinary)
		got := a.outcomeOf(ns + "/c")
		t.Logf("sync answer for %s/c: %s: %s", ns, got.Outcome, got.Message)
		if got.Outcome != outcome || !strings.Contains(got.Message, says) {
			t.Fatalf("sync answered %s\nwant outcome %s with %q", a.Raw, outcome, says)
		}
		return a
	}

	step(outcomeUninstalling, "started Helm uninstall of konnector-agent: deleted HelmChartProxy "+ns+"/konnector-agent-c; waiting for CAAPH")
	if !exists(t, hcp) || hcp.DeletionTimestamp == nil {
		t.Fatal("the HelmChartProxy is not being deleted")
	}
	if !exists(t, crs) || !exists(t, rs) {
		t.Fatal("the credentials delivery went before the uninstall finished: the chart's pre-delete hook needs the credentials")
	}
	step(outcomeUninstalling, "waiting for Helm uninstall of konnector-agent: HelmChartProxy "+ns+"/konnector-agent-c, HelmReleaseProxy "+ns+"/konnector-agent-c-x7k2p still present")

	// CAAPH deletes the release proxy, runs helm uninstall, then lets both go.
	if err := mgmt.Client.Delete(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}
	dropFinalizers(t, hrp)
	dropFinalizers(t, hcp)

	last := step(outcomeUninstalled, "Konnector Agent uninstalled from Cluster "+ns+"/c")
	msg := last.outcomeOf(ns + "/c").Message
	for _, says := range []string{"deleted ClusterResourceSet " + ns + "/konnector-agent-c, Secret " + ns + "/konnector-agent-c", "The Secret ntnx-system/konnector-agent in the workload cluster still holds the Prism Central credentials", "kubectl --kubeconfig c.kubeconfig delete secret -n ntnx-system konnector-agent"} {
		if !strings.Contains(msg, says) {
			t.Errorf("the last answer should say %q: %q", says, msg)
		}
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 || exists(t, hcp) || exists(t, hrp) {
		t.Fatalf("objects left after the uninstall: %d of ours, HelmChartProxy %v, HelmReleaseProxy %v", n, exists(t, hcp), exists(t, hrp))
	}
	reasons := eventsFor(t, ns, "c")
	for _, want := range []string{reasonUninstallStarted, reasonRemoved} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s Event on the Cluster: %v", want, reasons)
		}
	}
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, NotEnabled: 1})
}

func TestSync_DisableTimesOutLikeBeforeClusterDelete(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newSyncFixture(t, withClock(func() time.Time { return clock() }))
	ns, _ := syncedCluster(t, f, "c")
	setClusterConfig(t, ns, "c", configNoAddon)
	if a := f.sync(t, "/sync", plainPOST); a.Counts.Uninstalling != 1 {
		t.Fatalf("first sync after disabling: %s", a.Raw)
	}
	// CAAPH never finishes: past KONNECTOR_UNINSTALL_TIMEOUT the finalizers go.
	clock = func() time.Time { return time.Now().Add(testSettings(t).UninstallTimeout + time.Minute) }
	a := f.sync(t, "/sync", plainPOST)
	got := a.outcomeOf(ns + "/c")
	if got.Outcome != outcomeUninstalled || !strings.Contains(got.Message, "did not finish within 5m0s") || !strings.Contains(got.Message, "may still be registered in Prism Central") || !strings.Contains(got.Message, "ntnx-system/konnector-agent") {
		t.Fatalf("answer after the timeout: %+v", got)
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d of our objects left after the timed-out uninstall", n)
	}
	if exists(t, &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}) {
		t.Fatal("the HelmReleaseProxy is still there after its finalizer was released")
	}
}

func TestSync_RacingBeforeClusterDeleteConverges(t *testing.T) {
	f := newSyncFixture(t)
	ns, cluster := syncedCluster(t, f, "c", withFinalizer)
	bcd := request(t, "before-cluster-delete.v1beta2.json", ns, "c")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}

	// CAPI deletes the Cluster and calls BeforeClusterDelete while syncs run.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if a := f.sync(t, "/sync", pingBinary); a.Counts.Failed != 0 {
				t.Errorf("a sync racing the deletion failed: %s", a.Raw)
			}
		})
	}
	wg.Go(func() {
		deleteCluster(t, cluster)
		call(t, f.router, pathBCD, bcd)
	})
	wg.Wait()

	// CAPI calls again until the answer says done; CAAPH does its part.
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("BeforeClusterDelete did not finish after 10 calls")
		}
		a := call(t, f.router, pathBCD, bcd)
		if a.Status != "Success" {
			t.Fatalf("BeforeClusterDelete: %s", a.Raw)
		}
		if *a.RetryAfterSeconds == 0 {
			break
		}
		if exists(t, hrp) {
			if hrp.DeletionTimestamp == nil {
				if err := mgmt.Client.Delete(context.Background(), hrp); err != nil {
					t.Fatal(err)
				}
			}
			dropFinalizers(t, hrp)
		}
		if exists(t, hcp) && hcp.DeletionTimestamp != nil {
			dropFinalizers(t, hcp)
		}
	}
	if exists(t, hcp) || exists(t, hrp) {
		t.Fatal("the HelmChartProxy or HelmReleaseProxy is back after BeforeClusterDelete finished")
	}
	a := f.sync(t, "/sync", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 1, LeftToHooks: 1})
	if exists(t, hcp) {
		t.Fatal("a sync after the deletion recreated the HelmChartProxy")
	}
}

// CAPI's ClusterResourceSet controller holds a deleted ClusterResourceSet
// with its finalizer for a moment: the sync after the uninstall must see it
// as gone, not uninstall (and report) again.
func TestSync_DisableReportsTheUninstallOnceWhileCAPIFinalizesTheClusterResourceSet(t *testing.T) {
	f := newSyncFixture(t)
	ns, _ := syncedCluster(t, f, "c")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
	crs := &addonsv1.ClusterResourceSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	if !exists(t, crs) {
		t.Fatal("no ClusterResourceSet after the sync")
	}
	crs.Finalizers = append(crs.Finalizers, addonsv1.ClusterResourceSetFinalizer)
	if err := mgmt.Client.Update(context.Background(), crs); err != nil {
		t.Fatal(err)
	}

	setClusterConfig(t, ns, "c", configNoAddon)
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, Uninstalling: 1})
	if err := mgmt.Client.Delete(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}
	dropFinalizers(t, hrp)
	dropFinalizers(t, hcp)
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, Uninstalled: 1})
	if !exists(t, crs) || crs.DeletionTimestamp == nil {
		t.Fatal("the ClusterResourceSet should still be finalizing, held by its finalizer")
	}

	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, NotEnabled: 1})
	removed := 0
	for _, r := range eventsFor(t, ns, "c") {
		if r == reasonRemoved {
			removed++
		}
	}
	if removed != 1 {
		t.Fatalf("%d %s Events, want one", removed, reasonRemoved)
	}
	dropFinalizers(t, crs)
}
