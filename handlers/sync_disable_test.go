package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
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
	step := func(outcome konnector.Outcome, says string) syncAnswer {
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
	for _, want := range []string{konnector.ReasonUninstallStarted, konnector.ReasonRemoved} {
		if !slices.Contains(reasons, want) {
			t.Errorf("no %s Event on the Cluster: %v", want, reasons)
		}
	}
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, NotEnabled: 1})
}

// On a Cluster that is not being deleted, nothing removes CAAPH's
// finalizers: past the timeout the uninstall is reported stuck with CAAPH's
// reason, the credentials delivery stays for the chart's hooks, and the next
// sync after CAAPH succeeds completes the uninstall.
func TestSync_DisableNeverForcesALiveClusterAndReportsTheUninstallStuck(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newSyncFixture(t, withClock(func() time.Time { return clock() }))
	ns, _ := syncedCluster(t, f, "c")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
	setClusterConfig(t, ns, "c", configNoAddon)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Uninstalling: 1})

	// CAAPH deletes the release proxy, and helm uninstall fails on the
	// chart's pre-delete hook, as CAAPH reports it.
	if err := mgmt.Client.Delete(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}
	if !exists(t, hrp) {
		t.Fatal("the HelmReleaseProxy went without CAAPH")
	}
	hrp.Status.Conditions = []metav1.Condition{{Type: caaphv1.HelmReleaseReadyCondition, Status: metav1.ConditionFalse, Reason: caaphv1.HelmReleaseDeletionFailedReason,
		Message: "pre-delete hook hook-predelete failed: pod hook-predelete failed", LastTransitionTime: metav1.Now()}}
	if err := mgmt.Client.Status().Update(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}

	clock = func() time.Time { return time.Now().Add(testSettings(t).UninstallTimeout + time.Minute) }
	for range 3 {
		a := f.sync(t, "/sync", plainPOST)
		a.mustCount(t, SyncCounts{Checked: 1, UninstallStuck: 1})
		got := a.outcomeOf(ns + "/c")
		for _, says := range []string{"has not finished within 5m0s", "HelmReleaseDeletionFailed: pre-delete hook hook-predelete failed", "Nothing is forced", "Make Prism Central reachable", "uninstall the release by hand"} {
			if !strings.Contains(got.Message, says) {
				t.Fatalf("stuck answer lacks %q: %s", says, got.Message)
			}
		}
		if a.Status != "Failure" {
			t.Fatalf("a sync with a stuck uninstall is not a success: %s", a.Raw)
		}
	}
	for _, obj := range []client.Object{hcp, hrp} {
		if !exists(t, obj) || len(obj.GetFinalizers()) == 0 {
			t.Fatalf("%T %s lost its finalizers on a live Cluster", obj, obj.GetName())
		}
	}
	if n := len(objectsIn(t, ns)["ClusterResourceSet"]) + len(objectsIn(t, ns)["Secret"]); n != 2 {
		t.Fatalf("the credentials delivery must stay while the uninstall is stuck; %d of its 2 objects left", n)
	}
	var stuck []corev1.Event
	for _, e := range clusterEvents(t, ns, "c") {
		if e.Reason == konnector.ReasonUninstallStuck {
			stuck = append(stuck, e)
		}
	}
	if len(stuck) != 1 || stuck[0].Type != corev1.EventTypeWarning || stuck[0].Count != 3 {
		t.Fatalf("want one Warning %s Event counted 3 times: %+v", konnector.ReasonUninstallStuck, stuck)
	}

	// The hook succeeds at last: CAAPH lets both go, and the next sync
	// completes the uninstall.
	dropFinalizers(t, hrp)
	dropFinalizers(t, hcp)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Uninstalled: 1})
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d of our objects left after the uninstall", n)
	}
}

