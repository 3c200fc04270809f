package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

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
	waitFor = 90 * time.Second
)

// TestClusterLifecycle drives a ClusterClass-based Cluster through creation,
// upgrade and deletion with CAPI calling the function at each hook.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	c := newLifecycle(t, defaultExtension, "e2e-lifecycle", "e2e-lifecycle")

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"AfterControlPlaneInitialized_DeploysTheAgentOnceTheControlPlaneIsInitialized", c.provision},
		{"BeforeClusterUpgrade_IsAnsweredSuccessAndTheUpgradeProceeds", c.upgrade},
		{"BeforeClusterDelete_HoldsDeletionWhileTheHelmReleaseIsUninstalling", c.deleteAndHold},
		{"BeforeClusterDelete_LetsTheClusterGoOnceTheReleaseIsGone", c.releaseAndFinishDeletion},
		{"CAPIRequestsAndAnswersFollowTheRuntimeSDKProtocol", func(t *testing.T) { checkWire(t, c.fn, c.key()) }},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

// TestBeforeClusterDelete_UninstallTimeoutReleasesAStuckDeletion deletes a
// Cluster whose Helm release never finishes uninstalling (nobody releases
// CAAPH's finalizers), with the function started with
// KONNECTOR_UNINSTALL_TIMEOUT=5s: the function releases the finalizers
// itself and CAPI deletes the Cluster.
func TestBeforeClusterDelete_UninstallTimeoutReleasesAStuckDeletion(t *testing.T) {
	t.Parallel()
	c := newLifecycle(t, timeoutExtension, "e2e-uninstall-timeout", "e2e-stuck")
	if !t.Run("provision", c.provision) {
		return
	}
	c.holdWithCAAPHFinalizers(t)
	c.deleteCluster(t)

	eventually(t, waitFor, "Cluster "+c.key()+" to be deleted after the uninstall timeout", func() (bool, string, error) {
		_, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		return !found, "Cluster still present; " + c.deleteCallsSoFar(t), err
	})

	calls := c.calls(t, "BeforeClusterDelete")
	if len(calls) == 0 {
		t.Fatalf("Cluster %s was deleted without a BeforeClusterDelete call", c.key())
	}
	last := calls[len(calls)-1]
	if last.Outcome != "Success" || last.RetryAfterSeconds != 0 || !strings.Contains(last.Message, "did not finish within 5s") ||
		!strings.Contains(last.Message, "may still be registered in Prism Central") {
		t.Errorf("last BeforeClusterDelete answer: want Success, retryAfterSeconds 0 and the timeout message; got %s", last)
	}
	for _, kind := range []string{"HelmChartProxy", "HelmReleaseProxy"} {
		name := c.proxy
		if kind == "HelmReleaseProxy" {
			name = c.releaseProxy
		}
		if _, found, err := get(t.Context(), caaphAPIVersion, kind, c.namespace, name); err != nil || found {
			t.Errorf("%s %s/%s should be gone after the timeout (err %v)", kind, c.namespace, name, err)
		}
	}
	if ev := events(t, c.namespace, "Cluster", c.cluster); !containsPrefix(ev, "Warning KonnectorAgentUninstallTimedOut: ") {
		t.Errorf("no Warning KonnectorAgentUninstallTimedOut event on Cluster %s; events: %q", c.key(), ev)
	}
	t.Logf("CAPI %s called %s", cfg.capiVersion, describeCalls(c.allCalls(t)))
	checkWire(t, c.fn, c.key())
}

// lifecycle is one Cluster in its own namespace, whose namespace label
// selects the function CAPI calls for it.
type lifecycle struct {
	fn                   *function
	namespace, cluster   string
	proxy, releaseProxy  string
	infraRef, controlRef string
}

func newLifecycle(t *testing.T, extension, namespace, cluster string) *lifecycle {
	c := &lifecycle{fn: functions[extension], namespace: namespace, cluster: cluster, proxy: "konnector-agent-" + cluster}
	mustCreate(t, newNamespace(namespace, extension), newCredentials(namespace))
	mustCreate(t, newClusterClass(namespace)...)
	// CAPI's ClusterClass controller must have reconciled the class (its
	// VariablesReady condition and observedGeneration) before the topology
	// controller builds Clusters from it and the Cluster webhook checks
	// their variables against it.
	eventually(t, waitFor, "ClusterClass "+namespace+"/"+className+" to be reconciled", func() (bool, string, error) {
		cc, found, err := get(t.Context(), clusterAPIVersion, "ClusterClass", namespace, className)
		if err != nil || !found {
			return false, "not found", err
		}
		status, reason, message, _ := condition(cc, "VariablesReady")
		observed, _, _ := unstructured.NestedInt64(cc.Object, "status", "observedGeneration")
		return status == "True" && observed == cc.GetGeneration(), fmt.Sprintf("VariablesReady=%q %s %s, observedGeneration %d", status, reason, message, observed), nil
	})
	return c
}

