package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// renderPassword and renderDockerconfig are credentials no output of the
// preview may show.
const renderPassword = "render-Pa55word-91d3"

var renderDockerconfig = base64.StdEncoding.EncodeToString([]byte(`{"auths":{"registry.example.com":{"auth":"cHVsbGVyOnJlbmRlci1QdWxs"}}}`))

// preview runs `konnector-hooks render <args>` with the kubeconfig and
// extra environment given, and returns its exit status, stdout and stderr.
func preview(t *testing.T, kubeconfig string, args []string, env ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr := runBinary(t, append([]string{"KUBECONFIG=" + kubeconfig}, env...), append([]string{"render"}, args...)...)
	for _, leak := range []string{renderPassword, base64.StdEncoding.EncodeToString([]byte(renderPassword)), renderDockerconfig} {
		if strings.Contains(stdout+stderr, leak) {
			t.Fatalf("the preview printed a credential:\n%s\n%s", stdout, stderr)
		}
	}
	return code, stdout, stderr
}

// userKubeconfig writes a kubeconfig that acts as user (the administrator's
// certificate impersonating it, so that the API server authorizes every
// request as user) and returns its path.
func userKubeconfig(t *testing.T, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRender_PreviewsRedactedWithTheCallersRightsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "render-preview"}}
	if err := mgmt.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := mgmt.Client.Create(ctx, managementcluster.NewCredentials(ns.Name, "prism-central-credentials-for-konnector-agent", "admin", renderPassword)); err != nil {
		t.Fatal(err)
	}
	config := `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{}}}`
	if err := managementcluster.CreateCluster(ctx, mgmt.Client, managementcluster.NewCluster(ns.Name, "c", config)); err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("agent:\n  image:\n    privateRegistry: true\n    imageCredentials:\n      dockerconfig: "+renderDockerconfig+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valuesFile := "KONNECTOR_VALUES_FILE=" + values

	// The administrator's kubeconfig may read everything the preview needs.
	code, out, errOut := preview(t, kubeconfig, []string{ns.Name + "/c"}, valuesFile)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		`# Registered in Prism Central as "c"`, "# warning: ", "kind: HelmChartProxy", "kind: ClusterResourceSet", "kind: Secret",
		"name: konnector-agent-c", "dockerconfig: REDACTED", `"password":"` + base64.StdEncoding.EncodeToString([]byte("REDACTED")) + `"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the preview lacks %q:\n%s", want, out)
		}
	}
	// -o json: one List of the same objects; the comments go to stderr.
	code, out, errOut = preview(t, kubeconfig, []string{"c", "-n", ns.Name, "-o", "json"}, valuesFile)
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || list.Kind != "List" || len(list.Items) != 3 ||
		list.Items[0].Kind != "HelmChartProxy" || list.Items[2].Metadata.Name != "konnector-agent-c" || !strings.Contains(errOut, `# Registered in Prism Central as "c"`) {
		t.Fatalf("render c -n %s -o json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", ns.Name, code, err, out, errOut)
	}

	var proxies caaphv1.HelmChartProxyList
	if err := mgmt.Client.List(ctx, &proxies, client.InNamespace(ns.Name)); err != nil || len(proxies.Items) != 0 {
		t.Fatalf("the preview wrote: %d HelmChartProxies, %v", len(proxies.Items), err)
	}

	// A user who may not read the Cluster and the Secret gets no preview:
	// the preview reads with the caller's rights, not the function's.
	jane := userKubeconfig(t, "jane")
	code, out, errOut = preview(t, jane, []string{ns.Name + "/c"})
	if code != 1 || out != "" || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, `"jane"`) {
		t.Fatalf("as jane without rights: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Granted the reads in that namespace, jane previews it.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "preview"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"cluster.x-k8s.io"}, Resources: []string{"clusters"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
			{APIGroups: []string{"addons.cluster.x-k8s.io"}, Resources: []string{"helmchartproxies", "clusterresourcesets"}, Verbs: []string{"get"}},
			{APIGroups: []string{"addons.cluster.x-k8s.io"}, Resources: []string{"helmreleaseproxies"}, Verbs: []string{"list"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "preview"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := mgmt.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "jane's Role takes effect", func() bool {
		code, _, _ = preview(t, jane, []string{ns.Name + "/c"})
		return code == 0
	})

	if code, out, errOut := preview(t, kubeconfig, []string{"no-cluster-named"}); code != 2 || !strings.Contains(errOut, "<namespace>/<cluster>") || !strings.Contains(errOut, "Usage:") || out != "" {
		t.Fatalf("a target without a namespace: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// waitFor retries check for up to a minute: RBAC takes effect when the API
// server's informers see the binding.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) { return check(), nil })
	if err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}
