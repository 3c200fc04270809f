package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// The tests play CAAPH: they put its finalizers on the HelmChartProxy, create
// the HelmReleaseProxies it would create, and remove the finalizers when the
// "helm uninstall" is done.

func key(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// deployedCluster creates a cluster with the addon, deploys it through the
// hook, and lets "CAAPH" adopt the HelmChartProxy and create its release.
func deployedCluster(t *testing.T, h http.Handler, ns, name string) *clusterv1.Cluster {
	t.Helper()
	createCredentials(t, ns, defaultSecret)
	cluster := createCluster(t, ns, name, configBasic, withFinalizer)
	if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, name)); a.Status != "Success" {
		t.Fatalf("deploy: %s", a.Raw)
	}
	adoptByCAAPH(t, ns, name)
	return cluster
}

// createReleaseProxy creates a HelmReleaseProxy as CAAPH labels it, with
// CAAPH's finalizer.
func createReleaseProxy(t testing.TB, ns, name, cluster, proxy string, moreFinalizers ...string) {
	t.Helper()
	hrp := &caaphv1.HelmReleaseProxy{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels:     map[string]string{clusterv1.ClusterNameLabel: cluster, caaphv1.HelmChartProxyLabelName: proxy},
			Finalizers: append([]string{caaphv1.HelmReleaseProxyFinalizer}, moreFinalizers...),
		},
		Spec: caaphv1.HelmReleaseProxySpec{
			ClusterRef: corev1.ObjectReference{APIVersion: "cluster.x-k8s.io/v1beta2", Kind: "Cluster", Name: cluster, Namespace: ns},
			ChartName:  "konnector-agent", RepoURL: "https://mesosphere.github.io/charts/stable/",
		},
	}
	if err := mgmt.Client.Create(context.Background(), hrp); err != nil {
		t.Fatal(err)
	}
}

func deleteCluster(t *testing.T, cluster *clusterv1.Cluster) {
	t.Helper()
	if err := mgmt.Client.Delete(context.Background(), cluster); err != nil {
		t.Fatal(err)
	}
}

// dropFinalizers removes every finalizer from an object, as its controller would when done.
// adoptByCAAPH does what CAAPH does with a new HelmChartProxy of ours: put
// its finalizer on it and create the cluster's HelmReleaseProxy.
func adoptByCAAPH(t *testing.T, ns, name string) {
	t.Helper()
	var hcp caaphv1.HelmChartProxy
	if err := mgmt.Client.Get(context.Background(), key(ns, "konnector-agent-"+name), &hcp); err != nil {
		t.Fatal(err)
	}
	hcp.Finalizers = append(hcp.Finalizers, caaphv1.HelmChartProxyFinalizer)
	if err := mgmt.Client.Update(context.Background(), &hcp); err != nil {
		t.Fatal(err)
	}
	createReleaseProxy(t, ns, "konnector-agent-"+name+"-x7k2p", name, hcp.Name)
}

func dropFinalizers(t *testing.T, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	if err := mgmt.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	obj.SetFinalizers(nil)
	if err := mgmt.Client.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, obj client.Object) bool {
	t.Helper()
	err := mgmt.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func expectAnswer(t *testing.T, a hookAnswer, retry int32, says string) {
	t.Helper()
	if a.HTTPStatus != http.StatusOK || a.Status != "Success" || a.Kind != "BeforeClusterDeleteResponse" || a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != retry || !strings.Contains(a.Message, says) {
		t.Fatalf("answer %s\nwant Success, retryAfterSeconds %d, message with %q", a.Raw, retry, says)
	}
}

func TestBeforeClusterDelete_UninstallsAndWaitsForCAAPH(t *testing.T) {
	for _, version := range payloadVersions {
		t.Run(version, func(t *testing.T) {
			h := newServer(t)
			ns := newNamespace(t)
			cluster := deployedCluster(t, h, ns, "c")
			body := request(t, "before-cluster-delete."+version+".json", ns, "c")
			hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
			hrp := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}}
			var sequence []string
			step := func(retry int32, says string) {
				t.Helper()
				a := call(t, h, pathBCD, body)
				sequence = append(sequence, a.Raw)
				expectAnswer(t, a, retry, says)
			}

			deleteCluster(t, cluster)
			step(5, "started Helm uninstall of konnector-agent: deleted HelmChartProxy "+ns+"/konnector-agent-c; waiting for CAAPH")
			if !exists(t, hcp) || hcp.DeletionTimestamp == nil {
				t.Fatal("the HelmChartProxy is not being deleted")
			}
			step(5, "waiting for Helm uninstall of konnector-agent: HelmChartProxy "+ns+"/konnector-agent-c, HelmReleaseProxy "+ns+"/konnector-agent-c-x7k2p still present")

			// CAAPH deletes the release proxy; helm uninstall runs under its finalizer.
			if err := mgmt.Client.Delete(context.Background(), hrp.DeepCopy()); err != nil {
				t.Fatal(err)
			}
			step(5, "HelmReleaseProxy "+ns+"/konnector-agent-c-x7k2p still present")
			dropFinalizers(t, hrp)
			step(5, "waiting for Helm uninstall of konnector-agent: HelmChartProxy "+ns+"/konnector-agent-c still present")
			dropFinalizers(t, hcp)
			step(0, "Konnector Agent removed from Cluster "+ns+"/c")
			step(0, "Konnector Agent removed")

			reasons := eventsFor(t, ns, "c")
			for _, want := range []string{"KonnectorAgentUninstallStarted", "KonnectorAgentRemoved"} {
				if !slices.Contains(reasons, want) {
					t.Errorf("events %v lack %s", reasons, want)
				}
			}
			t.Logf("answers of a real deletion:\n%s", strings.Join(sequence, ""))
		})
	}
}