func (c *lifecycle) key() string { return c.namespace + "/" + c.cluster }

func (c *lifecycle) allCalls(t *testing.T) []hookCall {
	t.Helper()
	calls, err := c.fn.calls(c.key())
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

func (c *lifecycle) calls(t *testing.T, hook string) []hookCall {
	t.Helper()
	return callsOf(c.allCalls(t), hook)
}

func (c *lifecycle) deleteCallsSoFar(t *testing.T) string {
	return "BeforeClusterDelete calls: " + describeCalls(c.calls(t, "BeforeClusterDelete"))
}

// provision creates the Cluster, plays the infrastructure and control plane
// providers, and checks that CAPI calls AfterControlPlaneInitialized only
// once the control plane is initialized, and that the function's objects
// appear.
func (c *lifecycle) provision(t *testing.T) {
	mustCreate(t, newCluster(c.namespace, c.cluster, fromVersion))

	// The topology controller creates the infrastructure cluster and the
	// control plane from the class's templates and references them.
	eventually(t, waitFor, "the topology controller to create the Cluster's infrastructure and control plane", func() (bool, string, error) {
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return false, "Cluster not found", err
		}
		c.infraRef, _, _ = unstructured.NestedString(cl.Object, "spec", "infrastructureRef", "name")
		c.controlRef, _, _ = unstructured.NestedString(cl.Object, "spec", "controlPlaneRef", "name")
		_, _, msg, _ := condition(cl, "TopologyReconciled")
		return c.infraRef != "" && c.controlRef != "", "TopologyReconciled: " + msg, nil
	})

	// The infrastructure provider reports its cluster provisioned.
	infra := mustGet(t, infraAPIVersion, "E2EInfraCluster", c.namespace, c.infraRef)
	mergePatch(t, infra, true, map[string]any{"status": map[string]any{"initialization": map[string]any{"provisioned": true}}})

	// Not initialized yet: CAPI must not have called the hook.
	if calls := c.calls(t, "AfterControlPlaneInitialized"); len(calls) > 0 {
		t.Fatalf("CAPI called AfterControlPlaneInitialized before the control plane was initialized: %s", describeCalls(calls))
	}
	cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef)
	if v, _, _ := unstructured.NestedString(cp.Object, "spec", "version"); v != fromVersion {
		t.Fatalf("control plane spec.version %q, want %q from the topology", v, fromVersion)
	}
	// The control plane provider reports the control plane initialized.
	mergePatch(t, cp, true, map[string]any{"status": map[string]any{
		"initialization": map[string]any{"controlPlaneInitialized": true},
		"version":        fromVersion,
	}})

	eventually(t, waitFor, "CAPI to call AfterControlPlaneInitialized and accept the answer", func() (bool, string, error) {
		calls := c.calls(t, "AfterControlPlaneInitialized")
		cl, _, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || cl == nil {
			return false, describeCalls(calls), err
		}
		pending := cl.GetAnnotations()[pendingHooksAnnotation]
		ok := len(calls) > 0 && calls[len(calls)-1].Outcome == "Success" && !strings.Contains(pending, "AfterControlPlaneInitialized")
		return ok, fmt.Sprintf("pending-hooks %q; %s", pending, describeCalls(calls)), nil
	})
	for _, call := range c.calls(t, "AfterControlPlaneInitialized") {
		if call.HTTPStatus != 200 || call.Outcome != "Success" {
			t.Errorf("AfterControlPlaneInitialized answered %s", call)
		}
	}

	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	crs := mustGet(t, crsAPIVersion, "ClusterResourceSet", c.namespace, c.proxy)
	secret := mustGet(t, "v1", "Secret", c.namespace, c.proxy)
	for _, obj := range []*unstructured.Unstructured{hcp, crs, secret} {
		checkOwnedByCluster(t, obj, cluster)
	}
	if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != "addons.cluster.x-k8s.io/resource-set" {
		t.Errorf("Secret %s/%s type %q, want addons.cluster.x-k8s.io/resource-set", c.namespace, c.proxy, typ)
	}
	// CAAPH selects clusters by the HelmChartProxy's clusterSelector: the
	// labels CAPI put on the Cluster must match it.
	selector, _, _ := unstructured.NestedStringMap(hcp.Object, "spec", "clusterSelector", "matchLabels")
	if len(selector) == 0 {
		t.Errorf("HelmChartProxy %s has an empty clusterSelector.matchLabels", c.proxy)
	}
	for k, v := range selector {
		if cluster.GetLabels()[k] != v {
			t.Errorf("HelmChartProxy %s clusterSelector %v does not select Cluster %s with labels %v: CAAPH would never install the agent", c.proxy, selector, c.key(), cluster.GetLabels())
		}
	}
	if ev := events(t, c.namespace, "Cluster", c.cluster); !containsPrefix(ev, "Normal KonnectorAgentApplied: ") {
		t.Errorf("no KonnectorAgentApplied event on Cluster %s; events: %q", c.key(), ev)
	}
}

