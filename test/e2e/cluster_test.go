package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// testCluster is one ClusterClass-based Cluster on the management cluster
// with its own workload API server. The test plays its infrastructure and
// control plane providers; CAPI, CAAPH and the function do the rest.
type testCluster struct {
	fn                   *function
	namespace, cluster   string
	proxy                string
	clusterConfig        string
	workload             *workloadCluster
	infraRef, controlRef string
	timings              *timings
	// workers: the Cluster's topology asks for a MachineDeployment
	// (workersName) of the class's workers class.
	workers bool
	// created is when the test created the Cluster.
	created time.Time
}

// setUpNamespace creates a namespace whose label selects the function CAPI
// calls for its Clusters, the default credentials Secret and the
// ClusterClass, and waits for CAPI to have reconciled the class.
func setUpNamespace(t *testing.T, extension, namespace string) {
	t.Helper()
	setUpNamespaceWithoutCredentials(t, extension, namespace)
	mustCreate(t, newCredentials(namespace))
}

// setUpNamespaceWithoutCredentials is setUpNamespace without the default
// credentials Secret, which a test creates later.
func setUpNamespaceWithoutCredentials(t *testing.T, extension, namespace string) {
	t.Helper()
	if installed != nil {
		if _, found, err := get(t.Context(), "v1", "Namespace", "", namespace); err != nil || found {
			t.Fatalf("namespace %s is left on the management cluster %s by an earlier run (%v): delete it (kubectl delete namespace %s; a Cluster in it whose workload API server is gone needs its finalizers removed), or run on a new cluster",
				namespace, cfg.managementKubeconfig, err, namespace)
		}
	}
	mustCreate(t, newNamespace(namespace, extension))
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
}

// clusterSpec names a Cluster to create and its clusterConfig variable.
type clusterSpec struct{ name, config string }

// newTestClusters starts the workload API servers of Clusters to be
// created in the namespace, each with its clusterConfig.
func newTestClusters(t *testing.T, extension, namespace string, tm *timings, specs ...clusterSpec) []*testCluster {
	t.Helper()
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	workloads := startWorkloadClusters(t, names...)
	if installed != nil {
		// Registered after the workload API servers' cleanup, so it runs
		// before they stop.
		t.Cleanup(func() { removeFromManagementCluster(t, namespace, names) })
	}
	var out []*testCluster
	for _, s := range specs {
		out = append(out, &testCluster{
			fn: functions[extension], namespace: namespace, cluster: s.name, proxy: "konnector-agent-" + s.name,
			clusterConfig: s.config, workload: workloads[s.name], timings: tm,
		})
	}
	return out
}

// removeFromManagementCluster deletes what a test left on a real
// management cluster, which outlives the suite (the installed mode): its
// Clusters, through CAPI (BeforeClusterDelete, CAAPH's uninstall in their
// workload clusters, still up), then its namespace.
func removeFromManagementCluster(t *testing.T, namespace string, clusters []string) {
	ctx := context.Background()
	for _, name := range clusters {
		cl, found, err := get(ctx, clusterAPIVersion, "Cluster", namespace, name)
		if err != nil {
			t.Errorf("removing Cluster %s/%s: %v", namespace, name, err)
			continue
		}
		if found {
			if err := client.IgnoreNotFound(mgmt.client.Delete(ctx, cl)); err != nil {
				t.Errorf("deleting Cluster %s/%s: %v", namespace, name, err)
			}
		}
	}
	ns := object("v1", "Namespace", "", namespace, nil)
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, name := range clusters {
			if _, found, err := get(ctx, clusterAPIVersion, "Cluster", namespace, name); err != nil || found {
				return false, err
			}
		}
		if err := client.IgnoreNotFound(mgmt.client.Delete(ctx, ns)); err != nil {
			return false, err
		}
		_, found, err := get(ctx, "v1", "Namespace", "", namespace)
		return !found, err
	})
	if err != nil {
		t.Errorf("removing the Clusters %v and namespace %s from the management cluster: %v (kubectl get clusters,namespace -n %s)", clusters, namespace, err, namespace)
	}
}

