package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// The status of a Cluster deployed by a sync whose install CAAPH reports
// failed, and of one without the addon, read as an operator does.
func TestStatus_ShowsTheAddonTheObjectsTheReleaseAndOurEvents(t *testing.T) {
	ctx := context.Background()
	const ns = "status"
	_, ec := servedNamespace(t, ns)
	on := `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`
	for name, config := range map[string]string{"on": on, "off": `{"addons":{}}`} {
		if err := managementcluster.CreateCluster(ctx, mgmt.Client, managementcluster.NewCluster(ns, name, config)); err != nil {
			t.Fatal(err)
		}
	}
	if err := mgmt.Client.Create(ctx, managementcluster.NewCredentials(ns, "prism-central-credentials-for-konnector-agent", "admin", "status-Pa55word")); err != nil {
		t.Fatal(err)
	}
	if code, report, stderr := syncOneShot(t, ec.Name); code != 0 {
		t.Fatalf("sync: exit %d, %v\n%s", code, report, stderr)
	}

	// CAAPH's HelmReleaseProxy, as its controller leaves it when the chart
	// version is not in the repository (konnector.ReleaseOf cites where).
	hrp := &caaphv1.HelmReleaseProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-on-x1", Labels: map[string]string{
			clusterv1.ClusterNameLabel: "on", caaphv1.HelmChartProxyLabelName: konnector.ObjectName("on"),
		}},
		Spec: caaphv1.HelmReleaseProxySpec{
			ClusterRef: corev1.ObjectReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Namespace: ns, Name: "on"},
			ChartName:  "konnector-agent", RepoURL: "https://charts.example.com", Version: "1.3.0-rc.0",
		},
	}
	if err := mgmt.Client.Create(ctx, hrp); err != nil {
		t.Fatal(err)
	}
	hrp.Status = caaphv1.HelmReleaseProxyStatus{ObservedGeneration: hrp.Generation, Conditions: []metav1.Condition{{
		Type: caaphv1.HelmReleaseReadyCondition, Status: metav1.ConditionFalse, Reason: caaphv1.HelmInstallOrUpgradeFailedReason,
		Message: "chart \"konnector-agent\" version \"1.3.0-rc.0\" not found in https://charts.example.com repository", LastTransitionTime: metav1.Now(),
	}}}
	if err := mgmt.Client.Status().Update(ctx, hrp); err != nil {
		t.Fatal(err)
	}

	env := []string{"KUBECONFIG=" + kubeconfig, "KONNECTOR_SYNC_NAMESPACES=" + ns}
	code, stdout, stderr := runBinary(t, env, "status", ns+"/on")
	t.Logf("konnector-hooks status %s/on:\n%s", ns, stdout)
	for _, part := range []string{
		"CLUSTER", "status/on", " on ", "3 of 3",
		`failed at chart 1.3.0-rc.0: chart "konnector-agent" version "1.3.0-rc.0" not found`,
		"Warning KonnectorAgentApplied x1", // the chart is installed insecure: no trust bundle
		"HelmChartProxy konnector-agent-on (chart konnector-agent",
		"Secret konnector-agent-on (credentials delivery)",
		"Events of konnector-hooks, newest first:",
	} {
		if code != 0 || !strings.Contains(stdout, part) {
			t.Fatalf("exit %d; the status does not show %q:\n%s\n%s", code, part, stdout, stderr)
		}
	}

	// kubectl's flags: the kubeconfig and its context by flag, the Cluster
	// by name and -n, the output as YAML, in any order.
	code, stdout, stderr = runBinary(t, []string{"KONNECTOR_SYNC_NAMESPACES=" + ns}, "status", "on", "--kubeconfig", kubeconfig, "-o", "yaml", "-n", ns, "--context", kubeconfigContext(t))
	if code != 0 || !strings.Contains(stdout, "cluster: status/on") || !strings.Contains(stdout, "phase: failed") {
		t.Fatalf("status on -n %s --kubeconfig --context -o yaml: exit %d\n%s\n%s", ns, code, stdout, stderr)
	}
	if code, _, stderr := runBinary(t, nil, "status", "on", "-n", ns, "--kubeconfig", kubeconfig, "--context", "no-such-context"); code != 1 || !strings.Contains(stderr, `"no-such-context"`) {
		t.Fatalf("a context the kubeconfig lacks: exit %d\n%s", code, stderr)
	}

	code, stdout, stderr = runBinary(t, env, "status", "-o", "json")
	var all []konnector.ClusterStatus
	if err := json.Unmarshal([]byte(stdout), &all); code != 0 || err != nil {
		t.Fatalf("exit %d, %v:\n%s\n%s", code, err, stdout, stderr)
	}
	if len(all) != 2 || all[0].Cluster != "status/off" || all[0].Addon != "off" || len(all[0].Objects) != 0 || all[0].Release != nil ||
		all[1].Cluster != "status/on" || all[1].Release == nil || all[1].Release.Phase != konnector.ReleaseFailed {
		t.Fatalf("every served Cluster, as JSON: %s", stdout)
	}
	if strings.Contains(stdout+stderr, "status-Pa55word") {
		t.Fatal("the status printed the credentials' password")
	}

	if !strings.Contains(stderr, "settings from the environment: ConfigMap konnector-hooks/konnector-hooks-settings not read") {
		t.Fatalf("status does not say where its settings come from:\n%s", stderr)
	}

	// The installed settings move to a new chart version, one Cluster per
	// sync: the status reads them from the settings ConfigMap, as Sync does.
	installed := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{
		"KONNECTOR_CHART_VERSION": "1.4.1", "KONNECTOR_ROLLOUT_BATCH": "1", "KONNECTOR_SYNC_NAMESPACES": ns,
	}}
	if err := mgmt.Client.Create(ctx, installed); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBinary(t, []string{"KUBECONFIG=" + kubeconfig}, "status", "--settings", ns+"/settings")
	t.Logf("konnector-hooks status --settings %s/settings:\n%s", ns, stdout)
	if code != 0 || !strings.Contains(stdout, "moves at the next sync") || !strings.Contains(stdout, "Rollout: the next sync moves status/on (KONNECTOR_ROLLOUT_BATCH=1); 0 more wait") ||
		strings.Contains(stderr, "settings from the environment") {
		t.Fatalf("exit %d; the rollout from the installed settings:\n%s\n%s", code, stdout, stderr)
	}

	if code, _, stderr := runBinary(t, env, "status", "a/b/c"); code != 2 || !strings.Contains(stderr, "Usage:\n  konnector-hooks status") {
		t.Fatalf("bad arguments: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runBinary(t, env, "status", ns+"/missing"); code != 1 || !strings.Contains(stderr, "Cluster status/missing not found") {
		t.Fatalf("a missing Cluster: exit %d\n%s", code, stderr)
	}
}

// kubeconfigContext is the current context of the tests' kubeconfig file.
func kubeconfigContext(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil || cfg.CurrentContext == "" {
		t.Fatalf("kubeconfig %s: %v, current context %q", kubeconfig, err, cfg.CurrentContext)
	}
	return cfg.CurrentContext
}
