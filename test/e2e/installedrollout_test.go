package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// capiCallFailure is what CAPI's manager logs when a hook call fails (the
// extension unreachable, a cut connection, a non-200 answer): under
// failurePolicy Fail the topology reconcile's error, after which CAPI calls
// again with its backoff; under Ignore the error it ignores, the hook then
// counted as answered.
var capiCallFailure = []string{"failed to call extension handler", "error calling extension handler"}

// TestInstalledDeployment_RolloutAndAKilledPodWhileCAPICallsLoseNothing runs
// on the install without Knative (deploy/without-knative: a Deployment of two
// replicas serving TLS itself, its PodDisruptionBudget, cert-manager's
// certificate, the ExtensionConfig by service). A Cluster is deployed
// through it, then deleted with the chart's pre-delete hook held:
//
//  1. CAPI's first BeforeClusterDelete call deletes the HelmChartProxy; the
//     suite's admission webhook (deleteHold) holds that delete, so the pod
//     that makes it is inside the call, and the request names the pod (its
//     bound ServiceAccount token). That pod is deleted with grace period 0
//     (`kubectl delete pod --grace-period=0 --force`): the kubelet stops its
//     container with its shortest grace, the function waits for the held
//     call, and the container is killed in it. Only once CAPI has logged
//     the call as failed is the held delete released (denied: the killed
//     call changed nothing). CAPI calls again and the other pod starts the
//     uninstall.
//  2. While CAPI calls BeforeClusterDelete every KONNECTOR_RETRY_AFTER, the
//     Deployment is restarted as `kubectl rollout restart` does (a
//     restartedAt annotation on its pod template): both pods are replaced one
//     at a time, and no call CAPI makes meanwhile fails.
//
// Then the hook succeeds: every call the pods answered was 200 Success, the
// uninstall was started once, the release is gone from the workload cluster
// and CAPI deletes the Cluster.
func TestInstalledDeployment_RolloutAndAKilledPodWhileCAPICallsLoseNothing(t *testing.T) {
	if installed == nil || !strings.HasPrefix(installed.cfg.workload, "deployment/") {
		t.Skip("runs in the installed mode on the install without Knative (hack/e2e-knative.sh without-knative)")
	}
	t.Parallel()
	const namespace = "e2e-rollout-restart"
	setUpNamespace(t, defaultExtension, namespace)
	c := newTestClusters(t, defaultExtension, namespace, suiteTimings, clusterSpec{"e2e-restart", basicConfig})[0]
	c.provision(t)
	c.credentialsDelivered(t, credentialsSecret)
	c.releaseDeployed(t, defaultChartVersion, 1)

	// 1. A pod killed in the call that starts the uninstall.
	deletes := holdHelmChartProxyDelete(t, namespace, c.proxy)
	c.workload.kubelet.set("hook-predelete", hold)
	failuresBefore := capiCallFailures(t, c.key())
	c.deleteCluster(t)
	held := deletes.heldRequest(t, waitFor, func() string { return c.deleteCallsSoFar(t) })
	zero := int64(0)
	uid := types.UID(held.PodUID)
	if err := installed.clientset.CoreV1().Pods(installed.cfg.namespace).Delete(t.Context(), held.Pod, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	}); err != nil {
		t.Fatalf("deleting pod %s/%s (uid %s), which holds CAPI's call, with grace period 0: %v", installed.cfg.namespace, held.Pod, held.PodUID, err)
	}
	killed := time.Now()
	var failed []string
	eventually(t, waitFor, fmt.Sprintf("CAPI to log its BeforeClusterDelete call to pod %s as failed", held.Pod), func() (bool, string, error) {
		failed = capiCallFailures(t, c.key())[len(failuresBefore):]
		return len(failed) > 0, c.deleteCallsSoFar(t), nil
	})
	dropped := deletes.releaseHeld()
	t.Logf("pod %s (%s) deleted %s after it asked to delete HelmChartProxy %s/%s; CAPI's failed calls since (the API server had given the held delete up when it was released: %t):%s",
		held.Pod, held.User, killed.Sub(held.Received).Round(time.Millisecond), namespace, held.Name, dropped, indent(failed))
	if f := failed[0]; strings.Contains(f, "deadline exceeded") || strings.Contains(f, "Client.Timeout") {
		t.Errorf("CAPI's call timed out instead of being cut when pod %s was killed: %s", held.Pod, f)
	}
	c.moreDeleteCalls(t, 0, 1)
	calls := c.calls(t, "BeforeClusterDelete")
	if retry := calls[0]; retry.Pod == held.Pod || retry.HTTPStatus != http.StatusOK || retry.Outcome != "Success" || !strings.Contains(retry.Message, "started Helm uninstall") {
		t.Errorf("the first BeforeClusterDelete answer after pod %s was killed: want another pod's 200 Success that starts the uninstall; got %s (pod %s)", held.Pod, retry, retry.Pod)
	}
	t.Logf("the webhook saw: %s", indent(deletes.requests()))

	// 2. kubectl rollout restart, while CAPI calls.
	failuresBefore = capiCallFailures(t, c.key())
	before := installed.runningPods(t)
	restarted := time.Now()
	installed.rolloutRestart(t)
	calls = c.calls(t, "BeforeClusterDelete")
	// Two more calls once the new pods serve: CAPI reaches them.
	c.moreDeleteCalls(t, len(calls), 2)
	after := installed.runningPods(t)
	if failed := capiCallFailures(t, c.key())[len(failuresBefore):]; len(failed) > 0 {
		t.Errorf("CAPI failed %d hook calls during the rollout restart (pods %v replaced by %v): %s", len(failed), before, after, strings.Join(failed, "\n"))
	}
	t.Logf("rollout restart: pods %v replaced by %v in %s; BeforeClusterDelete calls so far: %s", before, after, time.Since(restarted).Round(time.Millisecond), c.deleteCallsSoFar(t))

	// The uninstall finishes; nothing was lost.
	c.workload.kubelet.set("hook-predelete", succeed)
	c.clusterGone(t, nil)
	n := 0
	for _, call := range c.allCalls(t) {
		n++
		if call.HTTPStatus != http.StatusOK || call.Outcome != "Success" {
			t.Errorf("call answered %s (pod %s)", call, call.Pod)
		}
	}
	calls = c.calls(t, "BeforeClusterDelete")
	if final := calls[len(calls)-1]; final.RetryAfterSeconds != 0 || !strings.Contains(final.Message, "Konnector Agent removed") {
		t.Errorf("last BeforeClusterDelete answer: want retryAfterSeconds 0, agent removed; got %s", final)
	}
	started := 0
	for _, call := range calls {
		if strings.Contains(call.Message, "started Helm uninstall") {
			started++
		}
	}
	if started != 1 {
		t.Errorf("want the uninstall started by one BeforeClusterDelete answer, got %d:%s", started, describeCalls(calls))
	}
	if rel, err := c.workload.latestRelease(); err != nil || rel != nil {
		t.Errorf("after the Cluster's deletion %s still holds a release (%v): %s", c.workload, err, describeRelease(rel))
	}
	pods := map[string]int{}
	for _, call := range c.allCalls(t) {
		pods[call.Pod]++
	}
	t.Logf("%d hook calls for %s, all 200 Success, answered by pods %v", n, c.key(), pods)
}