func (c *testCluster) key() string { return c.namespace + "/" + c.cluster }

func (c *testCluster) allCalls(t *testing.T) []hookCall {
	t.Helper()
	calls, err := c.fn.calls(c.key())
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

func (c *testCluster) calls(t *testing.T, hook string) []hookCall {
	t.Helper()
	return callsOf(c.allCalls(t), hook)
}

func (c *testCluster) deleteCallsSoFar(t *testing.T) string {
	return "BeforeClusterDelete calls: " + describeCalls(c.calls(t, "BeforeClusterDelete"))
}

// provision creates the Cluster and plays its providers (initialize), then
// returns once CAPI has called AfterControlPlaneInitialized and accepted the
// answer, which must not happen before the control plane is initialized.
func (c *testCluster) provision(t *testing.T) {
	t.Helper()
	initialized := c.initialize(t)
	eventually(t, waitFor, "CAPI to call AfterControlPlaneInitialized for "+c.key()+" and accept the answer", func() (bool, string, error) {
		calls := c.calls(t, "AfterControlPlaneInitialized")
		pending, err := c.pendingHooks(t)
		if err != nil {
			return false, describeCalls(calls), err
		}
		ok := len(calls) > 0 && calls[len(calls)-1].Outcome == "Success" && !strings.Contains(pending, "AfterControlPlaneInitialized")
		return ok, fmt.Sprintf("pending-hooks %q; %s", pending, describeCalls(calls)), nil
	})
	calls := c.calls(t, "AfterControlPlaneInitialized")
	for _, call := range calls {
		if call.HTTPStatus != 200 || call.Outcome != "Success" {
			t.Errorf("AfterControlPlaneInitialized answered %s", call)
		}
	}
	c.timings.add(c.cluster, "control plane initialized -> AfterControlPlaneInitialized answered Success", initialized, calls[len(calls)-1].Time)
}

// initialize creates the Cluster and plays its providers: the control
// plane provider writes the <cluster>-kubeconfig Secret pointing at the
// workload API server and sets the endpoint, the infrastructure is
// provisioned, then, for a Cluster with workers once CAPI has created its
// MachineDeployment, the control plane reports itself initialized and at its
// version (status.version: provisioned and not upgrading). It returns when
// the control plane was reported initialized, and fails if CAPI called
// AfterControlPlaneInitialized before.
func (c *testCluster) initialize(t *testing.T) time.Time {
	t.Helper()
	// The control plane provider's kubeconfig is written before the
	// Cluster: CAPI's ClusterCache connects as soon as the infrastructure
	// is provisioned, reading the Secret from its informer cache, and after
	// a failed connect (Secret not yet in that cache) it waits 30s before
	// trying again, which would only slow the ClusterResourceSet down.
	secret, err := c.workload.kubeconfigSecret(c.namespace, c.cluster)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, secret)
	c.created = time.Now()
	mustCreate(t, newCluster(c.namespace, c.cluster, fromVersion, c.clusterConfig, c.workers))

	// The topology controller creates the infrastructure cluster and the
	// control plane from the class's templates and references them.
	eventually(t, waitFor, "the topology controller to create the infrastructure and control plane of "+c.key(), func() (bool, string, error) {
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return false, "Cluster not found", err
		}
		c.infraRef, _, _ = unstructured.NestedString(cl.Object, "spec", "infrastructureRef", "name")
		c.controlRef, _, _ = unstructured.NestedString(cl.Object, "spec", "controlPlaneRef", "name")
		_, _, msg, _ := condition(cl, "TopologyReconciled")
		return c.infraRef != "" && c.controlRef != "", "TopologyReconciled: " + msg, nil
	})

	// The control plane provider's endpoint, then the infrastructure.
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	mergePatch(t, cluster, false, map[string]any{"spec": map[string]any{"controlPlaneEndpoint": map[string]any{
		"host": c.workload.host, "port": c.workload.port,
	}}})
	infra := mustGet(t, infraAPIVersion, "E2EInfraCluster", c.namespace, c.infraRef)
	mergePatch(t, infra, true, map[string]any{"status": map[string]any{"initialization": map[string]any{"provisioned": true}}})
	if c.workers {
		// CAPI creates the MachineDeployment with the control plane,
		// before the control plane is initialized and so before
		// AfterControlPlaneInitialized (see machineDeploymentCreated).
		c.machineDeploymentCreated(t)
		c.timings.add(c.cluster, "Cluster created -> MachineDeployment created (before the control plane is initialized)", c.created, time.Now())
	}
	if requests := c.acpiRequests(t); len(requests) > 0 {
		t.Fatalf("CAPI called AfterControlPlaneInitialized for %s before the control plane was initialized: %d requests", c.key(), len(requests))
	}
	cp := mustGet(t, controlPlaneAPIVersion, "E2EControlPlane", c.namespace, c.controlRef)
	mergePatch(t, cp, true, map[string]any{"status": map[string]any{
		"initialization": map[string]any{"controlPlaneInitialized": true},
		"version":        fromVersion,
	}})
	initialized := time.Now()
	c.timings.add(c.cluster, "Cluster created -> control plane initialized (the test as provider)", c.created, initialized)
	return initialized
}

