package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// syncPeriod is how often the test triggers a sync while the uninstall
// goes on, as a PingSource scheduled every second would.
const syncPeriod = time.Second

// TestSync_DisabledAddonIsUninstalled removes addons.konnectorAgent from
// the clusterConfig of a running Cluster whose release CAAPH deployed, and
// sends the PingSource's CloudEvent every second: the first sync deletes
// the HelmChartProxy, CAAPH runs helm uninstall whose hook-predelete (held
// by the kubelet, then let succeed) unregisters the cluster before the
// release's objects go, the syncs wait naming the real HelmReleaseProxy,
// and the last one deletes our ClusterResourceSet and resource-set Secret
// and names the credentials Secret left in the workload cluster. The
// Cluster itself is untouched.
func TestSync_DisabledAddonIsUninstalled(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-sync-disable"
	c, releaseProxyName := deployedWithOneRelease(t, disableExtension, namespace, "e2e-disable")
	releaseProxy := namespace + "/" + releaseProxyName
	cluster := mustGet(t, clusterAPIVersion, "Cluster", namespace, c.cluster)
	t.Logf("before disabling, %s holds: %s", c.workload, c.inventory(t))

	c.workload.kubelet.set("hook-predelete", hold)
	disabled := c.disableAddon(t)

	// The syncs while hook-predelete is held: the uninstall starts, then
	// waits on the real HelmReleaseProxy.
	var answers []syncAnswer
	var steps []string
	// next is when the schedule sends the next event.
	var next time.Time
	trigger := func() syncAnswer {
		next = time.Now().Add(syncPeriod)
		a := postPingEvent(t, c.fn)
		answers = append(answers, a)
		steps = append(steps, fmt.Sprintf("%s\n    workload: %s; %s", a, c.inventory(t), c.releaseState()))
		return a
	}
	first := trigger()
	if first.Status != "Success" || first.Counts.Checked != 1 || first.Counts.Uninstalling != 1 {
		t.Errorf("first sync after disabling: want Success, checked=1 uninstalling=1; got %s", first)
	}
	first.only(t, c.key(), "uninstalling", "started Helm uninstall of konnector-agent: deleted HelmChartProxy "+namespace+"/"+c.proxy)
	c.everySync(t, &next, trigger, nil, "helm uninstall to start hook-predelete in "+c.workload.String()+" while the sync waits on "+releaseProxy, func(a syncAnswer) bool {
		return len(c.workload.kubelet.runsOf("hook-predelete")) > 0 && a.Counts.Uninstalling == 1 && len(a.Clusters) == 1 &&
			strings.Contains(a.Clusters[0].Message, "waiting for Helm uninstall of konnector-agent: ") &&
			strings.Contains(a.Clusters[0].Message, "HelmReleaseProxy "+releaseProxy)
	})
	waiting := answers[len(answers)-1]
	waiting.only(t, c.key(), "uninstalling", "HelmReleaseProxy "+releaseProxy+" still present")
	c.workload.checkUninstallHeld(t)
	for _, kind := range []string{"ClusterResourceSet", "Secret"} {
		apiVersion := map[string]string{"ClusterResourceSet": crsAPIVersion, "Secret": "v1"}[kind]
		if _, found, err := get(t.Context(), apiVersion, kind, namespace, c.proxy); err != nil || !found {
			t.Errorf("%s %s/%s is gone (err %v) while the uninstall waits: the credentials must stay until the pre-delete hook ran", kind, namespace, c.proxy, err)
		}
	}

	// The hook reaches Prism Central and succeeds: the release's objects
	// go, then the syncs finish the uninstall.
	c.workload.kubelet.set("hook-predelete", succeed)
	var objectsGone time.Time
	watch := func() {
		if objectsGone.IsZero() {
			if found, err := c.workload.get(t.Context(), &appsv1.Deployment{}, chartReleaseNamespace, "konnector-agent"); err == nil && !found {
				objectsGone = time.Now()
			}
		}
	}
	c.everySync(t, &next, trigger, watch, "the sync to finish uninstalling the Konnector Agent from "+c.key(), func(a syncAnswer) bool {
		return a.Counts.Uninstalled == 1
	})
	last := answers[len(answers)-1]
	if last.Status != "Success" || last.Counts.Checked != 1 {
		t.Errorf("the sync that uninstalled: want Success, checked=1 uninstalled=1; got %s", last)
	}
	message := last.only(t, c.key(), "uninstalled",
		"Konnector Agent uninstalled from Cluster "+c.key(),
		"deleted ClusterResourceSet "+namespace+"/"+c.proxy+", Secret "+namespace+"/"+c.proxy,
		"The Secret ntnx-system/konnector-agent in the workload cluster still holds the Prism Central credentials",
		"kubectl --kubeconfig "+c.cluster+".kubeconfig delete secret -n ntnx-system konnector-agent")
	for _, a := range answers[1 : len(answers)-1] {
		if a.Status != "Success" || a.Counts.Uninstalling != 1 || len(a.Clusters) != 1 || !strings.Contains(a.Clusters[0].Message, "waiting for Helm uninstall of konnector-agent: ") {
			t.Errorf("a sync between the start and the end of the uninstall: want Success, uninstalling=1, waiting for Helm uninstall; got %s", a)
		}
	}

	runs := c.workload.kubelet.runsOf("hook-predelete")
	if len(runs) == 0 || runs[len(runs)-1].Phase != succeed {
		t.Fatalf("helm uninstall ran no hook-predelete pod to success in %s: hook pods %v", c.workload, c.workload.kubelet.runs())
	}
	ran := runs[len(runs)-1].Finished
	if objectsGone.IsZero() || !ran.Before(objectsGone) || !objectsGone.Before(last.answered) {
		t.Errorf("order: hook-predelete succeeded %s, Deployment gone %s, sync answered uninstalled %s; want them in that order",
			ran.Format(time.StampMilli), objectsGone.Format(time.StampMilli), last.answered.Format(time.StampMilli))
	}
	if rel, err := c.workload.latestRelease(); err != nil || rel != nil {
		t.Errorf("release konnector-agent is still recorded in %s after the uninstall (err %v): %s", c.workload, err, describeRelease(rel))
	}
	// What the answer says stays: the credentials Secret in the workload
	// cluster (values never shown).
	if found, err := c.workload.get(t.Context(), &corev1.Secret{}, chartReleaseNamespace, "konnector-agent"); err != nil || !found {
		t.Errorf("the answer names Secret ntnx-system/konnector-agent as left in %s, but it is not there (err %v)", c.workload, err)
	}

	// The management cluster: our objects and CAAPH's gone, the Cluster
	// untouched.
	c.agentObjectsGone(t)
	c.timings.add(c.cluster, "sync answered uninstalled -> ClusterResourceSet gone (CAPI's finalizer)", last.answered, time.Now())
	if left := c.releaseProxies(t); len(left) != 0 {
		t.Errorf("HelmReleaseProxies of %s should be gone after the uninstall: %d left", c.key(), len(left))
	}
	after := mustGet(t, clusterAPIVersion, "Cluster", namespace, c.cluster)
	if after.GetUID() != cluster.GetUID() || after.GetDeletionTimestamp() != nil {
		t.Errorf("Cluster %s must be untouched by the uninstall: uid %s -> %s, deletionTimestamp %v", c.key(), cluster.GetUID(), after.GetUID(), after.GetDeletionTimestamp())
	}
	if calls := c.calls(t, "BeforeClusterDelete"); len(calls) != 0 {
		t.Errorf("CAPI called BeforeClusterDelete for %s, which is not deleting: %s", c.key(), describeCalls(calls))
	}
	ev := events(t, namespace, "Cluster", c.cluster)
	if !containsPrefix(ev, "Normal KonnectorAgentUninstallStarted: started Helm uninstall of konnector-agent") || !containsSubstring(ev, "Warning KonnectorAgentRemoved: "+message) {
		t.Errorf("want the Normal KonnectorAgentUninstallStarted Event and the Warning KonnectorAgentRemoved Event with the sync's message on Cluster %s; events: %q", c.key(), ev)
	}

	// Done: the next sync finds the addon off and nothing of ours.
	if again := postPingEvent(t, c.fn); again.Status != "Success" || again.Counts.Checked != 1 || again.Counts.NotEnabled != 1 || len(again.Clusters) != 0 {
		t.Errorf("the sync after the uninstall: want Success, checked=1 notEnabled=1 and no Cluster listed; got %s", again)
	}

	c.timings.add(c.cluster, "addon disabled -> first sync answered uninstalling (started)", disabled, first.answered)
	c.timings.add(c.cluster, "first sync answered -> hook-predelete pod created by helm uninstall", first.answered, runs[0].Seen)
	c.timings.add(c.cluster, "hook-predelete succeeded -> release objects gone", ran, objectsGone)
	c.timings.add(c.cluster, "hook-predelete succeeded -> sync answered uninstalled (syncs every 1s)", ran, last.answered)
	t.Logf("the %d syncs after disabling the addon of %s, and what %s held after each:\n  %s", len(steps), c.key(), c.workload, strings.Join(steps, "\n  "))
	t.Logf("hook pods in %s: %v", c.workload, c.workload.kubelet.runs())
}