// Enabling the addon again while its uninstall is under way creates
// nothing until the old HelmChartProxy and its HelmReleaseProxies are gone.
func TestHooksAndSync_ReEnableWaitsForThePendingUninstall(t *testing.T) {
	f := newSyncFixture(t)
	ns, _ := syncedCluster(t, f, "c")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
	setClusterConfig(t, ns, "c", configNoAddon)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Uninstalling: 1})
	setClusterConfig(t, ns, "c", configBasic)

	expectWaiting := func(says string) {
		t.Helper()
		a := call(t, f.router, pathBCU, request(t, "before-cluster-upgrade.v1beta2.json", ns, "c"))
		if a.Status != "Success" || !strings.Contains(a.Message, "not deployed") || !strings.Contains(a.Message, says) {
			t.Fatalf("BeforeClusterUpgrade while the uninstall is pending: %s", a.Raw)
		}
		s := f.sync(t, "/sync", plainPOST)
		s.mustCount(t, SyncCounts{Checked: 1, Failed: 1})
		if got := s.outcomeOf(ns + "/c"); !strings.Contains(got.Message, says) {
			t.Fatalf("sync while the uninstall is pending: %+v", got)
		}
	}
	// The HelmChartProxy is being deleted, then gone while CAAPH still
	// uninstalls the release.
	expectWaiting("HelmChartProxy " + ns + "/konnector-agent-c: is being deleted")
	if !exists(t, hcp) || hcp.DeletionTimestamp == nil {
		t.Fatal("the HelmChartProxy being deleted was touched")
	}
	if err := mgmt.Client.Delete(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}
	dropFinalizers(t, hcp)
	expectWaiting("HelmReleaseProxy " + ns + "/konnector-agent-c-x7k2p")
	if exists(t, hcp) {
		t.Fatal("a HelmChartProxy was created while CAAPH still uninstalls the release")
	}

	// CAAPH is done: the next sync deploys the agent again.
	dropFinalizers(t, hrp)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	if !exists(t, hcp) || hcp.DeletionTimestamp != nil {
		t.Fatal("the agent was not deployed again once the uninstall finished")
	}
}

// Sync decides on what it read; a Cluster whose deletion began after that
// read and whose HelmChartProxy BeforeClusterDelete removed never gets it
// back. The test holds the sync's reads of the HelmChartProxy and its
// HelmReleaseProxies until the Cluster's read has answered "not deleting",
// then deletes the Cluster and runs BeforeClusterDelete to the end before
// letting the reads go on.
func TestSync_NeverRecreatesForAClusterWhoseDeletionBeganAfterItsRead(t *testing.T) {
	var armed atomic.Bool
	clusterRead := make(chan struct{})
	var once, readOnce sync.Once
	var f *syncFixture
	var ns string
	var cluster *clusterv1.Cluster
	hold := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if !armed.Load() || r.Method != http.MethodGet {
				return rt.RoundTrip(r)
			}
			switch r.URL.Path {
			case "/apis/cluster.x-k8s.io/v1beta2/namespaces/" + ns + "/clusters/c":
				resp, err := rt.RoundTrip(r)
				readOnce.Do(func() { close(clusterRead) })
				return resp, err
			case "/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/" + ns + "/helmchartproxies/konnector-agent-c":
				once.Do(func() {
					<-clusterRead
					deleteCluster(t, cluster)
					runBeforeClusterDeleteToTheEnd(t, newServer(t), ns, "c")
				})
			}
			return rt.RoundTrip(r)
		})
	}
	f = newSyncFixture(t, func(p *serverParts) { p.cfg.Wrap(hold) })
	ns, cluster = syncedCluster(t, f, "c", withFinalizer)
	// A hand-deleted resource-set Secret makes the sync read the Cluster's
	// objects by name, as it does for any Cluster missing one.
	if err := mgmt.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	a := f.sync(t, "/sync", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 1, LeftToHooks: 1})
	if hcp := (&caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}); exists(t, hcp) {
		t.Fatal("the sync gave back the HelmChartProxy BeforeClusterDelete removed")
	}
}

// runBeforeClusterDeleteToTheEnd calls BeforeClusterDelete as CAPI does
// until it says done, playing CAAPH in between.
func runBeforeClusterDeleteToTheEnd(t *testing.T, h http.Handler, ns, name string) {
	t.Helper()
	bcd := request(t, "before-cluster-delete.v1beta2.json", ns, name)
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-" + name}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-" + name + "-x7k2p"}}
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("BeforeClusterDelete did not finish after 10 calls")
		}
		a := call(t, h, pathBCD, bcd)
		if a.Status != "Success" {
			t.Fatalf("BeforeClusterDelete: %s", a.Raw)
		}
		if *a.RetryAfterSeconds == 0 {
			return
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
}

