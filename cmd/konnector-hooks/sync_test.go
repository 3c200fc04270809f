package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// servedNamespace creates a namespace and an ExtensionConfig, both named
// name, whose namespaceSelector selects it.
func servedNamespace(t *testing.T, name string) (*corev1.Namespace, *runtimev1.ExtensionConfig) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{name: "served"}}}
	ec := &runtimev1.ExtensionConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: runtimev1.ExtensionConfigSpec{
			ClientConfig:      runtimev1.ClientConfig{URL: "https://konnector-hooks.konnector-hooks.svc.cluster.local"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{name: "served"}},
		},
	}
	for _, obj := range []client.Object{ns, ec} {
		if err := mgmt.Client.Create(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}
	return ns, ec
}

// syncOneShot runs `konnector-hooks sync` as the CronJob does, against the test
// API server, and returns its exit status, the decoded report and stderr.
func syncOneShot(t *testing.T, extensionConfig string) (int, map[string]any, string) {
	t.Helper()
	code, stdout, stderr := runBinary(t, []string{"KUBECONFIG=" + kubeconfig, "KONNECTOR_EXTENSION_CONFIG=" + extensionConfig}, "sync")
	var report map[string]any
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("stdout is not the JSON report (%v):\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "one-shot-Pa55word") {
		t.Fatal("the one-shot mode printed the credentials' password")
	}
	return code, report, stderr
}

func TestSyncOneShot_ExitsNonZeroWhenAClusterFailedAndReportsIt(t *testing.T) {
	ctx := context.Background()
	ns, ec := servedNamespace(t, "one-shot")
	config := `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`
	if err := managementcluster.CreateCluster(ctx, mgmt.Client, managementcluster.NewCluster(ns.Name, "c", config)); err != nil {
		t.Fatal(err)
	}

	// No credentials Secret yet: the cluster fails, and so does the Job.
	code, report, stderr := syncOneShot(t, ec.Name)
	if code != 1 || report["status"] != "Failure" || !strings.Contains(mustJSON(t, report["clusters"]), "Secret one-shot/prism-central-credentials-for-konnector-agent") {
		t.Fatalf("exit %d, report %v\nstderr:\n%s", code, report, stderr)
	}
	if !strings.Contains(stderr, `"msg":"sync call"`) {
		t.Errorf("the log lines go to stderr, and there is none for the sync:\n%s", stderr)
	}

	if err := mgmt.Client.Create(ctx, managementcluster.NewCredentials(ns.Name, "prism-central-credentials-for-konnector-agent", "admin", "one-shot-Pa55word")); err != nil {
		t.Fatal(err)
	}
	code, report, stderr = syncOneShot(t, ec.Name)
	counts, _ := report["counts"].(map[string]any)
	if code != 0 || report["status"] != "Success" || counts["applied"] != float64(1) {
		t.Fatalf("exit %d, report %v\nstderr:\n%s", code, report, stderr)
	}
}

func TestSyncOneShot_WithoutItsExtensionConfigFails(t *testing.T) {
	code, report, _ := syncOneShot(t, "not-installed")
	if code != 1 || !strings.Contains(report["message"].(string), "ExtensionConfig not-installed") {
		t.Fatalf("exit %d, report %v", code, report)
	}
}

func TestSyncOneShot_UnknownArgumentsStopIt(t *testing.T) {
	cmd := exec.Command(binary, "synk")
	cmd.Env = environment()
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 || !strings.Contains(string(out), `unknown command or flag "synk"`) || !strings.Contains(string(out), "Commands:\n  sync ") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