// moreDeleteCalls waits for n more BeforeClusterDelete calls than since.
func (c *testCluster) moreDeleteCalls(t *testing.T, since, n int) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("CAPI to call BeforeClusterDelete %d more times for %s", n, c.key()), func() (bool, string, error) {
		return len(c.calls(t, "BeforeClusterDelete")) >= since+n, c.deleteCallsSoFar(t), nil
	})
}

// capiCallFailures are the failed hook calls for the cluster (namespace/name)
// that CAPI's manager logged so far.
func capiCallFailures(t *testing.T, cluster string) []string {
	t.Helper()
	data, err := os.ReadFile(mgmt.manager.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, failure := range capiCallFailure {
			if strings.Contains(line, failure) && strings.Contains(line, `Cluster="`+cluster+`"`) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// runningPods names the install's running pods.
func (in *installation) runningPods(t *testing.T) []string {
	t.Helper()
	pods, err := in.clientset.CoreV1().Pods(in.cfg.namespace).List(t.Context(), metav1.ListOptions{LabelSelector: in.cfg.pods})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

// rolloutRestart restarts the install's Deployment as `kubectl rollout
// restart` does, and waits until every pod is new and available and the old
// ones are gone.
func (in *installation) rolloutRestart(t *testing.T) {
	t.Helper()
	_, name, _ := strings.Cut(in.cfg.workload, "/")
	old := in.runningPods(t)
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	if _, err := in.clientset.AppsV1().Deployments(in.cfg.namespace).Patch(t.Context(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("restarting Deployment %s/%s: %v", in.cfg.namespace, name, err)
	}
	var state string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		obj, found, err := get(ctx, "apps/v1", "Deployment", in.cfg.namespace, name)
		if err != nil || !found {
			return false, err
		}
		done, s := rolledOut(obj)
		pods, err := in.clientset.CoreV1().Pods(in.cfg.namespace).List(ctx, metav1.ListOptions{LabelSelector: in.cfg.pods})
		if err != nil {
			return false, err
		}
		var left []string
		for _, p := range pods.Items {
			for _, o := range old {
				if p.Name == o {
					left = append(left, o)
				}
			}
		}
		state = fmt.Sprintf("%s; pods before the restart still there: %v", s, left)
		return done && len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s did not finish its rollout restart within 3m: %s", in.cfg.namespace, name, state)
	}
}
