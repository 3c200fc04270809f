package e2e

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestSync_StuckUninstallOfADisabledAddonIsReportedNotForced disables the
// addon on a running Cluster whose chart pre-delete hook fails (Prism
// Central unreachable), with the function started with
// KONNECTOR_UNINSTALL_TIMEOUT=5s, and sends the PingSource's CloudEvent
// every second: past the timeout the sync answers uninstallStuck with
// CAAPH's reason and one counted Warning Event, and forces nothing: the
// release, the HelmChartProxy and HelmReleaseProxy with CAAPH's finalizers
// and the credentials delivery all stay. Once the hook succeeds, CAAPH's
// next retry uninstalls the release and the next sync completes the
// uninstall. (A Cluster being deleted is released after the timeout instead:
// TestBeforeClusterDelete_UninstallTimeoutReleasesAStuckDeletion.)
func TestSync_StuckUninstallOfADisabledAddonIsReportedNotForced(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-sync-stuck"
	c, releaseProxy := deployedWithOneRelease(t, stuckExtension, namespace, "e2e-sync-stuck")

	c.workload.kubelet.set("hook-predelete", fail)
	disabled := c.disableAddon(t)

	var answers []syncAnswer
	var next time.Time
	trigger := func() syncAnswer {
		next = time.Now().Add(syncPeriod)
		a := postPingEvent(t, c.fn)
		answers = append(answers, a)
		return a
	}
	defer func() {
		var lines []string
		for _, a := range answers {
			lines = append(lines, a.String())
		}
		t.Logf("CAPI %s: the %d syncs after disabling the addon of %s (hook-predelete failing, then succeeding):\n  %s", cfg.capiVersion, len(answers), c.key(), strings.Join(lines, "\n  "))
	}()
	first := trigger()
	first.only(t, c.key(), "uninstalling", "started Helm uninstall of konnector-agent: deleted HelmChartProxy "+namespace+"/"+c.proxy)
	c.everySync(t, &next, trigger, nil, "the sync to report the uninstall of "+c.key()+" stuck past KONNECTOR_UNINSTALL_TIMEOUT=5s", func(a syncAnswer) bool {
		return a.Counts.UninstallStuck == 1
	})
	stuck := answers[len(answers)-1]
	for _, a := range answers[1 : len(answers)-1] {
		if a.Status != "Success" || a.Counts.Uninstalling != 1 || len(a.Clusters) != 1 || !strings.Contains(a.Clusters[0].Message, "waiting for Helm uninstall of konnector-agent: ") {
			t.Errorf("a sync before the timeout: want Success, uninstalling=1, waiting for Helm uninstall; got %s", a)
		}
	}
	if runs := c.workload.kubelet.runsOf("hook-predelete"); len(runs) == 0 || runs[0].Phase != fail {
		t.Fatalf("helm uninstall of %s ran no failing hook-predelete pod: hook pods %v", c.key(), c.workload.kubelet.runs())
	}

	// The answer: stuck, with CAAPH's own reason.
	hrp := mustGet(t, caaphAPIVersion, "HelmReleaseProxy", namespace, releaseProxy)
	_, reason, caaphMessage, _ := condition(hrp, "HelmReleaseReady")
	if stuck.Status != "Failure" || stuck.Counts.Checked != 1 {
		t.Errorf("the stuck sync: want Failure, checked=1 uninstallStuck=1; got %s", stuck)
	}
	message := stuck.only(t, c.key(), "uninstallStuck",
		"Helm uninstall of konnector-agent from Cluster "+c.key()+" has not finished within 5s",
		"HelmReleaseProxy "+namespace+"/"+releaseProxy+" HelmReleaseDeletionFailed: ",
		"Nothing is forced on a running cluster")
	// Helm's error spans lines; the answer carries it on one line.
	if reason != "HelmReleaseDeletionFailed" || caaphMessage == "" || !strings.Contains(message, strings.Join(strings.Fields(caaphMessage), " ")) {
		t.Errorf("the stuck answer should quote CAAPH's reason on one line, HelmReleaseProxy %s HelmReleaseReady %s %q; got %q", releaseProxy, reason, caaphMessage, message)
	}

	// Each sync waits and counts the same Event; nothing is forced.
	again := trigger()
	again.only(t, c.key(), "uninstallStuck", "has not finished within 5s")
	if ev := c.onlyEvent(t, "KonnectorAgentUninstallStuck"); ev.Type != "Warning" || ev.Count != 2 || !strings.Contains(ev.Message, "has not finished within 5s") {
		t.Errorf("want one Warning KonnectorAgentUninstallStuck Event counted twice (two stuck syncs); got %s (count %d)", ev, ev.Count)
	}
	c.checkNothingForced(t, releaseProxy)
	t.Logf("while stuck, %s holds: %s; %s; hook pods %v", c.workload, c.inventory(t), c.releaseState(), c.workload.kubelet.runs())

	// Prism Central is reachable again: CAAPH's next retry of helm
	// uninstall runs the hook to success, and a sync completes.
	c.workload.kubelet.set("hook-predelete", succeed)
	fixed := time.Now()
	c.everySync(t, &next, trigger, nil, "the sync to finish uninstalling the Konnector Agent from "+c.key(), func(a syncAnswer) bool {
		return a.Counts.Uninstalled == 1
	})
	last := answers[len(answers)-1]
	if last.Status != "Success" || last.Counts.Checked != 1 {
		t.Errorf("the sync that uninstalled: want Success, checked=1 uninstalled=1; got %s", last)
	}
	last.only(t, c.key(), "uninstalled",
		"Konnector Agent uninstalled from Cluster "+c.key(),
		"deleted ClusterResourceSet "+namespace+"/"+c.proxy+", Secret "+namespace+"/"+c.proxy)
	runs := c.workload.kubelet.runsOf("hook-predelete")
	if len(runs) == 0 || runs[len(runs)-1].Phase != succeed {
		t.Fatalf("helm uninstall ran no hook-predelete pod to success in %s after the fix: hook pods %v", c.workload, c.workload.kubelet.runs())
	}
	if rel, err := c.workload.latestRelease(); err != nil || rel != nil {
		t.Errorf("release konnector-agent is still recorded in %s after the uninstall (err %v): %s", c.workload, err, describeRelease(rel))
	}
	c.agentObjectsGone(t)
	if left := c.releaseProxies(t); len(left) != 0 {
		t.Errorf("HelmReleaseProxies of %s should be gone after the uninstall: %d left", c.key(), len(left))
	}
	if calls := c.calls(t, "BeforeClusterDelete"); len(calls) != 0 {
		t.Errorf("CAPI called BeforeClusterDelete for %s, which is not deleting: %s", c.key(), describeCalls(calls))
	}

	c.timings.add(c.cluster, "stuck uninstall: addon disabled -> sync answered uninstallStuck (KONNECTOR_UNINSTALL_TIMEOUT=5s, syncs every 1s)", disabled, stuck.answered)
	c.timings.add(c.cluster, "stuck uninstall: hook-predelete let succeed -> its pod created by CAAPH's retry", fixed, runs[len(runs)-1].Seen)
	c.timings.add(c.cluster, "stuck uninstall: hook-predelete let succeed -> sync answered uninstalled (syncs every 1s)", fixed, last.answered)
}

