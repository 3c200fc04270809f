package e2e

import (
	"strings"
	"testing"
)

// TestBeforeClusterDelete_UninstallTimeoutReleasesAStuckDeletion deletes a
// Cluster whose chart pre-delete hook fails (Prism Central unreachable), so
// helm uninstall fails and CAAPH keeps its finalizers, with the function
// started with KONNECTOR_UNINSTALL_TIMEOUT=5s: after the timeout the
// function releases CAAPH's finalizers, records the Warning Event and CAPI
// deletes the Cluster. Another Cluster's release in the same namespace is
// untouched.
func TestBeforeClusterDelete_UninstallTimeoutReleasesAStuckDeletion(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-uninstall-timeout"
	setUpNamespace(t, timeoutExtension, namespace)
	clusters := newTestClusters(t, timeoutExtension, namespace, suiteTimings, clusterSpec{"e2e-stuck", basicConfig}, clusterSpec{"e2e-neighbour", basicConfig})
	stuck, neighbour := clusters[0], clusters[1]
	for _, c := range []*testCluster{stuck, neighbour} {
		c.provision(t)
		c.credentialsDelivered(t, credentialsSecret)
		c.releaseDeployed(t, defaultChartVersion, 1)
	}
	before := neighbour.releaseProxies(t)

	stuck.workload.kubelet.set("hook-predelete", fail)
	deleted := stuck.deleteCluster(t)
	gone := stuck.clusterGone(t, nil)

	calls := stuck.calls(t, "BeforeClusterDelete")
	if len(calls) == 0 {
		t.Fatalf("Cluster %s was deleted without a BeforeClusterDelete call", stuck.key())
	}
	last := calls[len(calls)-1]
	if last.Outcome != "Success" || last.RetryAfterSeconds != 0 || !strings.Contains(last.Message, "did not finish within 5s") ||
		!strings.Contains(last.Message, "may still be registered in Prism Central") {
		t.Errorf("last BeforeClusterDelete answer: want Success, retryAfterSeconds 0 and the timeout message; got %s", last)
	}
	runs := stuck.workload.kubelet.runsOf("hook-predelete")
	if len(runs) == 0 || runs[0].Phase != fail {
		t.Errorf("helm uninstall of %s ran no failing hook-predelete pod: hook pods %v", stuck.key(), stuck.workload.kubelet.runs())
	}
	if _, found, err := get(t.Context(), caaphAPIVersion, "HelmChartProxy", namespace, stuck.proxy); err != nil || found {
		t.Errorf("HelmChartProxy %s/%s should be gone after the timeout (err %v)", namespace, stuck.proxy, err)
	}
	if left := stuck.releaseProxies(t); len(left) != 0 {
		t.Errorf("HelmReleaseProxies of %s should be gone after the timeout: %d left", stuck.key(), len(left))
	}
	if ev := events(t, namespace, "Cluster", stuck.cluster); !containsPrefix(ev, "Warning KonnectorAgentUninstallTimedOut: ") {
		t.Errorf("no Warning KonnectorAgentUninstallTimedOut event on Cluster %s; events: %q", stuck.key(), ev)
	}
	suiteTimings.add(stuck.cluster, "Cluster deleted, hook-predelete failing -> Cluster gone (KONNECTOR_UNINSTALL_TIMEOUT=5s)", deleted, gone)
	t.Logf("after the timeout, the stuck %s holds: %s; hook pods %v", stuck.workload, stuck.inventory(t), stuck.workload.kubelet.runs())
	t.Logf("CAPI %s called, for %s: %s", cfg.capiVersion, stuck.key(), describeCalls(stuck.allCalls(t)))

	// The neighbour: same HelmReleaseProxy, not deleting, its release
	// deployed at the same revision, no delete call.
	after := neighbour.releaseProxies(t)
	if len(after) != 1 || len(before) != 1 || after[0].GetUID() != before[0].GetUID() || after[0].GetDeletionTimestamp() != nil ||
		len(after[0].GetFinalizers()) == 0 {
		t.Errorf("the HelmReleaseProxy of %s changed while %s was released: before %d, after %d (want the same one, not deleting, with CAAPH's finalizer)",
			neighbour.key(), stuck.key(), len(before), len(after))
	}
	if hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", namespace, neighbour.proxy); hcp.GetDeletionTimestamp() != nil || len(hcp.GetFinalizers()) == 0 {
		t.Errorf("HelmChartProxy %s/%s is deleting or lost CAAPH's finalizer: %v", namespace, neighbour.proxy, hcp.GetFinalizers())
	}
	rel, err := neighbour.workload.latestRelease()
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil || rel.Version != 1 || rel.Info.Status != "deployed" {
		t.Errorf("the release of %s: want revision 1 deployed, got %s", neighbour.key(), describeRelease(rel))
	}
	if calls := neighbour.calls(t, "BeforeClusterDelete"); len(calls) != 0 {
		t.Errorf("CAPI called BeforeClusterDelete for %s: %s", neighbour.key(), describeCalls(calls))
	}
	checkWire(t, stuck.fn, stuck.key())
}
