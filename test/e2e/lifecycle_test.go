package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// fromVersion and toVersion are the Cluster's Kubernetes versions
	// before and after the upgrade.
	fromVersion = "v1.34.1"
	toVersion   = "v1.34.2"

	// Annotations CAPI keeps on the Cluster to track hooks.
	pendingHooksAnnotation = "runtime.cluster.x-k8s.io/pending-hooks"
	okToDeleteAnnotation   = "runtime.cluster.x-k8s.io/ok-to-delete"

	// waitFor bounds each step; CAPI reacts within seconds, and a blocked
	// deletion is retried every KONNECTOR_RETRY_AFTER (5s by default).
	waitFor = 2 * time.Minute
)

// TestClusterLifecycle takes a Cluster through creation, upgrade and
// deletion with the real controllers: CAPI calls the function, CAPI's
// ClusterResourceSet controller delivers the credentials and CAAPH installs,
// upgrades and uninstalls the chart in the workload cluster.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	setUpNamespace(t, lifecycleExtension, "e2e-lifecycle")
	c := newTestClusters(t, lifecycleExtension, "e2e-lifecycle", suiteTimings, clusterSpec{"e2e-lifecycle", categoriesConfig})[0]
	if installed != nil {
		// The upgrade rolls the install to a newer chart version; the
		// tests after this one expect its own.
		t.Cleanup(func() {
			if err := c.fn.restart(context.Background(), chartRepositorySetting()); err != nil {
				t.Errorf("rolling the install back to its chart version: %v", err)
			}
		})
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Create_DeliversTheCredentialsAndInstallsTheChart", c.create},
		{"Upgrade_NewChartVersionAndRotatedPassword", c.upgrade},
		{"Delete_PreDeleteHookRunsBeforeTheReleaseAndTheClusterGo", c.deleteInOrder},
		{"CAPIRequestsAndAnswersFollowTheRuntimeSDKProtocol", func(t *testing.T) { checkWire(t, c.fn, c.key()) }},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

// agentArgs are the agent container arguments the chart renders from the
// values the function writes for a Cluster of the suite: the Prism Central
// endpoint of its clusterConfig without a trust bundle (so installed
// insecure), its name and the default distribution.
func agentArgs(cluster string, categories ...string) []string {
	args := []string{"--pc-endpoint=prism-central.example.com", "--pc-port=9440", "--insecure",
		"--k8s-cluster-name=" + cluster, "--k8s-distribution=NKP"}
	if len(categories) > 0 {
		args = append(args, "--k8s-cluster-category="+strings.Join(categories, ","))
	}
	return args
}

// create provisions the Cluster and checks the chain down to the workload
// cluster: credentials delivered by the ClusterResourceSet, the release
// installed by CAAPH with the values rendered into the agent's arguments.
func (c *testCluster) create(t *testing.T) {
	c.provision(t)
	answered := c.acpiAnswered(t)
	delivered := c.credentialsDelivered(t, credentialsSecret)
	rel := c.releaseDeployed(t, defaultChartVersion, 1)
	c.timings.add(c.cluster, "AfterControlPlaneInitialized answered -> credentials Secret in the workload cluster", answered, delivered)
	c.timings.add(c.cluster, "AfterControlPlaneInitialized answered -> release deployed (Helm's last-deployed time)", answered, rel.Info.LastDeployed.Time)
	c.checkAgentDeployment(t, agentArgs(c.cluster, "AppType=Kubernetes"))
	if runs := c.workload.kubelet.runsOf("hook-postinstall"); len(runs) == 0 || runs[0].Phase != succeed {
		t.Errorf("helm install ran no hook-postinstall pod to success in %s: hook pods %v", c.workload, c.workload.kubelet.runs())
	}
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	for _, obj := range []*unstructured.Unstructured{
		mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy),
		mustGet(t, crsAPIVersion, "ClusterResourceSet", c.namespace, c.proxy),
		mustGet(t, "v1", "Secret", c.namespace, c.proxy),
	} {
		checkOwnedByCluster(t, obj, cluster)
	}
	// The clusterConfig has no trust bundle: the agent is installed
	// insecure, which the function says with a Warning.
	if ev := events(t, c.namespace, "Cluster", c.cluster); !containsPrefix(ev, "Warning KonnectorAgentApplied: ") || !containsSubstring(ev, "insecure: true") {
		t.Errorf("no Warning KonnectorAgentApplied event saying the agent is installed with insecure: true on Cluster %s; events: %q", c.key(), ev)
	}
	t.Logf("after create, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// upgrade restarts the function with a newer chart version and rotates the
// password in the source Secret, then upgrades the Cluster: CAPI calls
// BeforeClusterUpgrade, the function re-applies, CAAPH upgrades the release
// (revision 2, post-upgrade hook) and the ClusterResourceSet delivers the
// new password.
func (c *testCluster) upgrade(t *testing.T) {
	if err := c.fn.restart(t.Context(), chartRepositorySetting(), "KONNECTOR_CHART_VERSION="+upgradeChartVersion); err != nil {
		t.Fatalf("restarting function %s with chart version %s: %v", c.fn.name, upgradeChartVersion, err)
	}
	source := mustGet(t, "v1", "Secret", c.namespace, credentialsSecret)
	mergePatch(t, source, false, map[string]any{"stringData": map[string]any{"password": "e2e-rotated-not-a-real-password"}})

	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	requested := time.Now()
	mergePatch(t, cluster, false, map[string]any{"spec": map[string]any{"topology": map[string]any{"version": toVersion}}})

	eventually(t, waitFor, "CAPI to call BeforeClusterUpgrade and move the control plane to "+toVersion, func() (bool, string, error) {
		cp, _, err := get(t.Context(), controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef)
		if err != nil || cp == nil {
			return false, "control plane not found", err
		}
		v, _, _ := unstructured.NestedString(cp.Object, "spec", "version")
		calls := c.calls(t, "BeforeClusterUpgrade")
		return v == toVersion && len(calls) > 0, fmt.Sprintf("control plane spec.version %s; %s", v, describeCalls(calls)), nil
	})
	calls := c.calls(t, "BeforeClusterUpgrade")
	for _, call := range calls {
		if call.HTTPStatus != 200 || call.Outcome != "Success" || call.RetryAfterSeconds != 0 {
			t.Errorf("BeforeClusterUpgrade answered %s; want Success with retryAfterSeconds 0", call)
		}
	}
	answered := calls[len(calls)-1].Time
	rel := c.releaseDeployed(t, upgradeChartVersion, 2)
	delivered := c.credentialsDelivered(t, credentialsSecret)
	c.timings.add(c.cluster, "topology version changed -> BeforeClusterUpgrade answered Success", requested, answered)
	c.timings.add(c.cluster, "BeforeClusterUpgrade answered -> revision 2 deployed (Helm's last-deployed time)", answered, rel.Info.LastDeployed.Time)
	c.timings.add(c.cluster, "BeforeClusterUpgrade answered -> rotated password in the workload cluster", answered, delivered)
	if runs := c.workload.kubelet.runsOf("hook-postupgrade"); len(runs) == 0 || runs[len(runs)-1].Phase != succeed {
		t.Errorf("helm upgrade ran no hook-postupgrade pod to success in %s: hook pods %v", c.workload, c.workload.kubelet.runs())
	}
	c.checkAgentDeployment(t, agentArgs(c.cluster, "AppType=Kubernetes"))
	// The control plane provider finishes the upgrade.
	cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef)
	mergePatch(t, cp, true, map[string]any{"status": map[string]any{"version": toVersion}})
	t.Logf("after upgrade, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// deleteInOrder deletes the Cluster while the kubelet holds the chart's
// pre-delete hook pod: BeforeClusterDelete deletes the HelmChartProxy, CAAPH
// runs helm uninstall, which waits on hook-predelete; the Cluster stays with
// the function's message naming the real HelmReleaseProxy. Once the hook
// succeeds the release's objects go, the function answers retry 0 and CAPI
// deletes the Cluster: in that order.
func (c *testCluster) deleteInOrder(t *testing.T) {
	c.workload.kubelet.set("hook-predelete", hold)
	hrps := c.releaseProxies(t)
	if len(hrps) != 1 {
		t.Fatalf("want one HelmReleaseProxy for %s before deletion, got %d", c.key(), len(hrps))
	}
	releaseProxy := hrps[0].GetName()
	deleted := c.deleteCluster(t)

	eventually(t, waitFor, "helm uninstall to start hook-predelete in "+c.workload.String()+" while the Cluster waits with the function's message", func() (bool, string, error) {
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return false, "Cluster not found; " + c.deleteCallsSoFar(t), err
		}
		_, _, message, _ := condition(cl, "TopologyReconciled")
		waiting := strings.Contains(message, "waiting for Helm uninstall of konnector-agent") && strings.Contains(message, "HelmReleaseProxy "+c.namespace+"/"+releaseProxy)
		return waiting && len(c.workload.kubelet.runsOf("hook-predelete")) > 0,
			fmt.Sprintf("TopologyReconciled message %q; hook pods %v; %s", message, c.workload.kubelet.runs(), c.deleteCallsSoFar(t)), nil
	})
	calls := c.calls(t, "BeforeClusterDelete")
	if first := calls[0]; first.Outcome != "Success" || first.RetryAfterSeconds == 0 || !strings.Contains(first.Message, "started Helm uninstall of konnector-agent") {
		t.Errorf("first BeforeClusterDelete answer: want Success with retryAfterSeconds > 0 that starts the uninstall; got %s", first)
	}
	// While the hook runs, the release and its objects are still there.
	rel := c.workload.checkUninstallHeld(t)
	if cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef); cp.GetDeletionTimestamp() != nil {
		t.Errorf("CAPI deletes the control plane while BeforeClusterDelete asks to wait")
	}
	if _, ok := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster).GetAnnotations()[okToDeleteAnnotation]; ok {
		t.Errorf("Cluster %s is marked %s while the function asks to wait", c.key(), okToDeleteAnnotation)
	}
	t.Logf("while hook-predelete is held, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))

	// The hook reaches Prism Central and succeeds.
	c.workload.kubelet.set("hook-predelete", succeed)
	var objectsGone, releaseGone time.Time
	gone := c.clusterGone(t, func() {
		if objectsGone.IsZero() {
			if found, err := c.workload.get(t.Context(), &appsv1.Deployment{}, chartReleaseNamespace, "konnector-agent"); err == nil && !found {
				objectsGone = time.Now()
			}
		}
		if releaseGone.IsZero() {
			if r, err := c.workload.latestRelease(); err == nil && r == nil {
				releaseGone = time.Now()
			}
		}
	})
	runs := c.workload.kubelet.runsOf("hook-predelete")
	if len(runs) == 0 || runs[len(runs)-1].Phase != succeed {
		t.Fatalf("hook-predelete did not run to success: %v", c.workload.kubelet.runs())
	}
	ran := runs[len(runs)-1].Finished
	switch {
	case objectsGone.IsZero() || releaseGone.IsZero():
		t.Errorf("CAPI deleted Cluster %s before the release was gone from %s (Deployment gone at %v, release records gone at %v)", c.key(), c.workload, objectsGone, releaseGone)
	case !ran.Before(objectsGone) || !objectsGone.Before(gone) || !releaseGone.Before(gone):
		t.Errorf("order: hook-predelete succeeded %s, Deployment gone %s, release records gone %s, Cluster gone %s; want the hook first and the Cluster last",
			ran.Format(time.StampMilli), objectsGone.Format(time.StampMilli), releaseGone.Format(time.StampMilli), gone.Format(time.StampMilli))
	}
	calls = c.calls(t, "BeforeClusterDelete")
	last := calls[len(calls)-1]
	if last.Outcome != "Success" || last.RetryAfterSeconds != 0 || !strings.Contains(last.Message, "Konnector Agent removed") {
		t.Errorf("last BeforeClusterDelete answer: want Success, retryAfterSeconds 0, agent removed; got %s", last)
	}
	for _, call := range calls[:len(calls)-1] {
		if call.HTTPStatus != 200 || call.Outcome != "Success" || call.RetryAfterSeconds == 0 {
			t.Errorf("BeforeClusterDelete while the release is present answered %s; want Success with retryAfterSeconds > 0", call)
		}
	}
	if last.Time.Before(ran) {
		t.Errorf("BeforeClusterDelete answered retry 0 at %s, before hook-predelete succeeded at %s", last.Time.Format(time.StampMilli), ran.Format(time.StampMilli))
	}
	if ev := events(t, c.namespace, "Cluster", c.cluster); !containsPrefix(ev, "Normal KonnectorAgentUninstallStarted: ") || !containsPrefix(ev, "Normal KonnectorAgentRemoved: ") {
		t.Errorf("want KonnectorAgentUninstallStarted and KonnectorAgentRemoved events on Cluster %s; events: %q", c.key(), ev)
	}
	c.timings.add(c.cluster, "Cluster deleted -> first BeforeClusterDelete answered (retry)", deleted, calls[0].Time)
	c.timings.add(c.cluster, "Cluster deleted -> hook-predelete pod created by helm uninstall", deleted, runs[0].Seen)
	c.timings.add(c.cluster, "hook-predelete succeeded -> release objects gone", ran, objectsGone)
	c.timings.add(c.cluster, "hook-predelete succeeded -> BeforeClusterDelete answered retry 0", ran, last.Time)
	c.timings.add(c.cluster, "hook-predelete succeeded -> Cluster gone", ran, gone)
	t.Logf("after delete, %s holds: %s; hook pods %v", c.workload, c.inventory(t), c.workload.kubelet.runs())
	t.Logf("CAPI %s called, for %s: %s", cfg.capiVersion, c.key(), describeCalls(c.allCalls(t)))
}