// checkNothingForced checks what a stuck uninstall of a live Cluster keeps:
// the release and the agent in the workload cluster with the delivered
// credentials, the HelmChartProxy and the HelmReleaseProxy being deleted
// with CAAPH's finalizers, the ClusterResourceSet with CAPI's finalizer and
// its resource-set Secret, none of them being deleted, and the Cluster.
func (c *testCluster) checkNothingForced(t *testing.T, releaseProxy string) {
	t.Helper()
	rel, err := c.workload.latestRelease()
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil {
		t.Errorf("release konnector-agent is gone from %s while its uninstall is stuck", c.workload)
	}
	for _, o := range []struct {
		obj  client.Object
		name string
	}{
		{&appsv1.Deployment{}, "konnector-agent"}, {&corev1.Secret{}, "konnector-agent"},
	} {
		if found, err := c.workload.get(t.Context(), o.obj, chartReleaseNamespace, o.name); err != nil || !found {
			t.Errorf("%T %s/%s is gone from %s (err %v) while the uninstall is stuck", o.obj, chartReleaseNamespace, o.name, c.workload, err)
		}
	}
	for _, o := range []struct {
		apiVersion, kind, name string
		deleting               bool
		finalizer              bool
	}{
		{caaphAPIVersion, "HelmChartProxy", c.proxy, true, true},
		{caaphAPIVersion, "HelmReleaseProxy", releaseProxy, true, true},
		{crsAPIVersion, "ClusterResourceSet", c.proxy, false, true},
		{"v1", "Secret", c.proxy, false, false},
	} {
		obj, found, err := get(t.Context(), o.apiVersion, o.kind, c.namespace, o.name)
		switch {
		case err != nil:
			t.Fatal(err)
		case !found:
			t.Errorf("%s %s/%s is gone while the uninstall is stuck", o.kind, c.namespace, o.name)
		case (obj.GetDeletionTimestamp() != nil) != o.deleting || (o.finalizer && len(obj.GetFinalizers()) == 0):
			t.Errorf("%s %s/%s while the uninstall is stuck: want being deleted %t, with a finalizer %t; got deletionTimestamp %v, finalizers %v",
				o.kind, c.namespace, o.name, o.deleting, o.finalizer, obj.GetDeletionTimestamp(), obj.GetFinalizers())
		}
	}
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	if cluster.GetDeletionTimestamp() != nil {
		t.Errorf("Cluster %s is being deleted", c.key())
	}
}
