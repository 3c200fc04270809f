package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The tests of this file build Clusters with workers (a MachineDeployment
// in their topology). CAPI v1.12.5 creates the MachineDeployment with the
// control plane, before AfterControlPlaneInitialized is ever called, and the
// worker Machines once the control plane reports its version, so no answer
// of konnector-hooks holds them. What a failing AfterControlPlaneInitialized
// does hold is every later change of the topology, which CAPI reconciles
// after calling the hook: the tests scale the workers (replicas 1 -> 2) to
// see whether the topology controller goes on.

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

// workersGoOn checks that CAPI's topology controller goes on for the
// Cluster once AfterControlPlaneInitialized is done: a worker Machine
// exists and a change of the workers topology (replicas 1 -> 2) reaches the
// MachineDeployment. It returns when the change was made and when seen.
func (c *testCluster) workersGoOn(t *testing.T) (changed, scaled time.Time) {
	t.Helper()
	eventually(t, waitFor, "CAPI's MachineSet to create a worker Machine of "+c.key(), func() (bool, string, error) {
		return c.workerMachines(t) > 0, c.topologyState(t), nil
	})
	changed = c.scaleWorkers(t, 2)
	return changed, c.workersScaled(t, 2)
}

// TestMissingSecret_ClusterGetsItsWorkersAndSyncDeploysAfterTheFix creates a
// Cluster with the addon on, workers and no credentials Secret, under the
// default KONNECTOR_ON_INVALID_CONFIG=Continue: AfterControlPlaneInitialized
// answers Success saying what to fix, so CAPI's topology controller goes on
// (a worker Machine, a scale of the workers applied), and the Cluster
// carries one Warning Event; each sync reports the Cluster failed and counts
// that Event; once the Secret exists, the next sync deploys the agent and
// CAAPH installs the release in the workload cluster.
func TestMissingSecret_ClusterGetsItsWorkersAndSyncDeploysAfterTheFix(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-missing-secret"
	setUpNamespaceWithoutCredentials(t, defaultExtension, namespace)
	c := newTestClusters(t, defaultExtension, namespace, suiteTimings, clusterSpec{"e2e-missing-secret", basicConfig})[0]
	c.workers = true
	c.provision(t)
	changed, scaled := c.workersGoOn(t)
	t.Logf("with the Secret missing, %s; %d worker Machines", c.topologyState(t), c.workerMachines(t))

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

	c.timings.add(c.cluster, "Secret missing: workers scaled in the topology -> MachineDeployment scaled", changed, scaled)
	c.timings.add(c.cluster, "Secret missing: Cluster created -> Secret created (the test: scale, two syncs)", c.created, secretCreated)
	c.timings.add(c.cluster, "Secret missing: Secret created -> sync answered applied", secretCreated, applied.answered)
	c.timings.add(c.cluster, "Secret missing: Secret created -> credentials Secret in the workload cluster", secretCreated, delivered)
	c.timings.add(c.cluster, "Secret missing: Secret created -> agent deployed (Helm's last-deployed time)", secretCreated, rel.Info.LastDeployed.Time)
	t.Logf("after the fix, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// TestHooksUnreachable_ClusterGetsItsWorkersAndSyncDeploysWhenBack stops the
// function (its TLS proxy answers CAPI 502, as an ingress does for a Service
// that is down) and creates a Cluster with the addon on and workers: CAPI's
// call of AfterControlPlaneInitialized fails, failurePolicy Ignore marks the
// hook done and the topology controller goes on (a worker Machine, a scale
// of the workers applied); once the function is started again, a sync
// deploys the agent.
func TestHooksUnreachable_ClusterGetsItsWorkersAndSyncDeploysWhenBack(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-outage"
	setUpNamespace(t, outageExtension, namespace)
	c := newTestClusters(t, outageExtension, namespace, suiteTimings, clusterSpec{"e2e-outage", basicConfig})[0]
	c.workers = true

	c.fn.stopProcess()
	initialized := c.initialize(t)
	eventually(t, waitFor, "CAPI to mark AfterControlPlaneInitialized done for "+c.key()+" without konnector-hooks (failurePolicy Ignore)", func() (bool, string, error) {
		pending, err := c.pendingHooks(t)
		return err == nil && !strings.Contains(pending, "AfterControlPlaneInitialized"), c.topologyState(t), err
	})
	done := time.Now()
	changed, scaled := c.workersGoOn(t)
	t.Logf("with konnector-hooks down, %s; %d worker Machines", c.topologyState(t), c.workerMachines(t))
	// CAPI did call the hook, and got the proxy's 502 instead of an answer.
	requests := c.acpiRequests(t)
	if len(requests) == 0 {
		t.Errorf("CAPI sent no AfterControlPlaneInitialized request for %s", c.key())
	}
	for _, e := range requests {
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

	c.timings.add(c.cluster, "konnector-hooks down: control plane initialized -> AfterControlPlaneInitialized marked done (502, Ignore)", initialized, done)
	c.timings.add(c.cluster, "konnector-hooks down: workers scaled in the topology -> MachineDeployment scaled", changed, scaled)
	c.timings.add(c.cluster, "konnector-hooks down: started again -> sync answered applied", back, a.answered)
	c.timings.add(c.cluster, "konnector-hooks down: sync answered applied -> agent deployed (Helm's last-deployed time)", a.answered, rel.Info.LastDeployed.Time)
	t.Logf("after the outage, %s holds: %s; %s", c.workload, c.inventory(t), describeRelease(rel))
}

// TestBlock_MissingSecretHoldsTheTopologyUntilItExists shows what
// KONNECTOR_ON_INVALID_CONFIG=Block costs: a Cluster with the addon on,
// workers and no credentials Secret gets Failure answers, which CAPI
// retries with backoff; its MachineDeployment and worker Machine exist all
// the same (CAPI creates them without the hook), but a change of its
// topology (replicas 1 -> 2) is held until the Secret exists, when CAPI's
// next call succeeds, the change reaches the MachineDeployment and the agent
// is deployed.
func TestBlock_MissingSecretHoldsTheTopologyUntilItExists(t *testing.T) {
	t.Parallel()
	const namespace = "e2e-block"
	setUpNamespaceWithoutCredentials(t, blockExtension, namespace)
	c := newTestClusters(t, blockExtension, namespace, suiteTimings, clusterSpec{"e2e-block", basicConfig})[0]
	c.workers = true
	c.initialize(t)

	eventually(t, waitFor, "CAPI to call AfterControlPlaneInitialized for "+c.key()+" three times", func() (bool, string, error) {
		calls := c.calls(t, "AfterControlPlaneInitialized")
		return len(calls) >= 3, c.topologyState(t) + "; " + describeCalls(calls), nil
	})
	// What Block does not hold: CAPI's MachineDeployment (created with
	// the control plane, initialize waited for it) and MachineSet.
	eventually(t, waitFor, "CAPI's MachineSet to create a worker Machine of "+c.key()+" while AfterControlPlaneInitialized fails", func() (bool, string, error) {
		return c.workerMachines(t) > 0, c.topologyState(t), nil
	})
	// What it holds: the topology. CAPI reconciles the change, calls the
	// hook first and stops at its Failure.
	changed := c.scaleWorkers(t, 2)
	eventually(t, waitFor, "CAPI to call AfterControlPlaneInitialized for "+c.key()+" twice after the workers were scaled", func() (bool, string, error) {
		after := 0
		for _, call := range c.calls(t, "AfterControlPlaneInitialized") {
			if call.Time.After(changed) {
				after++
			}
		}
		return after >= 2, c.topologyState(t), nil
	})
	if got := c.workersReplicas(t); got != 1 {
		t.Errorf("the MachineDeployment of %s was scaled to %d while AfterControlPlaneInitialized answered Failure", c.key(), got)
	}
	want := notDeployedForMissingSecret(c)
	held := c.calls(t, "AfterControlPlaneInitialized")
	for _, call := range held {
		if call.HTTPStatus != http.StatusOK || call.Outcome != "Failure" || !containsAll(call.Message, want) {
			t.Errorf("AfterControlPlaneInitialized with the Secret missing under Block: want HTTP 200 Failure saying %q; got %s", want, call)
		}
	}
	if pending, err := c.pendingHooks(t); err != nil || !strings.Contains(pending, "AfterControlPlaneInitialized") {
		t.Errorf("AfterControlPlaneInitialized should still be pending on %s: %q (err %v)", c.key(), pending, err)
	}
	ev := c.onlyEvent(t, reasonNotDeployed)
	if ev.Type != "Warning" || !containsAll(ev.Message, want) || ev.Count < int64(len(held)) {
		t.Errorf("want one Warning %s Event saying %q, counted at least once per call (%d); got %s (count %d)", reasonNotDeployed, want, len(held), ev, ev.Count)
	}
	t.Logf("held by Block after %d calls: %s; %d worker Machines", len(held), c.topologyState(t), c.workerMachines(t))

	mustCreate(t, newCredentials(namespace))
	secretCreated := time.Now()
	scaled := c.workersScaled(t, 2)
	calls := c.calls(t, "AfterControlPlaneInitialized")
	last := calls[len(calls)-1]
	if last.Outcome != "Success" || !strings.Contains(last.Message, "Konnector Agent applied: ") || last.Time.Before(secretCreated) {
		t.Errorf("the AfterControlPlaneInitialized call that let the topology go on: want Success applying the agent after the Secret was created (%s); got %s",
			secretCreated.Format("15:04:05.000"), last)
	}
	for _, call := range calls[:len(calls)-1] {
		if call.Outcome != "Failure" {
			t.Errorf("AfterControlPlaneInitialized answered %s before the last call; want only Failures before it", call)
		}
	}
	c.credentialsDelivered(t, credentialsSecret)
	rel := c.releaseDeployed(t, defaultChartVersion, 1)

	c.timings.add(c.cluster, "Block: workers scaled in the topology -> Secret created (the change held)", changed, secretCreated)
	c.timings.add(c.cluster, "Block: Secret created -> AfterControlPlaneInitialized answered Success (CAPI's retry)", secretCreated, last.Time)
	c.timings.add(c.cluster, "Block: Secret created -> MachineDeployment scaled", secretCreated, scaled)
	c.timings.add(c.cluster, "Block: Secret created -> agent deployed (Helm's last-deployed time)", secretCreated, rel.Info.LastDeployed.Time)
	t.Logf("CAPI %s called, for %s: %s", cfg.capiVersion, c.key(), describeCalls(calls))
	t.Logf("after the fix, %s", c.topologyState(t))
}