func TestBeforeClusterDelete_TimesOutAndReleasesOnlyOurFinalizers(t *testing.T) {
	ctx := context.Background()
	h := newServer(t)
	ns := newNamespace(t)
	cluster := deployedCluster(t, h, ns, "c")
	// Our release proxy also carries someone else's finalizer, which stays.
	createReleaseProxy(t, ns, "konnector-agent-c-second", "c", "konnector-agent-c", "other.example.com/keep")
	// Another cluster's konnector release and another addon's release for this
	// cluster must keep CAAPH's finalizer.
	createReleaseProxy(t, ns, "konnector-agent-other-a1b2c", "other", "konnector-agent-other")
	createReleaseProxy(t, ns, "cni-c-d3e4f", "c", "cni-c")

	deleteCluster(t, cluster)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 5, "started Helm uninstall")

	// The workload cluster is gone: CAAPH never finishes. Later than the timeout:
	counter := &requestCounter{}
	late := newServer(t,
		withSettings(func(s *settings.Settings) { s.UninstallTimeout = 30 * time.Second }),
		withClock(func() time.Time { return time.Now().Add(time.Minute) }),
		withCounter(counter))
	a := call(t, late, pathBCD, request(t, "before-cluster-delete.v1beta1.json", ns, "c"))
	expectAnswer(t, a, 0, "did not finish within 30s")
	// CAAPH adds its finalizer back to a HelmReleaseProxy that is not being
	// deleted: the release proxy is deleted first, then released.
	calls := counter.take()
	hrpPath := "/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces/" + ns + "/helmreleaseproxies/konnector-agent-c-x7k2p"
	deleted, released := slices.Index(calls, "DELETE "+hrpPath), slices.Index(calls, "PATCH "+hrpPath)
	if deleted < 0 || released < deleted {
		t.Fatalf("HelmReleaseProxy deleted at request %d and released at %d, want the delete first:\n%s", deleted, released, strings.Join(calls, "\n"))
	}
	for _, want := range []string{"may still be registered in Prism Central", "HelmReleaseProxy " + ns + "/konnector-agent-c-x7k2p"} {
		if !strings.Contains(a.Message, want) {
			t.Errorf("message %q lacks %q", a.Message, want)
		}
	}

	for _, gone := range []client.Object{
		&caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}},
		&caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-x7k2p"}},
	} {
		if exists(t, gone) {
			t.Errorf("%T %s still exists with finalizers %v", gone, gone.GetName(), gone.GetFinalizers())
		}
	}
	held := &caaphv1.HelmReleaseProxy{}
	if err := mgmt.Client.Get(ctx, key(ns, "konnector-agent-c-second"), held); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(held.Finalizers, []string{"other.example.com/keep"}) || held.DeletionTimestamp == nil {
		t.Errorf("our release proxy with another finalizer: finalizers %v, deleting %v", held.Finalizers, held.DeletionTimestamp != nil)
	}
	for _, name := range []string{"konnector-agent-other-a1b2c", "cni-c-d3e4f"} {
		other := &caaphv1.HelmReleaseProxy{}
		if err := mgmt.Client.Get(ctx, key(ns, name), other); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(other.Finalizers, []string{caaphv1.HelmReleaseProxyFinalizer}) || other.DeletionTimestamp != nil {
			t.Errorf("%s was touched: finalizers %v, deleting %v", name, other.Finalizers, other.DeletionTimestamp != nil)
		}
	}
	if reasons := eventsFor(t, ns, "c"); !slices.Contains(reasons, "KonnectorAgentUninstallTimedOut") {
		t.Errorf("events %v lack the timeout warning", reasons)
	}
}

