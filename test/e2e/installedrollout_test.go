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
// through it, then deleted with the chart's pre-delete hook held, so that
// CAPI calls BeforeClusterDelete every KONNECTOR_RETRY_AFTER. While it does:
//
//  1. the Deployment is restarted as `kubectl rollout restart` does (a
//     restartedAt annotation on its pod template): both pods are replaced one
//     at a time, and no call CAPI makes meanwhile fails;
//  2. the pod that answered CAPI's last call is deleted with grace period 0
//     (`kubectl delete pod --grace-period=0 --force`) just before CAPI's next
//     call is due: that call is answered by the dying container or fails and
//     is retried by CAPI; the next ones reach the other pod. (A call lasts
//     about 20 ms: that one is in flight at the kill is not guaranteed; the
//     test logs what CAPI got against what the pods logged.)
//
// Then the hook succeeds: every call the pods answered was 200 Success, the
// release is gone from the workload cluster and CAPI deletes the Cluster.
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

	c.workload.kubelet.set("hook-predelete", hold)
	c.deleteCluster(t)
	c.moreDeleteCalls(t, 0, 1)

	// 1. kubectl rollout restart, while CAPI calls.
	failuresBefore := capiCallFailures(t, c.key())
	before := installed.runningPods(t)
	restarted := time.Now()
	installed.rolloutRestart(t)
	calls := len(c.calls(t, "BeforeClusterDelete"))
	// Two more calls once the new pods serve: CAPI reaches them.
	c.moreDeleteCalls(t, calls, 2)
	after := installed.runningPods(t)
	if failed := capiCallFailures(t, c.key())[len(failuresBefore):]; len(failed) > 0 {
		t.Errorf("CAPI failed %d hook calls during the rollout restart (pods %v replaced by %v): %s", len(failed), before, after, strings.Join(failed, "\n"))
	}
	t.Logf("rollout restart: pods %v replaced by %v in %s; BeforeClusterDelete calls so far: %s", before, after, time.Since(restarted).Round(time.Millisecond), c.deleteCallsSoFar(t))

	// 2. The pod that answered the last call, deleted at once just before
	// CAPI's next call is due.
	all := c.calls(t, "BeforeClusterDelete")
	last := all[len(all)-1]
	due := last.Time.Add(time.Duration(last.RetryAfterSeconds) * time.Second)
	failuresBefore = capiCallFailures(t, c.key())
	waitingBefore := capiWaitingAnswers(t, c.key())
	// Not an assertion: the moment of the kill, so that it meets a call.
	time.Sleep(time.Until(due.Add(-100 * time.Millisecond)))
	killed := time.Now()
	zero := int64(0)
	if err := installed.clientset.CoreV1().Pods(installed.cfg.namespace).Delete(t.Context(), last.Pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("deleting pod %s/%s with grace period 0: %v", installed.cfg.namespace, last.Pod, err)
	}
	c.moreDeleteCalls(t, len(all), 2)
	failed := capiCallFailures(t, c.key())[len(failuresBefore):]
	// What CAPI got against what the pods logged: a pod deleted with grace
	// period 0 may still answer a call in the moment before the kubelet
	// kills its container, and its log is gone with the pod object.
	t.Logf("since the kill CAPI logged %d answers asking to wait, the pods logged %d calls",
		capiWaitingAnswers(t, c.key())-waitingBefore, len(c.calls(t, "BeforeClusterDelete"))-len(all))
	t.Logf("pod %s (it answered the call of %s) deleted with grace period 0 at %s, %s before CAPI's next call was due; CAPI's failed calls since: %d%s; calls after: %s",
		last.Pod, last.Time.Format("15:04:05.000"), killed.Format("15:04:05.000"), due.Sub(killed).Round(time.Millisecond), len(failed), indent(failed), describeCalls(c.calls(t, "BeforeClusterDelete")[len(all):]))

	// The uninstall finishes; nothing was lost.
	c.workload.kubelet.set("hook-predelete", succeed)
	c.clusterGone(t, nil)
	calls = 0
	for _, call := range c.allCalls(t) {
		calls++
		if call.HTTPStatus != http.StatusOK || call.Outcome != "Success" {
			t.Errorf("call answered %s (pod %s)", call, call.Pod)
		}
	}
	deletes := c.calls(t, "BeforeClusterDelete")
	if final := deletes[len(deletes)-1]; final.RetryAfterSeconds != 0 || !strings.Contains(final.Message, "Konnector Agent removed") {
		t.Errorf("last BeforeClusterDelete answer: want retryAfterSeconds 0, agent removed; got %s", final)
	}
	if rel, err := c.workload.latestRelease(); err != nil || rel != nil {
		t.Errorf("after the Cluster's deletion %s still holds a release (%v): %s", c.workload, err, describeRelease(rel))
	}
	pods := map[string]int{}
	for _, call := range c.allCalls(t) {
		pods[call.Pod]++
	}
	t.Logf("%d hook calls for %s, all 200 Success, answered by pods %v", calls, c.key(), pods)
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

// capiWaitingAnswers counts the BeforeClusterDelete answers asking to wait
// that CAPI's manager logged for the cluster (namespace/name).
func capiWaitingAnswers(t *testing.T, cluster string) int {
	t.Helper()
	data, err := os.ReadFile(mgmt.manager.log)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, `Cluster deletion is blocked by \"BeforeClusterDelete\" hook`) && strings.Contains(line, `Cluster="`+cluster+`"`) {
			n++
		}
	}
	return n
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