func TestSync_RacingBeforeClusterDeleteConverges(t *testing.T) {
	f := newSyncFixture(t)
	ns, cluster := syncedCluster(t, f, "c", withFinalizer)
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
	// Rotated credentials and a hand-deleted ClusterResourceSet give the
	// racing syncs writes to make, a create among them.
	rotateDefaultSecret(t, ns)
	if err := mgmt.Client.Delete(context.Background(), &addonsv1.ClusterResourceSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}); err != nil {
		t.Fatal(err)
	}

	// CAPI deletes the Cluster and calls BeforeClusterDelete while syncs run.
	var wg sync.WaitGroup
	var applied atomic.Int32
	for range 3 {
		wg.Go(func() {
			a := f.sync(t, "/sync", pingBinary)
			if a.Counts.Failed != 0 {
				t.Errorf("a sync racing the deletion failed: %s", a.Raw)
			}
			applied.Add(int32(a.Counts.Applied))
		})
	}
	wg.Go(func() {
		deleteCluster(t, cluster)
		call(t, f.router, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c"))
	})
	wg.Wait()
	t.Logf("%d of the racing syncs wrote", applied.Load())

	runBeforeClusterDeleteToTheEnd(t, f.router, ns, "c")
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
		if r == konnector.ReasonRemoved {
			removed++
		}
	}
	if removed != 1 {
		t.Fatalf("%d %s Events, want one", removed, konnector.ReasonRemoved)
	}
	dropFinalizers(t, crs)
}

// KONNECTOR_UNINSTALL_ALL makes Sync uninstall the agent of every Cluster,
// whatever its clusterConfig says, with the steps and reports of a disable:
// the way to remove konnector-hooks without leaving agents registered.
func TestSync_UninstallAllUninstallsEveryAgentAsForADisable(t *testing.T) {
	f := newSyncFixture(t)
	ns, _ := syncedCluster(t, f, "c")
	all := &syncFixture{extensionConfig: f.extensionConfig, router: newServer(t, withSettings(func(s *settings.Settings) {
		s.ExtensionConfig, s.UninstallAll = f.extensionConfig, true
	}))}

	a := all.sync(t, "/sync", pingBinary)
	got := a.outcomeOf(ns + "/c")
	if got.Outcome != outcomeUninstalling || !strings.Contains(got.Message, "started Helm uninstall of konnector-agent") {
		t.Fatalf("sync under KONNECTOR_UNINSTALL_ALL answered %s\nwant the uninstall started", a.Raw)
	}
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	if !exists(t, hcp) || hcp.DeletionTimestamp == nil {
		t.Fatal("the HelmChartProxy is not being deleted")
	}
	// The hooks under the same setting deploy nothing back.
	answer := call(t, all.router, pathBCU, request(t, "before-cluster-upgrade.v1beta2.json", ns, "c"))
	if answer.Status != "Success" || !strings.Contains(answer.Message, "KONNECTOR_UNINSTALL_ALL is true") {
		t.Fatalf("BeforeClusterUpgrade under KONNECTOR_UNINSTALL_ALL: %s", answer.Raw)
	}
}

func TestSync_PutsBackAHandEditOfOurObjectsAsTheHooksDo(t *testing.T) {
	f := newSyncFixture(t)
	ns, _ := syncedCluster(t, f, "c")
	ctx := context.Background()
	hcp := &caaphv1.HelmChartProxy{}
	if err := mgmt.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "konnector-agent-c"}, hcp); err != nil {
		t.Fatal(err)
	}
	version := hcp.Spec.Version
	hcp.Spec.Version = "0.0.1"
	if err := mgmt.Client.Update(ctx, hcp); err != nil {
		t.Fatal(err)
	}
	rs := &corev1.Secret{}
	if err := mgmt.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "konnector-agent-c"}, rs); err != nil {
		t.Fatal(err)
	}
	rs.Data[konnector.ResourceSetKey] = []byte("[]")
	if err := mgmt.Client.Update(ctx, rs); err != nil {
		t.Fatal(err)
	}

	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	if err := mgmt.Client.Get(ctx, client.ObjectKeyFromObject(hcp), hcp); err != nil {
		t.Fatal(err)
	}
	if hcp.Spec.Version != version {
		t.Fatalf("the HelmChartProxy's chart version is %q after the sync, want %q put back", hcp.Spec.Version, version)
	}
	if p := resourceSetPassword(t, ns, "c"); p != sentinelPassword {
		t.Fatalf("the resource-set Secret carries %q, want the credentials put back", p)
	}
}
