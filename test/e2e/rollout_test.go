package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// statusAll runs `konnector-hooks status` for every Cluster of namespace as
// an operator does, with the settings given (the suite installs no settings
// ConfigMap, so status reads them from its environment).
func statusAll(t *testing.T, namespace string, settings ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), cfg.function, "status")
	cmd.Env = append(append(functionEnvironment(), "KUBECONFIG="+mgmt.kubeconfig, chartRepositorySetting(), "KONNECTOR_SYNC_NAMESPACES="+namespace), settings...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("konnector-hooks status: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

// chartVersionOf is the chart version the Cluster's HelmChartProxy holds.
func (c *testCluster) chartVersionOf(t *testing.T) string {
	t.Helper()
	hcp := mustGet(t, "addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy", c.namespace, c.proxy)
	v, _, _ := unstructured.NestedString(hcp.Object, "spec", "version")
	return v
}

// TestSync_RolloutMovesOneBatchPerSyncAndPausesOnAFailedInstall: with
// KONNECTOR_ROLLOUT_BATCH=1, a new chart version reaches one Cluster per
// sync, the HelmChartProxy written the fewest times first, with the real CAAPH upgrading each agent; a
// chart version CAAPH cannot install stops at the first Cluster it reaches:
// the next sync pauses the rollout and moves no other Cluster.
func TestSync_RolloutMovesOneBatchPerSyncAndPausesOnAFailedInstall(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-rollout"
	setUpNamespace(t, rolloutExtension, namespace)
	clusters := newTestClusters(t, rolloutExtension, namespace, suiteTimings,
		clusterSpec{"e2e-roll-a", basicConfig}, clusterSpec{"e2e-roll-b", basicConfig}, clusterSpec{"e2e-roll-c", basicConfig})
	a, b, c := clusters[0], clusters[1], clusters[2]
	for _, cl := range clusters {
		cl.provision(t)
	}
	for _, cl := range clusters {
		cl.releaseDeployed(t, defaultChartVersion, 1)
	}
	versions := func() []string {
		var v []string
		for _, cl := range clusters {
			v = append(v, cl.chartVersionOf(t))
		}
		return v
	}
	sync := func(version string, want func(syncAnswer) bool) syncAnswer {
		t.Helper()
		answer, code := syncOnce(t, rolloutExtension, "KONNECTOR_CHART_VERSION="+version, "KONNECTOR_ROLLOUT_BATCH=1")
		t.Logf("sync to chart %s: %s", version, answer)
		if code != 0 || !want(answer) {
			t.Fatalf("sync to chart %s: exit status %d, %s; chart versions %v", version, code, answer, versions())
		}
		return answer
	}
	moved := func(key string, held int) func(syncAnswer) bool {
		return func(s syncAnswer) bool {
			return s.Rollout != nil && slices.Equal(s.Rollout.Moved, []string{key}) && s.Rollout.Held == held && !s.Rollout.Paused &&
				s.Counts.Applied == 1 && s.Counts.RolloutHeld == held
		}
	}

	// One Cluster per sync: each HelmChartProxy was written once, a to c in
	// that order (in the same second or not), so a moves first; CAAPH upgrades
	// each agent in its workload cluster.
	sync(upgradeChartVersion, moved(a.key(), 2))
	if got := versions(); !slices.Equal(got, []string{upgradeChartVersion, defaultChartVersion, defaultChartVersion}) {
		t.Fatalf("chart versions after the first batch: %v", got)
	}
	a.releaseDeployed(t, upgradeChartVersion, 2)
	sync(upgradeChartVersion, moved(b.key(), 1))
	b.releaseDeployed(t, upgradeChartVersion, 2)

	// A chart version the repository does not serve: c's HelmChartProxy,
	// still at the first version, was written once, a's and b's twice, so c
	// moves first; CAAPH's upgrade fails.
	sync(missingChartVersion, moved(c.key(), 2))
	eventually(t, waitFor, "status to report the failed install on "+c.key(), func() (bool, string, error) {
		s := c.statusJSON(t)
		if s.Release == nil {
			return false, "no release", nil
		}
		return s.Release.Phase == "failed", fmt.Sprintf("%+v", *s.Release), nil
	})
	paused := sync(missingChartVersion, func(s syncAnswer) bool {
		return s.Rollout != nil && s.Rollout.Paused && slices.Equal(s.Rollout.PausedBy, []string{c.key()}) && len(s.Rollout.Moved) == 0 &&
			s.Rollout.Held == 2 && s.Counts.InstallFailed == 1 && s.Counts.Applied == 0
	})
	if !strings.Contains(paused.Message, "the rollout of a HelmChartProxy change is paused: the agent failed to install on "+c.key()) {
		t.Errorf("the sync report should say why the rollout is paused: %s", paused.Message)
	}
	if got := versions(); !slices.Equal(got, []string{upgradeChartVersion, upgradeChartVersion, missingChartVersion}) {
		t.Fatalf("chart versions while the rollout is paused: %v", got)
	}
	for _, cl := range []*testCluster{a, b} {
		if rel, err := cl.workload.latestRelease(); err != nil || rel == nil || rel.Version != 2 || rel.Chart.Metadata.Version != upgradeChartVersion {
			t.Errorf("the paused rollout must leave %s at revision 2 of chart %s: %s (err %v)", cl.workload, upgradeChartVersion, describeRelease(rel), err)
		}
	}
	out := statusAll(t, namespace, "KONNECTOR_CHART_VERSION="+missingChartVersion, "KONNECTOR_ROLLOUT_BATCH=1")
	t.Logf("konnector-hooks status, rollout paused:\n%s", out)
	for _, part := range []string{
		"Rollout: paused by a failed install on " + c.key() + "; 2 Clusters wait",
		"waits: the rollout is paused by a failed install on " + c.key(),
		"failed at chart " + missingChartVersion,
	} {
		if !strings.Contains(out, part) {
			t.Errorf("status does not show %q", part)
		}
	}
}
