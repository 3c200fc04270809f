package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// missingChartVersion is a chart version the suite's repository does not
// serve: CAAPH's install of it fails, as with the seed's default version
// against a repository that does not have it.
const missingChartVersion = "9.9.9"

// clusterStatus is the part of `konnector-hooks status -o json` this suite
// reads.
type clusterStatus struct {
	Cluster string   `json:"cluster"`
	Addon   string   `json:"addon"`
	Objects []string `json:"objects"`
	Release *struct {
		Phase        string `json:"phase"`
		Revision     int    `json:"revision"`
		ChartVersion string `json:"chartVersion"`
		Message      string `json:"message"`
	} `json:"release"`
}

// status runs `konnector-hooks status <cluster> [-o json]` as an operator
// does, with the management cluster's kubeconfig, and returns its output.
func (c *testCluster) status(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), cfg.function, append([]string{"status", c.key()}, args...)...)
	cmd.Env = append(functionEnvironment(), "KUBECONFIG="+mgmt.kubeconfig, chartRepositorySetting())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("konnector-hooks status %s: %v\n%s", c.key(), err, stderr.String())
	}
	return stdout.String()
}

func (c *testCluster) statusJSON(t *testing.T) clusterStatus {
	t.Helper()
	var all []clusterStatus
	if out := c.status(t, "-o", "json"); json.Unmarshal([]byte(out), &all) != nil || len(all) != 1 {
		t.Fatalf("konnector-hooks status %s -o json printed %s", c.key(), out)
	}
	return all[0]
}

// TestStatus_ShowsTheInstallOutcomeCAAPHReports: once CAAPH has installed
// the chart, `konnector-hooks status` says deployed with Helm's revision and
// the chart version, and Sync records KonnectorAgentInstalled once; after a
// sync moves the Cluster to a chart version the repository does not serve,
// status says failed with CAAPH's own error, which no hook answer can carry
// (the hooks answer before CAAPH installs), and each later sync reports the
// Cluster installFailed.
func TestStatus_ShowsTheInstallOutcomeCAAPHReports(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-install-outcome"
	setUpNamespace(t, outcomeExtension, namespace)
	c := newTestClusters(t, outcomeExtension, namespace, suiteTimings, clusterSpec{"e2e-outcome", basicConfig})[0]
	c.provision(t)
	c.releaseDeployed(t, defaultChartVersion, 1)

	deployed := c.statusJSON(t)
	if deployed.Addon != "on" || len(deployed.Objects) != 3 || deployed.Release == nil || deployed.Release.Phase != "deployed" ||
		deployed.Release.Revision != 1 || deployed.Release.ChartVersion != defaultChartVersion {
		t.Fatalf("status once the release is deployed: %+v", deployed)
	}
	t.Logf("konnector-hooks status %s, deployed:\n%s", c.key(), c.status(t))

	// Sync reads the same report from CAAPH and says the installed release
	// once, however many syncs see it.
	for range 2 {
		if answer, code := syncOnce(t, outcomeExtension); code != 0 || answer.Counts.UpToDate != 1 {
			t.Fatalf("a sync of the deployed Cluster: want exit status 0 and upToDate=1; got exit status %d, %s", code, answer)
		}
	}
	if e := c.onlyEvent(t, "KonnectorAgentInstalled"); e.Type != "Normal" || e.Count != 1 || !strings.Contains(e.Message, "chart "+defaultChartVersion+", Helm revision 1") {
		t.Errorf("the installed release, said once: %s x%d", e, e.Count)
	}

	answer, code := syncOnce(t, outcomeExtension, "KONNECTOR_CHART_VERSION="+missingChartVersion)
	if code != 0 || answer.Counts.Applied != 1 {
		t.Fatalf("the sync to chart version %s: want exit status 0 and applied=1; got exit status %d, %s", missingChartVersion, code, answer)
	}
	var failed clusterStatus
	eventually(t, waitFor, "status to report the failed install of chart version "+missingChartVersion, func() (bool, string, error) {
		failed = c.statusJSON(t)
		if failed.Release == nil {
			return false, "no release", nil
		}
		return failed.Release.Phase == "failed", fmt.Sprintf("%+v", *failed.Release), nil
	})
	if failed.Release.ChartVersion != missingChartVersion || !strings.Contains(failed.Release.Message, missingChartVersion) {
		t.Errorf("the failed release should name chart version %s and CAAPH's error: %+v", missingChartVersion, *failed.Release)
	}
	t.Logf("konnector-hooks status %s, failed:\n%s", c.key(), c.status(t))

	// The next sync reports the failed install as the Cluster's outcome,
	// with CAAPH's error, and a Warning Event that counts while it lasts.
	for i := range 2 {
		answer, code := syncOnce(t, outcomeExtension, "KONNECTOR_CHART_VERSION="+missingChartVersion)
		if code != 0 || answer.Counts.InstallFailed != 1 || len(answer.Clusters) != 1 || answer.Clusters[0].Outcome != "installFailed" ||
			!strings.Contains(answer.Clusters[0].Message, missingChartVersion) {
			t.Fatalf("sync %d after the failed install: want installFailed with CAAPH's error; got exit status %d, %s", i+1, code, answer)
		}
		t.Logf("sync %d after the failed install: %s", i+1, answer)
	}
	if e := c.onlyEvent(t, "KonnectorAgentInstallFailed"); e.Type != "Warning" || e.Count != 2 || !strings.Contains(e.Message, missingChartVersion) {
		t.Errorf("the failed install, one Warning counted per sync: %s x%d", e, e.Count)
	}

	// The agent installed before stays: Helm keeps revision 1 deployed.
	if rel, err := c.workload.latestRelease(); err != nil || rel == nil || rel.Version != 1 || rel.Info.Status != "deployed" {
		t.Errorf("the failed upgrade must leave revision 1 deployed in %s: %s (err %v)", c.workload, describeRelease(rel), err)
	}
}