func checkOwnedByCluster(t *testing.T, obj, cluster *unstructured.Unstructured) {
	t.Helper()
	owned := false
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Kind == "Cluster" && ref.Name == cluster.GetName() && ref.UID == cluster.GetUID() {
			owned = true
		}
	}
	if !owned {
		t.Errorf("%s %s/%s has no owner reference to Cluster %s (uid %s): %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), cluster.GetName(), cluster.GetUID(), obj.GetOwnerReferences())
	}
	labels := obj.GetLabels()
	for k, v := range map[string]string{clusterNameLabel: cluster.GetName(), "app.kubernetes.io/managed-by": "konnector-hooks"} {
		if labels[k] != v {
			t.Errorf("%s %s/%s label %s=%q, want %q (labels %v)", obj.GetKind(), obj.GetNamespace(), obj.GetName(), k, labels[k], v, slices.Sorted(maps.Keys(labels)))
		}
	}
}

// upgrade changes spec.topology.version: CAPI calls BeforeClusterUpgrade,
// and on Success with retryAfterSeconds 0 moves the control plane to the
// new version. The HelmChartProxy drifted before: the hook brings it back.
func (c *lifecycle) upgrade(t *testing.T) {
	hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	chartVersion, _, _ := unstructured.NestedString(hcp.Object, "spec", "version")
	mergePatch(t, hcp, false, map[string]any{"spec": map[string]any{"version": "0.0.1-drifted"}})

	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
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
	for _, call := range c.calls(t, "BeforeClusterUpgrade") {
		if call.HTTPStatus != 200 || call.Outcome != "Success" || call.RetryAfterSeconds != 0 {
			t.Errorf("BeforeClusterUpgrade answered %s; want Success with retryAfterSeconds 0", call)
		}
	}
	hcp = mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	if v, _, _ := unstructured.NestedString(hcp.Object, "spec", "version"); v != chartVersion {
		t.Errorf("HelmChartProxy %s spec.version %q after BeforeClusterUpgrade, want %q restored", c.proxy, v, chartVersion)
	}
	// The control plane provider finishes the upgrade.
	cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef)
	mergePatch(t, cp, true, map[string]any{"status": map[string]any{"version": toVersion}})
}

// holdWithCAAPHFinalizers plays CAAPH: its finalizer on the HelmChartProxy
// and a HelmReleaseProxy made from it, with CAAPH's labels and finalizer.
func (c *lifecycle) holdWithCAAPHFinalizers(t *testing.T) {
	hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	mergePatch(t, hcp, false, map[string]any{"metadata": map[string]any{"finalizers": []string{helmChartProxyFinalizer}}})
	hrp := newHelmReleaseProxy(c.namespace, c.cluster, c.proxy)
	mustCreate(t, hrp)
	c.releaseProxy = hrp.GetName()
}

func (c *lifecycle) deleteCluster(t *testing.T) {
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	if err := mgmt.client.Delete(t.Context(), cluster); err != nil {
		t.Fatalf("deleting Cluster %s: %v", c.key(), err)
	}
}

