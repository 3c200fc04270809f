package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestSeedExamples_EachEndsWithTheReleaseDeployed creates a Cluster for each
// configuration example of the addon's description (Basic, Advanced,
// Minimal), each with the Prism Central endpoint a Nutanix cluster carries:
// each ends with its credentials delivered and the release deployed. A
// Cluster without the addon, created alongside, gets nothing.
func TestSeedExamples_EachEndsWithTheReleaseDeployed(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-examples"
	setUpNamespace(t, defaultExtension, namespace)
	all := newTestClusters(t, defaultExtension, namespace, suiteTimings,
		clusterSpec{"e2e-basic", basicConfig}, clusterSpec{"e2e-advanced", advancedConfig}, clusterSpec{"e2e-minimal", minimalConfig},
		clusterSpec{"e2e-no-addon", noAddonConfig})
	clusters, without := all[:3], all[3]
	for _, c := range all {
		c.provision(t)
	}
	for _, c := range clusters {
		t.Run(c.cluster, func(t *testing.T) {
			answered := c.acpiAnswered(t)
			c.credentialsDelivered(t, credentialsSecret)
			rel := c.releaseDeployed(t, defaultChartVersion, 1)
			c.timings.add(c.cluster, "AfterControlPlaneInitialized answered -> release deployed (Helm's last-deployed time)", answered, rel.Info.LastDeployed.Time)
			c.checkAgentDeployment(t, agentArgs(c.cluster))
			t.Logf("%s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
		})
	}

	// By now CAPI, CAAPH and the ClusterResourceSet controller have handled
	// the other Clusters, created at the same time: the one without the
	// addon must have nothing, on either side.
	t.Run("e2e-no-addon_GetsNothing", func(t *testing.T) {
		for _, call := range without.calls(t, "AfterControlPlaneInitialized") {
			if call.Outcome != "Success" {
				t.Errorf("AfterControlPlaneInitialized for a Cluster without the addon answered %s", call)
			}
		}
		if present := without.agentObjects(t); len(present) != 0 {
			t.Errorf("objects of the addon exist for %s, which has no addon: %s", without.key(), strings.Join(present, ", "))
		}
		hrps := &unstructured.UnstructuredList{}
		hrps.SetAPIVersion(caaphAPIVersion)
		hrps.SetKind("HelmReleaseProxyList")
		if err := mgmt.client.List(t.Context(), hrps, client.InNamespace(namespace), client.MatchingLabels{clusterNameLabel: without.cluster}); err != nil {
			t.Fatal(err)
		}
		if len(hrps.Items) != 0 {
			t.Errorf("CAAPH made %d HelmReleaseProxies for %s, which has no addon", len(hrps.Items), without.key())
		}
		if found, err := without.workload.get(t.Context(), &corev1.Namespace{}, "", chartReleaseNamespace); err != nil || found {
			t.Errorf("the workload cluster of %s has Namespace %s (err %v): %s", without.key(), chartReleaseNamespace, err, without.inventory(t))
		}
		if rel, err := without.workload.latestRelease(); err != nil || rel != nil {
			t.Errorf("the workload cluster of %s has %s (err %v)", without.key(), describeRelease(rel), err)
		}
		if runs := without.workload.kubelet.runs(); len(runs) != 0 {
			t.Errorf("hook pods ran in the workload cluster of %s: %v", without.key(), runs)
		}
	})
	checkWire(t, without.fn, without.key())
}