// disableAddon removes addons.konnectorAgent from the Cluster's
// clusterConfig, keeping the Prism Central endpoint, and returns when.
func (c *testCluster) disableAddon(t *testing.T) time.Time {
	t.Helper()
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	mergePatch(t, cluster, false, map[string]any{"spec": map[string]any{"topology": map[string]any{
		"variables": []any{map[string]any{"name": "clusterConfig", "value": map[string]any{
			"nutanix": map[string]any{"prismCentralEndpoint": map[string]any{"url": prismCentralURL}},
		}}},
	}}})
	return time.Now()
}

// everySync triggers a sync at each *next (trigger sets the one after)
// until done accepts the answer, calling watch (when not nil) at every poll
// before, so that the caller can watch the workload cluster in between.
func (c *testCluster) everySync(t *testing.T, next *time.Time, trigger func() syncAnswer, watch func(), what string, done func(syncAnswer) bool) {
	t.Helper()
	var last syncAnswer
	eventually(t, waitFor, what, func() (bool, string, error) {
		if watch != nil {
			watch()
		}
		if time.Now().Before(*next) {
			return false, "last sync: " + last.String(), nil
		}
		last = trigger()
		return done(last), fmt.Sprintf("last sync: %s; hook pods %v", last, c.workload.kubelet.runs()), nil
	})
}

// releaseState describes the agent's latest release in the workload
// cluster.
func (c *testCluster) releaseState() string {
	rel, err := c.workload.latestRelease()
	if err != nil {
		return "release: " + err.Error()
	}
	return describeRelease(rel)
}

// deployedWithOneRelease provisions a Cluster with the Basic example in a
// namespace of the extension's, waits for the credentials and the release
// in its workload cluster, and returns it with the name of its one
// HelmReleaseProxy.
func deployedWithOneRelease(t *testing.T, extension, namespace, cluster string) (*testCluster, string) {
	t.Helper()
	setUpNamespace(t, extension, namespace)
	c := newTestClusters(t, extension, namespace, suiteTimings, clusterSpec{cluster, basicConfig})[0]
	c.provision(t)
	c.credentialsDelivered(t, credentialsSecret)
	c.releaseDeployed(t, defaultChartVersion, 1)
	hrps := c.releaseProxies(t)
	if len(hrps) != 1 {
		t.Fatalf("want one HelmReleaseProxy for %s before disabling, got %d", c.key(), len(hrps))
	}
	return c, hrps[0].GetName()
}