// deleteAndHold deletes the Cluster while CAAPH's finalizers are held: CAPI
// calls BeforeClusterDelete, the function deletes the HelmChartProxy and
// asks CAPI to wait, and CAPI shows the function's message on the Cluster
// and keeps it and its control plane.
func (c *lifecycle) deleteAndHold(t *testing.T) {
	c.holdWithCAAPHFinalizers(t)
	c.deleteCluster(t)

	eventually(t, waitFor, "CAPI to call BeforeClusterDelete and show the function's waiting message on the Cluster", func() (bool, string, error) {
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return false, "Cluster not found; " + c.deleteCallsSoFar(t), err
		}
		_, _, message, _ := condition(cl, "TopologyReconciled")
		return strings.Contains(message, "waiting for Helm uninstall of konnector-agent"),
			fmt.Sprintf("TopologyReconciled message %q; %s", message, c.deleteCallsSoFar(t)), nil
	})

	calls := c.calls(t, "BeforeClusterDelete")
	if first := calls[0]; first.Outcome != "Success" || first.RetryAfterSeconds == 0 || !strings.Contains(first.Message, "started Helm uninstall of konnector-agent") {
		t.Errorf("first BeforeClusterDelete answer: want Success with retryAfterSeconds > 0 that starts the uninstall; got %s", first)
	}
	for _, call := range calls {
		if call.HTTPStatus != 200 || call.Outcome != "Success" || call.RetryAfterSeconds == 0 {
			t.Errorf("BeforeClusterDelete while the release is present answered %s; want Success with retryAfterSeconds > 0", call)
		}
	}
	hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	if hcp.GetDeletionTimestamp() == nil {
		t.Errorf("HelmChartProxy %s/%s is not being deleted", c.namespace, c.proxy)
	}
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	if _, ok := cluster.GetAnnotations()[okToDeleteAnnotation]; ok {
		t.Errorf("Cluster %s is marked %s while the function asks to wait", c.key(), okToDeleteAnnotation)
	}
	if cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef); cp.GetDeletionTimestamp() != nil {
		t.Errorf("CAPI deletes the control plane while BeforeClusterDelete asks to wait")
	}
}

// releaseAndFinishDeletion plays CAAPH finishing the uninstall: the release
// proxy goes and the finalizers are removed. The next BeforeClusterDelete
// answers Success with retryAfterSeconds 0 and CAPI deletes the Cluster.
func (c *lifecycle) releaseAndFinishDeletion(t *testing.T) {
	hrp := mustGet(t, caaphAPIVersion, "HelmReleaseProxy", c.namespace, c.releaseProxy)
	if err := mgmt.client.Delete(t.Context(), hrp); err != nil {
		t.Fatal(err)
	}
	mergePatch(t, hrp, false, map[string]any{"metadata": map[string]any{"finalizers": nil}})
	hcp := mustGet(t, caaphAPIVersion, "HelmChartProxy", c.namespace, c.proxy)
	mergePatch(t, hcp, false, map[string]any{"metadata": map[string]any{"finalizers": nil}})

	eventually(t, waitFor, "CAPI to delete Cluster "+c.key(), func() (bool, string, error) {
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return !found, "", err
		}
		_, _, message, _ := condition(cl, "Deleting")
		return false, fmt.Sprintf("Cluster present, Deleting: %q; %s", message, c.deleteCallsSoFar(t)), nil
	})
	calls := c.calls(t, "BeforeClusterDelete")
	if len(calls) == 0 {
		t.Fatalf("Cluster %s was deleted without a BeforeClusterDelete call", c.key())
	}
	if last := calls[len(calls)-1]; last.Outcome != "Success" || last.RetryAfterSeconds != 0 || !strings.Contains(last.Message, "Konnector Agent removed") {
		t.Errorf("last BeforeClusterDelete answer: want Success, retryAfterSeconds 0, agent removed; got %s", last)
	}
	for kind, ref := range map[string]string{"E2EControlPlane": c.controlRef, "E2EInfraCluster": c.infraRef} {
		apiVersion := controlPlaneAPIVersion
		if kind == "E2EInfraCluster" {
			apiVersion = infraAPIVersion
		}
		if _, found, err := get(t.Context(), apiVersion, kind, c.namespace, ref); err != nil || found {
			t.Errorf("%s %s/%s should have been deleted by CAPI with the Cluster (err %v)", kind, c.namespace, ref, err)
		}
	}
	if ev := events(t, c.namespace, "Cluster", c.cluster); !containsPrefix(ev, "Normal KonnectorAgentUninstallStarted: ") || !containsPrefix(ev, "Normal KonnectorAgentRemoved: ") {
		t.Errorf("want KonnectorAgentUninstallStarted and KonnectorAgentRemoved events on Cluster %s; events: %q", c.key(), ev)
	}
	t.Logf("CAPI %s called %s", cfg.capiVersion, describeCalls(c.allCalls(t)))
}