// acpiRequests are the AfterControlPlaneInitialized requests CAPI sent for
// the Cluster, as its function's TLS proxy saw them: answered or not.
//
// In the installed mode there is no proxy: the calls the install's pods
// logged stand for them.
func (c *testCluster) acpiRequests(t *testing.T) []exchange {
	if c.fn.wire == nil {
		var out []exchange
		for _, call := range c.calls(t, "AfterControlPlaneInitialized") {
			out = append(out, exchange{Time: call.Time, Kind: "AfterControlPlaneInitializedRequest", Cluster: c.key(), HTTPStatus: call.HTTPStatus})
		}
		return out
	}
	return c.fn.wire.where(func(e exchange) bool {
		return e.Cluster == c.key() && e.Kind == "AfterControlPlaneInitializedRequest"
	})
}

// pendingHooks is the Cluster's annotation of the hooks CAPI still has to
// call with success.
func (c *testCluster) pendingHooks(t *testing.T) (string, error) {
	cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	switch {
	case err != nil:
		return "", err
	case !found:
		return "", fmt.Errorf("Cluster %s not found", c.key())
	}
	return cl.GetAnnotations()[pendingHooksAnnotation], nil
}

// machineDeployments lists the Cluster's MachineDeployments.
func (c *testCluster) machineDeployments(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(clusterAPIVersion)
	list.SetKind("MachineDeploymentList")
	if err := mgmt.client.List(t.Context(), list, client.InNamespace(c.namespace), client.MatchingLabels{clusterNameLabel: c.cluster}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// machineDeploymentCreated waits for CAPI's topology controller to have
// created the Cluster's MachineDeployment of the workers topology, and
// returns it. CAPI (v1.12.5, and v1.14.2 as the tests show) creates it in
// the reconcile that creates the control plane: the control plane does not
// exist yet, so it is not "provisioning" and counts as stable
// (computeControlPlaneVersion in exp/topology/desiredstate returns before
// it marks it); the worker Machines then wait for the MachineSet's
// ControlPlaneIsStable preflight check (status.version), none of it for
// AfterControlPlaneInitialized.
func (c *testCluster) machineDeploymentCreated(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	eventually(t, waitFor, "CAPI's topology controller to create the MachineDeployment "+workersName+" of "+c.key(), func() (bool, string, error) {
		for _, md := range c.machineDeployments(t) {
			if md.GetLabels()[machineDeploymentTopologyLabel] == workersName {
				found = &md
				return true, "", nil
			}
		}
		return false, c.topologyState(t), nil
	})
	return found
}

// workersReplicas is the spec.replicas of the Cluster's MachineDeployment.
func (c *testCluster) workersReplicas(t *testing.T) int64 {
	t.Helper()
	replicas, _, _ := unstructured.NestedInt64(c.machineDeploymentCreated(t).Object, "spec", "replicas")
	return replicas
}

// scaleWorkers changes the replicas of the Cluster's workers topology: a
// topology change that CAPI's topology controller carries to the
// MachineDeployment, unless AfterControlPlaneInitialized fails.
func (c *testCluster) scaleWorkers(t *testing.T, replicas int64) time.Time {
	t.Helper()
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	mergePatch(t, cluster, false, map[string]any{"spec": map[string]any{"topology": map[string]any{
		"workers": map[string]any{"machineDeployments": []any{map[string]any{
			"class": workerClass, "name": workersName, "replicas": replicas,
		}}},
	}}})
	return time.Now()
}

// workersScaled waits for CAPI's topology controller to have set the
// MachineDeployment's replicas, and returns when it saw it.
func (c *testCluster) workersScaled(t *testing.T, replicas int64) time.Time {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("CAPI's topology controller to scale the MachineDeployment of %s to %d", c.key(), replicas), func() (bool, string, error) {
		got := c.workersReplicas(t)
		return got == replicas, fmt.Sprintf("spec.replicas %d; %s", got, c.topologyState(t)), nil
	})
	return time.Now()
}

// workerMachines counts the Cluster's Machines made by a MachineDeployment.
func (c *testCluster) workerMachines(t *testing.T) int {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(clusterAPIVersion)
	list.SetKind("MachineList")
	if err := mgmt.client.List(t.Context(), list, client.InNamespace(c.namespace), client.MatchingLabels{clusterNameLabel: c.cluster}, client.HasLabels{machineDeploymentNameLabel}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// topologyState describes the Cluster's TopologyReconciled condition and
// pending hooks, for failure messages and logs.
func (c *testCluster) topologyState(t *testing.T) string {
	cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	if err != nil || !found {
		return fmt.Sprintf("Cluster %s not found (%v)", c.key(), err)
	}
	status, reason, message, _ := condition(cl, "TopologyReconciled")
	return fmt.Sprintf("%d MachineDeployments; pending-hooks %q; TopologyReconciled=%s %s: %s",
		len(c.machineDeployments(t)), cl.GetAnnotations()[pendingHooksAnnotation], status, reason, message)
}

// acpiAnswered is when the function answered the last
// AfterControlPlaneInitialized call of the Cluster.
func (c *testCluster) acpiAnswered(t *testing.T) time.Time {
	t.Helper()
	calls := c.calls(t, "AfterControlPlaneInitialized")
	if len(calls) == 0 {
		t.Fatalf("no AfterControlPlaneInitialized call for %s", c.key())
	}
	return calls[len(calls)-1].Time
}

// releaseProxies lists CAAPH's HelmReleaseProxies of this addon for the
// Cluster, by the labels CAAPH puts on them.
func (c *testCluster) releaseProxies(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion(caaphAPIVersion)
	list.SetKind("HelmReleaseProxyList")
	if err := mgmt.client.List(t.Context(), list, client.InNamespace(c.namespace), client.MatchingLabels{
		clusterNameLabel: c.cluster, helmChartProxyNameLabel: c.proxy,
	}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (c *testCluster) deleteCluster(t *testing.T) time.Time {
	t.Helper()
	cluster := mustGet(t, clusterAPIVersion, "Cluster", c.namespace, c.cluster)
	if err := mgmt.client.Delete(t.Context(), cluster); err != nil {
		t.Fatalf("deleting Cluster %s: %v", c.key(), err)
	}
	return time.Now()
}

// clusterGone waits for CAPI to delete the Cluster, calling each tick
// (when not nil) so that the caller can watch the workload cluster
// meanwhile, and returns when it saw it gone.
func (c *testCluster) clusterGone(t *testing.T, tick func()) time.Time {
	t.Helper()
	eventually(t, waitFor, "CAPI to delete Cluster "+c.key(), func() (bool, string, error) {
		if tick != nil {
			tick()
		}
		cl, found, err := get(t.Context(), clusterAPIVersion, "Cluster", c.namespace, c.cluster)
		if err != nil || !found {
			return !found, "", err
		}
		_, _, message, _ := condition(cl, "Deleting")
		return false, fmt.Sprintf("Cluster present, Deleting: %q; %s", message, c.deleteCallsSoFar(t)), nil
	})
	return time.Now()
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
