package e2e

import (
	"testing"
)

// TestSync_RotatedPasswordReachesTheWorkloadCluster rotates the Prism
// Central password in the source credentials Secret of a running Cluster
// whose agent CAAPH installed, then runs one sync as the CronJob runs it
// (`konnector-hooks sync`): the sync rewrites the resource-set Secret only,
// and CAPI's ClusterResourceSet controller delivers exactly the new
// credentials to ntnx-system/konnector-agent in the workload cluster,
// without a Kubernetes upgrade and without touching the release.
func TestSync_RotatedPasswordReachesTheWorkloadCluster(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-sync-rotation"
	setUpNamespace(t, rotationExtension, namespace)
	c := newTestClusters(t, rotationExtension, namespace, suiteTimings, clusterSpec{"e2e-rotation", basicConfig})[0]
	c.provision(t)
	c.credentialsDelivered(t, credentialsSecret)
	c.releaseDeployed(t, defaultChartVersion, 1)

	// Nothing to change yet: the sync answers up to date and writes nothing.
	if answer, code := syncOnce(t, rotationExtension); code != 0 || answer.Status != "Success" || answer.Counts.Checked != 1 || answer.Counts.UpToDate != 1 || len(answer.Clusters) != 0 {
		t.Fatalf("sync before the rotation: want exit status 0, Success, checked=1 upToDate=1 and no Cluster listed; got exit status %d, %s", code, answer)
	}

	source := mustGet(t, "v1", "Secret", namespace, credentialsSecret)
	mergePatch(t, source, false, map[string]any{"stringData": map[string]any{"password": "e2e-rotated-by-sync-not-a-real-password"}})

	answer, code := syncOnce(t, rotationExtension)
	if code != 0 || answer.Status != "Success" || answer.Counts.Checked != 1 || answer.Counts.Applied != 1 {
		t.Fatalf("sync after the rotation: want exit status 0, Success, checked=1 applied=1; got exit status %d, %s", code, answer)
	}
	// Only the resource-set Secret differs: the HelmChartProxy and the
	// ClusterResourceSet are not rewritten.
	wrote := "(wrote Secret " + namespace + "/" + c.proxy + ")"
	answer.only(t, c.key(), "applied", "Konnector Agent applied: ", wrote)
	t.Logf("sync after the rotation answered: %s", answer)

	delivered := c.credentialsDelivered(t, credentialsSecret)
	c.timings.add(c.cluster, "sync answered (`konnector-hooks sync`) -> rotated password in the workload cluster", answer.answered, delivered)
	t.Logf("rotated password delivered to %s %s after the sync's answer", c.workload, delivered.Sub(answer.answered).Round(1e6))

	rel, err := c.workload.latestRelease()
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil || rel.Version != 1 || rel.Info.Status != "deployed" {
		t.Errorf("a password rotation must not upgrade the release: want revision 1 deployed in %s, got %s", c.workload, describeRelease(rel))
	}
	if ev := events(t, namespace, "Cluster", c.cluster); !containsSubstring(ev, "KonnectorAgentApplied: Konnector Agent applied: ") || !containsSubstring(ev, wrote) {
		t.Errorf("no KonnectorAgentApplied Event on Cluster %s saying the sync wrote %s; events: %q", c.key(), wrote, ev)
	}
	if calls := c.calls(t, "BeforeClusterUpgrade"); len(calls) != 0 {
		t.Errorf("CAPI called BeforeClusterUpgrade for %s: the rotation needed no upgrade: %s", c.key(), describeCalls(calls))
	}

	// Applied once: the next sync has nothing to change.
	if again, code := syncOnce(t, rotationExtension); code != 0 || again.Counts.Checked != 1 || again.Counts.UpToDate != 1 {
		t.Errorf("the sync after the delivery: want exit status 0, checked=1 upToDate=1; got exit status %d, %s", code, again)
	}
	t.Logf("after the rotation, %s holds: %s", c.workload, c.inventory(t))
}
