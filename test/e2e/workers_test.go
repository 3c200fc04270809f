package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The tests of this file build Clusters with workers (a MachineDeployment
// in their topology): CAPI's topology controller creates the
// MachineDeployment only once the control plane is stable and
// AfterControlPlaneInitialized did not fail, so whether it appears shows
// what an answer of konnector-hooks, or its absence, does to a Cluster.

// reasonNotDeployed is the Warning Event of a deploy stopped by a problem
// only a person can fix.
const reasonNotDeployed = "KonnectorAgentNotDeployed"

// notDeployedForMissingSecret are the parts of the hooks' and Sync's message
// for a Cluster whose default credentials Secret does not exist.
func notDeployedForMissingSecret(c *testCluster) []string {
	return []string{
		"the Konnector Agent is not deployed on Cluster " + c.key(),
		"Secret " + c.namespace + "/" + credentialsSecret + ": not found",
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestMissingSecret_ClusterGetsItsWorkersAndSyncDeploysAfterTheFix creates a
// Cluster with the addon on and no credentials Secret, under the default
// KONNECTOR_ON_INVALID_CONFIG=Continue: AfterControlPlaneInitialized answers
// Success saying what to fix, CAPI creates the MachineDeployment, the
// Cluster carries one Warning Event; each sync reports the Cluster failed
// and counts that Event; once the Secret exists, the next sync deploys the
// agent and CAAPH installs the release in the workload cluster.
func TestMissingSecret_ClusterGetsItsWorkersAndSyncDeploysAfterTheFix(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-missing-secret"
	setUpNamespaceWithoutCredentials(t, defaultExtension, namespace)
	c := newTestClusters(t, defaultExtension, namespace, suiteTimings, clusterSpec{"e2e-missing-secret", basicConfig})[0]
	c.workers = true
	c.provision(t)
	mdCreated := c.machineDeploymentCreated(t)
	t.Logf("with the Secret missing, %s", c.topologyState(t))

	want := notDeployedForMissingSecret(c)
	calls := c.calls(t, "AfterControlPlaneInitialized")
	for _, call := range calls {
		if !containsAll(call.Message, want) {
			t.Errorf("AfterControlPlaneInitialized answer: want a message containing %q; got %s", want, call)
		}
	}
	ev := c.onlyEvent(t, reasonNotDeployed)
	if ev.Type != "Warning" || !containsAll(ev.Message, want) || ev.Count != int64(len(calls)) {
		t.Errorf("want a Warning %s Event saying %q, counted once per AfterControlPlaneInitialized call (%d); got %s (count %d)", reasonNotDeployed, want, len(calls), ev, ev.Count)
	}
	if present := c.agentObjects(t); len(present) != 0 {
		t.Errorf("the function wrote objects for %s although its credentials Secret is missing: %s", c.key(), strings.Join(present, ", "))
	}

	// Each sync reports the Cluster failed and counts the same Event.
	for i := int64(1); i <= 2; i++ {
		a := syncCluster(t, c)
		t.Logf("sync %d with the Secret missing answered: %s", i, a)
		if a.Status != "Failure" || a.Counts.Checked != 1 || a.Counts.Failed != 1 {
			t.Errorf("sync with the Secret missing: want Failure, checked=1 failed=1; got %s", a)
		}
		a.only(t, c.key(), "failed", want...)
		if got := c.onlyEvent(t, reasonNotDeployed); got.Count != ev.Count+i {
			t.Errorf("after sync %d the %s Event's count is %d, want %d", i, reasonNotDeployed, got.Count, ev.Count+i)
		}
	}
	if present := c.agentObjects(t); len(present) != 0 {
		t.Errorf("a sync wrote objects for %s although its credentials Secret is missing: %s", c.key(), strings.Join(present, ", "))
	}

	// The fix: the first sync after it deploys the agent.
	mustCreate(t, newCredentials(namespace))
	secretCreated := time.Now()
	applied := syncCluster(t, c)
	t.Logf("sync after the Secret was created answered: %s", applied)
	if applied.Status != "Success" || applied.Counts.Checked != 1 || applied.Counts.Applied != 1 {
		t.Errorf("sync after the fix: want Success, checked=1 applied=1; got %s", applied)
	}
	applied.only(t, c.key(), "applied", "Konnector Agent applied: ")
	delivered := c.credentialsDelivered(t, credentialsSecret)
	rel := c.releaseDeployed(t, defaultChartVersion, 1)
	c.checkAgentDeployment(t, agentArgs(c.cluster))

	c.timings.add(c.cluster, "Secret missing: Cluster created -> MachineDeployment created", c.created, mdCreated)
	c.timings.add(c.cluster, "Secret missing: MachineDeployment created -> Secret created (the test, two syncs in between)", mdCreated, secretCreated)
	c.timings.add(c.cluster, "Secret missing: Secret created -> sync answered applied", secretCreated, applied.answered)
	c.timings.add(c.cluster, "Secret missing: Secret created -> credentials Secret in the workload cluster", secretCreated, delivered)
	c.timings.add(c.cluster, "Secret missing: Secret created -> agent deployed (Helm's last-deployed time)", secretCreated, rel.Info.LastDeployed.Time)
	t.Logf("after the fix, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// TestHooksUnreachable_ClusterGetsItsWorkersAndSyncDeploysWhenBack stops the
// function (its TLS proxy answers CAPI 502, as an ingress does for a Service
// that is down) and creates a Cluster with the addon on: CAPI's call of
// AfterControlPlaneInitialized fails, failurePolicy Ignore lets the Cluster
// go on and CAPI creates its MachineDeployment; once the function is started
// again, a sync deploys the agent.
func TestHooksUnreachable_ClusterGetsItsWorkersAndSyncDeploysWhenBack(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-outage"
	setUpNamespace(t, outageExtension, namespace)
	c := newTestClusters(t, outageExtension, namespace, suiteTimings, clusterSpec{"e2e-outage", basicConfig})[0]
	c.workers = true

	c.fn.stopProcess()
	c.initialize(t)
	mdCreated := c.machineDeploymentCreated(t)
	t.Logf("with konnector-hooks down, %s", c.topologyState(t))
	if pending, err := c.pendingHooks(t); err != nil || strings.Contains(pending, "AfterControlPlaneInitialized") {
		t.Errorf("CAPI created the MachineDeployment of %s but still has AfterControlPlaneInitialized pending (%q, err %v)", c.key(), pending, err)
	}
	// CAPI did call the hook, and got the proxy's 502 instead of an answer.
	acpi := c.fn.wire.where(func(e exchange) bool {
		return e.Cluster == c.key() && e.Kind == "AfterControlPlaneInitializedRequest"
	})
	if len(acpi) == 0 {
		t.Errorf("CAPI sent no AfterControlPlaneInitialized request for %s", c.key())
	}
	for _, e := range acpi {
		if e.HTTPStatus != http.StatusBadGateway {
			t.Errorf("AfterControlPlaneInitialized for %s while the function was down: want HTTP 502 from the proxy, got %d", c.key(), e.HTTPStatus)
		}
	}
	if present := c.agentObjects(t); len(present) != 0 {
		t.Errorf("objects of the addon exist for %s while the function was down: %s", c.key(), strings.Join(present, ", "))
	}

	if err := c.fn.restart(t.Context(), chartRepositorySetting()); err != nil {
		t.Fatalf("starting function %s again: %v", c.fn.name, err)
	}
	back := time.Now()
	a := postPingEvent(t, c.fn)
	t.Logf("the first sync after konnector-hooks is back answered: %s", a)
	if a.Status != "Success" || a.Counts.Checked != 1 || a.Counts.Applied != 1 {
		t.Errorf("first sync after the outage: want Success, checked=1 applied=1; got %s", a)
	}
	a.only(t, c.key(), "applied", "Konnector Agent applied: ")
	c.credentialsDelivered(t, credentialsSecret)
	rel := c.releaseDeployed(t, defaultChartVersion, 1)
	if calls := c.calls(t, "AfterControlPlaneInitialized"); len(calls) != 0 {
		t.Errorf("the function answered AfterControlPlaneInitialized for %s, which CAPI had marked done during the outage: %s", c.key(), describeCalls(calls))
	}

	c.timings.add(c.cluster, "konnector-hooks down: Cluster created -> MachineDeployment created", c.created, mdCreated)
	c.timings.add(c.cluster, "konnector-hooks down: started again -> sync answered applied", back, a.answered)
	c.timings.add(c.cluster, "konnector-hooks down: sync answered applied -> agent deployed (Helm's last-deployed time)", a.answered, rel.Info.LastDeployed.Time)
	t.Logf("after the outage, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// TestBlock_MissingSecretHoldsTheWorkersUntilItExists shows what
// KONNECTOR_ON_INVALID_CONFIG=Block costs: a Cluster with the addon on and
// no credentials Secret gets Failure answers, which CAPI retries with
// backoff, and no MachineDeployment; once the Secret exists, CAPI's next
// call succeeds, the MachineDeployment is created and the agent deployed.
func TestBlock_MissingSecretHoldsTheWorkersUntilItExists(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-block"
	setUpNamespaceWithoutCredentials(t, blockExtension, namespace)
	c := newTestClusters(t, blockExtension, namespace, suiteTimings, clusterSpec{"e2e-block", basicConfig})[0]
	c.workers = true
	c.initialize(t)

	// Three Failure answers: CAPI has reconciled the topology since the
	// control plane was initialized and retried, each time stopping before
	// the MachineDeployments.
	eventually(t, waitFor, "CAPI to call AfterControlPlaneInitialized for "+c.key()+" three times", func() (bool, string, error) {
		calls := c.calls(t, "AfterControlPlaneInitialized")
		return len(calls) >= 3, c.topologyState(t) + "; " + describeCalls(calls), nil
	})
	want := notDeployedForMissingSecret(c)
	held := c.calls(t, "AfterControlPlaneInitialized")
	for _, call := range held {
		if call.HTTPStatus != http.StatusOK || call.Outcome != "Failure" || !containsAll(call.Message, want) {
			t.Errorf("AfterControlPlaneInitialized with the Secret missing under Block: want HTTP 200 Failure saying %q; got %s", want, call)
		}
	}
	if mds := c.machineDeployments(t); len(mds) != 0 {
		t.Errorf("CAPI created %d MachineDeployments for %s while AfterControlPlaneInitialized answered Failure", len(mds), c.key())
	}
	if pending, err := c.pendingHooks(t); err != nil || !strings.Contains(pending, "AfterControlPlaneInitialized") {
		t.Errorf("AfterControlPlaneInitialized should still be pending on %s: %q (err %v)", c.key(), pending, err)
	}
	ev := c.onlyEvent(t, reasonNotDeployed)
	if ev.Type != "Warning" || !containsAll(ev.Message, want) || ev.Count < int64(len(held)) {
		t.Errorf("want one Warning %s Event saying %q, counted at least once per call (%d); got %s (count %d)", reasonNotDeployed, want, len(held), ev, ev.Count)
	}
	t.Logf("held by Block after %d calls: %s", len(held), c.topologyState(t))

	mustCreate(t, newCredentials(namespace))
	secretCreated := time.Now()
	mdCreated := c.machineDeploymentCreated(t)
	calls := c.calls(t, "AfterControlPlaneInitialized")
	last := calls[len(calls)-1]
	if last.Outcome != "Success" || !strings.Contains(last.Message, "Konnector Agent applied: ") || last.Time.Before(secretCreated) {
		t.Errorf("the AfterControlPlaneInitialized call that let the MachineDeployment be created: want Success applying the agent after the Secret was created (%s); got %s",
			secretCreated.Format("15:04:05.000"), last)
	}
	for _, call := range calls[:len(calls)-1] {
		if call.Outcome != "Failure" {
			t.Errorf("AfterControlPlaneInitialized answered %s before the last call; want only Failures before it", call)
		}
	}
	c.credentialsDelivered(t, credentialsSecret)
	rel := c.releaseDeployed(t, defaultChartVersion, 1)

	c.timings.add(c.cluster, "Block, Secret missing: Cluster created -> Secret created (no MachineDeployment meanwhile)", c.created, secretCreated)
	c.timings.add(c.cluster, "Block: Secret created -> AfterControlPlaneInitialized answered Success (CAPI's retry)", secretCreated, last.Time)
	c.timings.add(c.cluster, "Block: Secret created -> MachineDeployment created", secretCreated, mdCreated)
	c.timings.add(c.cluster, "Block: Secret created -> agent deployed (Helm's last-deployed time)", secretCreated, rel.Info.LastDeployed.Time)
	t.Logf("CAPI %s called, for %s: %s", cfg.capiVersion, c.key(), describeCalls(calls))
	t.Logf("after the fix, %s", c.topologyState(t))
}