func TestBeforeClusterDelete_ForgedCallOnALiveClusterChangesNothing(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	deployedCluster(t, h, ns, "c")
	before := readDeployed(t, ns, "c").resourceVersions()
	for _, version := range payloadVersions {
		expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete."+version+".json", ns, "c")), 0, "is not being deleted")
	}
	if after := readDeployed(t, ns, "c").resourceVersions(); !slices.Equal(before, after) {
		t.Fatalf("a forged call changed the objects: %v -> %v", before, after)
	}
}

func TestBeforeClusterDelete_ClusterNotFoundIsDone(t *testing.T) {
	ns := newNamespace(t)
	expectAnswer(t, call(t, newServer(t), pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "gone")), 0, "Cluster "+ns+"/gone not found")
}

func TestBeforeClusterDelete_AddonNeverEnabledIsDone(t *testing.T) {
	ns := newNamespace(t)
	cluster := createCluster(t, ns, "c", configNoAddon, withFinalizer)
	deleteCluster(t, cluster)
	expectAnswer(t, call(t, newServer(t), pathBCD, request(t, "before-cluster-delete.v1beta1.json", ns, "c")), 0, "nothing left to uninstall")
	if reasons := eventsFor(t, ns, "c"); len(reasons) != 0 {
		t.Fatalf("events %v for a cluster without the addon", reasons)
	}
}

// KonnectorAgentRemoved tells of a removal: a Cluster with the addon on
// whose agent was never deployed (its credentials Secret never existed)
// gets none.
func TestBeforeClusterDelete_NeverDeployedRecordsNoRemoval(t *testing.T) {
	ns := newNamespace(t)
	cluster := createCluster(t, ns, "c", configBasic, withFinalizer)
	h := newServer(t)
	call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	deleteCluster(t, cluster)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 0, "nothing left to uninstall")
	if reasons := eventsFor(t, ns, "c"); slices.Contains(reasons, konnector.ReasonRemoved) {
		t.Fatalf("events %v: a removal is told for an agent never deployed", reasons)
	}
}

func TestBeforeClusterDelete_HelmChartProxyDeletedByHandIsDone(t *testing.T) {
	h := newServer(t)
	ns, cluster := newAddonCluster(t, withFinalizer)
	call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if err := mgmt.Client.Delete(context.Background(), &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}); err != nil {
		t.Fatal(err)
	}
	deleteCluster(t, cluster)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 0, "Konnector Agent removed")
}

// Without a garbage collector, or when CAAPH removed its HelmChartProxy
// without its releases, the release proxies are deleted by the hook.
func TestBeforeClusterDelete_DeletesOrphanedReleaseProxies(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	cluster := createCluster(t, ns, "c", configBasic, withFinalizer)
	createReleaseProxy(t, ns, "konnector-agent-c-orphan", "c", "konnector-agent-c")
	deleteCluster(t, cluster)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 5, "deleted HelmReleaseProxy "+ns+"/konnector-agent-c-orphan")
	orphan := &caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c-orphan"}}
	if !exists(t, orphan) || orphan.DeletionTimestamp == nil {
		t.Fatal("the orphaned release proxy is not being deleted")
	}
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 5, "HelmReleaseProxy "+ns+"/konnector-agent-c-orphan still present")
	dropFinalizers(t, orphan)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 0, "nothing left to uninstall")
}

func TestBeforeClusterDelete_ConcurrentCallsAllSucceed(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	cluster := deployedCluster(t, h, ns, "c")
	deleteCluster(t, cluster)
	var wg sync.WaitGroup
	answers := make([]hookAnswer, 10)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = call(t, h, pathBCD, request(t, "before-cluster-delete."+payloadVersions[i%2]+".json", ns, "c"))
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != "Success" || a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != 5 {
			t.Errorf("call %d: %s", i, a.Raw)
		}
	}
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	if !exists(t, hcp) || hcp.DeletionTimestamp == nil {
		t.Fatal("the HelmChartProxy is not being deleted")
	}
}

// After deletion started, a late AfterControlPlaneInitialized must not bring
// the HelmChartProxy back.
func TestAfterControlPlaneInitialized_AfterDeletionStartedRecreatesNothing(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	cluster := deployedCluster(t, h, ns, "c")
	deleteCluster(t, cluster)
	expectAnswer(t, call(t, h, pathBCD, request(t, "before-cluster-delete.v1beta2.json", ns, "c")), 5, "started")
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"}}
	dropFinalizers(t, hcp)
	if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "c")); a.Status != "Success" || !strings.Contains(a.Message, "being deleted") {
		t.Fatalf("late AfterControlPlaneInitialized: %s", a.Raw)
	}
	if exists(t, hcp) {
		t.Fatal("the HelmChartProxy came back")
	}
}
