package helmrender

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

const (
	pcURL           = "https://pc.example.com:9440"
	defaultSecret   = "prism-central-credentials-for-konnector-agent"
	agentName       = "konnector-agent"
	deliveredSecret = "konnector-agent" // the Secret the ClusterResourceSet delivers
	trustConfigMap  = "ntnx-additional-trust-bundle-konnector-agent"
	password        = "helmrender-Pa55word-91ac"
)

// renderCase is one Cluster, its settings and what Helm must render for it.
type renderCase struct {
	name        string
	clusterName string // default my-cluster
	// clusterConfig is the value of the clusterConfig variable (JSON).
	clusterConfig string
	// shape adds what clusterConfig does not carry: other variables,
	// MachineDeployments, the control plane endpoint.
	shape func(*clusterv1.Cluster)
	env   map[string]string
	// valuesFile, when set, is written to a file named by KONNECTOR_VALUES_FILE.
	valuesFile string
	want       want
	// seed marks the seed's own examples, whose values and args are logged.
	seed bool
}

// want is what the rendered release must show.
type want struct {
	namespace    string // default ntnx-system
	endpoint     string // default pc.example.com
	port         string // default 9440
	insecure     bool
	distribution string // default NKP
	// clusterName checks --k8s-cluster-name; default: equal to the Cluster's name.
	clusterName func(cluster, got string) error
	categories  []string // key=value pairs, any order; none: no flag
	// kubeconfigEndpoint: --kubeconfig-upload with this endpoint; "": no upload.
	kubeconfigEndpoint string
	trustBundlePEM     string // the trust bundle ConfigMap holds it; "": none
	image              string // "": the chart's own
	args               []string
	message            string // part of the hook's answer
}

func addon(extra string) string {
	return `{"nutanix":{"prismCentralEndpoint":{"url":"` + pcURL + `"` + extra + `}},"addons":{"konnectorAgent":{}}}`
}

func TestRender_ChartInstallsTheValuesTheHooksWrite(t *testing.T) {
	longName := "konnector-render-check-cluster-with-a-very-long-name-0123456789"
	cases := []renderCase{
		{
			name:          "seed Basic",
			clusterConfig: addon(""),
			want:          want{insecure: true},
			seed:          true,
		},
		{
			name:          "seed Advanced",
			clusterConfig: `{"nutanix":{"prismCentralEndpoint":{"url":"` + pcURL + `"}},"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"` + defaultSecret + `"}}}}}`,
			want:          want{insecure: true},
			seed:          true,
		},
		{
			name:          "seed Minimal",
			clusterName:   "minimal-cluster",
			clusterConfig: addon(""),
			want:          want{insecure: true},
			seed:          true,
		},
		{
			name:          "trust bundle base64 as the real clusterConfig carries it",
			clusterConfig: addon(`,"insecure":false,"additionalTrustBundle":"` + base64.StdEncoding.EncodeToString([]byte(testCAPEM)) + `"`),
			want:          want{insecure: false, trustBundlePEM: testCAPEM},
		},
		{
			name:          "trust bundle as raw PEM",
			clusterConfig: addon(`,"insecure":false,"additionalTrustBundle":` + jsonString(testCAPEM)),
			want:          want{insecure: false, trustBundlePEM: testCAPEM},
		},
		{
			name:          "insecure true",
			clusterConfig: addon(`,"insecure":true`),
			want:          want{insecure: true},
		},
		{
			name:          "insecure false without a bundle installs insecure, and says so",
			clusterConfig: addon(`,"insecure":false`),
			want:          want{insecure: true, message: "additionalTrustBundle"},
		},
		{
			name:          "cluster name over 40 characters",
			clusterName:   longName,
			clusterConfig: addon(""),
			want:          want{insecure: true, clusterName: cutWithHash},
		},
		{
			name: "categories from control plane, workers and MachineDeployment overrides",
			clusterConfig: `{"nutanix":{"prismCentralEndpoint":{"url":"` + pcURL + `"}},` +
				`"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"AppType","value":"Kubernetes"}]}}},` +
				`"addons":{"konnectorAgent":{}}}`,
			shape: func(c *clusterv1.Cluster) {
				c.Spec.Topology.Variables = append(c.Spec.Topology.Variables, variable("workerConfig",
					`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"AppType","value":"Kubernetes"},{"key":"Team","value":"Platform"}]}}}`))
				c.Spec.Topology.Workers.MachineDeployments = []clusterv1.MachineDeploymentTopology{{
					Class: "default-worker", Name: "md-0",
					Variables: clusterv1.MachineDeploymentVariables{Overrides: []clusterv1.ClusterVariable{variable("workerConfig",
						`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"Env","value":"Test"},{"key":"Team","value":"Platform"}]}}}`)}},
				}}
			},
			want: want{insecure: true, categories: []string{"AppType=Kubernetes", "Team=Platform", "Env=Test"}},
		},
		{
			// CAAPH executes valuesTemplate as a template: input text must come out as written.
			name: "a category with template braces stays literal through CAAPH's pass",
			clusterConfig: `{"nutanix":{"prismCentralEndpoint":{"url":"` + pcURL + `"}},` +
				`"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"Owner","value":"{{ .Cluster.metadata.name }}"}]}}},` +
				`"addons":{"konnectorAgent":{}}}`,
			want: want{insecure: true, categories: []string{"Owner={{ .Cluster.metadata.name }}"}},
		},
		{
			name:          "kubeconfig upload on by default with the Cluster's control plane endpoint",
			clusterConfig: addon(""),
			shape: func(c *clusterv1.Cluster) {
				c.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: "cp.example.com", Port: 6443}
			},
			want: want{insecure: true, kubeconfigEndpoint: "https://cp.example.com:6443"},
		},
		{
			name:          "kubeconfig upload off",
			clusterConfig: `{"nutanix":{"prismCentralEndpoint":{"url":"` + pcURL + `"}},"addons":{"konnectorAgent":{"enableKubeconfigUpload":false}}}`,
			shape: func(c *clusterv1.Cluster) {
				c.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: "cp.example.com", Port: 6443}
			},
			want: want{insecure: true},
		},
		{
			name:          "distribution CAPX",
			clusterConfig: addon(""),
			env:           map[string]string{"KONNECTOR_K8S_DISTRIBUTION": "CAPX"},
			want:          want{insecure: true, distribution: "CAPX"},
		},
		{
			name:          "operator's image",
			clusterConfig: addon(""),
			env: map[string]string{
				"KONNECTOR_IMAGE_REPOSITORY": "registry.example.com/mirror",
				"KONNECTOR_IMAGE_NAME":       "k8s-agent",
				"KONNECTOR_IMAGE_TAG":        "1.4.1-patched",
			},
			want: want{insecure: true, image: "registry.example.com/mirror/k8s-agent:1.4.1-patched"},
		},
		{
			name:          "release namespace other-ns",
			clusterConfig: addon(""),
			env:           map[string]string{"KONNECTOR_RELEASE_NAMESPACE": "other-ns"},
			want:          want{insecure: true, namespace: "other-ns"},
		},
		{
			name:          "operator's values file",
			clusterConfig: addon(""),
			valuesFile:    "agent:\n  updateConfigInMin: 10\n",
			want:          want{insecure: true, args: []string{"--update-config-in-min=10"}},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, fmt.Sprintf("render-%d", i), c)
		})
	}
}

// runCase drives one case from the Cluster to Helm's dry-run and checks it.
func runCase(t *testing.T, namespace string, c renderCase) {
	ctx := context.Background()
	for k, v := range c.env {
		t.Setenv(k, v)
	}
	if c.valuesFile != "" {
		file := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(file, []byte(c.valuesFile), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("KONNECTOR_VALUES_FILE", file)
	}
	name := c.clusterName
	if name == "" {
		name = "my-cluster"
	}
	cluster := managementcluster.NewCluster(namespace, name, c.clusterConfig)
	if c.shape != nil {
		c.shape(cluster)
	}
	createClusterWithCredentials(t, cluster)

	answer, status, logs, err := afterControlPlaneInitialized(ctx, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs, password) {
		t.Error("the hook's logs contain the credentials' password")
	}
	if status != 200 || answer.Status != "Success" {
		t.Fatalf("AfterControlPlaneInitialized for Cluster %s/%s answered HTTP %d %s: %s\nlogs:\n%s", namespace, name, status, answer.Status, answer.Message, logs)
	}
	if c.want.message != "" && !strings.Contains(answer.Message, c.want.message) {
		t.Errorf("the hook's answer %q does not mention %q", answer.Message, c.want.message)
	}

	hcp, err := helmChartProxy(ctx, cluster)
	if err != nil {
		t.Fatal(err)
	}
	onServer := &clusterv1.Cluster{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cluster), onServer); err != nil {
		t.Fatal(err)
	}
	rel, expanded, err := install(ctx, t, hcp.Spec.ReleaseName, hcp.Spec.ReleaseNamespace, hcp.Spec, onServer)
	report := func() {
		t.Logf("the hook answered: %s", answer.Message)
		t.Logf("valuesTemplate of HelmChartProxy %s/%s:\n%s", hcp.Namespace, hcp.Name, hcp.Spec.ValuesTemplate)
		t.Logf("values after CAAPH's template pass:\n%s", expanded)
		if rel != nil {
			t.Logf("rendered manifests:\n%s", rel.manifest)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			report()
		}
	})
	if err != nil {
		t.Fatalf("installing the chart fixture with these values: %v", err)
	}
	args := checkRelease(t, rel, name, c.want)
	if c.seed && testing.Verbose() {
		t.Logf("seed example %q: the hook answered: %s", c.name, answer.Message)
		t.Logf("seed example %q: valuesTemplate:\n%s", c.name, hcp.Spec.ValuesTemplate)
		t.Logf("seed example %q: agent container args:\n  %s", c.name, strings.Join(args, "\n  "))
	}
}

// install runs the HelmChartProxy's values through CAAPH and Helm.
func install(ctx context.Context, t *testing.T, releaseName, releaseNamespace string, spec caaphv1.HelmChartProxySpec, cluster *clusterv1.Cluster) (*release, string, error) {
	expanded, err := expandValuesTemplate(spec, cluster)
	if err != nil {
		return nil, "", err
	}
	vals, err := chartValues(t.TempDir(), expanded)
	if err != nil {
		return nil, expanded, err
	}
	rel, err := installDryRun(ctx, env.Config, releaseName, releaseNamespace, vals)
	return rel, expanded, err
}

// checkRelease checks the rendered release against want and returns the
// agent container's args.
func checkRelease(t *testing.T, rel *release, cluster string, w want) []string {
	t.Helper()
	namespace := cmpOr(w.namespace, "ntnx-system")
	for _, u := range rel.objects {
		clusterScoped := u.GetKind() == "ClusterRole" || u.GetKind() == "ClusterRoleBinding"
		if !clusterScoped && u.GetNamespace() != namespace {
			t.Errorf("%s %s is in namespace %q, want the release namespace %q", u.GetKind(), u.GetName(), u.GetNamespace(), namespace)
		}
		if u.GetKind() == "Secret" {
			t.Errorf("the chart made Secret %s/%s: with privateRegistry false and prismCredentialsSecretName set it must make none", u.GetNamespace(), u.GetName())
		}
	}
	d, err := rel.deployment(agentName)
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 1 {
		t.Fatalf("Deployment %s has %d containers and %d init containers, want 1 and 1", agentName, len(pod.Containers), len(pod.InitContainers))
	}
	agent := pod.Containers[0]
	got := flags(agent.Args)
	expect := map[string]string{
		"--pc-endpoint":      cmpOr(w.endpoint, "pc.example.com"),
		"--pc-port":          cmpOr(w.port, "9440"),
		"--k8s-distribution": cmpOr(w.distribution, "NKP"),
	}
	for flag, value := range expect {
		if !slices.Equal(got[flag], []string{value}) {
			t.Errorf("agent arg %s = %q, want %q", flag, got[flag], value)
		}
	}
	if _, ok := got["--insecure"]; ok != w.insecure {
		t.Errorf("agent arg --insecure present = %t, want %t (args %q)", ok, w.insecure, agent.Args)
	}
	checkClusterName := w.clusterName
	if checkClusterName == nil {
		checkClusterName = sameName
	}
	if names := got["--k8s-cluster-name"]; len(names) != 1 {
		t.Errorf("agent arg --k8s-cluster-name given %d times, want once", len(names))
	} else if err := checkClusterName(cluster, names[0]); err != nil {
		t.Errorf("agent arg --k8s-cluster-name: %v", err)
	}
	checkCategories(t, got["--k8s-cluster-category"], w.categories)
	checkKubeconfigUpload(t, got, w.kubeconfigEndpoint)
	for _, a := range w.args {
		if !slices.Contains(agent.Args, a) {
			t.Errorf("agent args %q lack %s", agent.Args, a)
		}
	}
	if w.image != "" && agent.Image != w.image {
		t.Errorf("agent image = %s, want %s", agent.Image, w.image)
	}
	if len(d.Spec.Template.Spec.ImagePullSecrets) != 0 {
		t.Errorf("Deployment %s pulls with %v: privateRegistry must be false", agentName, d.Spec.Template.Spec.ImagePullSecrets)
	}
	if !mountsSecret(pod, deliveredSecret, agent, pod.InitContainers[0]) {
		t.Errorf("Deployment %s does not mount Secret %s into the agent and onboarding containers", agentName, deliveredSecret)
	}
	if pre, err := rel.pod("hook-predelete"); err != nil {
		t.Error(err)
	} else if !mountsSecret(pre.Spec, deliveredSecret, pre.Spec.Containers...) {
		t.Errorf("Pod hook-predelete does not mount Secret %s: it could not unregister the cluster", deliveredSecret)
	}
	checkTrustBundle(t, rel, w.trustBundlePEM)
	return agent.Args
}

func checkCategories(t *testing.T, got []string, want []string) {
	t.Helper()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("agent arg --k8s-cluster-category = %q, want none", got)
		}
		return
	}
	if len(got) != 1 {
		t.Errorf("agent arg --k8s-cluster-category given %d times, want once with %q", len(got), want)
		return
	}
	pairs := strings.Split(got[0], ",")
	sortedGot, sortedWant := slices.Sorted(slices.Values(pairs)), slices.Sorted(slices.Values(want))
	if !slices.Equal(sortedGot, sortedWant) {
		t.Errorf("agent arg --k8s-cluster-category = %q, want the pairs %q once each, joined by ','", got[0], want)
	}
}

func checkKubeconfigUpload(t *testing.T, got map[string][]string, endpoint string) {
	t.Helper()
	_, upload := got["--kubeconfig-upload"]
	if upload != (endpoint != "") {
		t.Errorf("agent arg --kubeconfig-upload present = %t, want %t", upload, endpoint != "")
	}
	if endpoint != "" && !slices.Equal(got["--control-plane-endpoint"], []string{endpoint}) {
		t.Errorf("agent arg --control-plane-endpoint = %q, want %q", got["--control-plane-endpoint"], endpoint)
	}
}

func checkTrustBundle(t *testing.T, rel *release, pemBundle string) {
	t.Helper()
	cm, err := rel.configMap(trustConfigMap)
	if pemBundle == "" {
		if err == nil {
			t.Errorf("ConfigMap %s rendered without a trust bundle", trustConfigMap)
		}
		return
	}
	if err != nil {
		t.Error(err)
		return
	}
	decoded, err := base64.StdEncoding.DecodeString(cm.Data["ca.crt"])
	if err != nil {
		t.Errorf("ConfigMap %s ca.crt is not base64: %v", trustConfigMap, err)
		return
	}
	if got, want := certificates(decoded), certificates([]byte(pemBundle)); len(got) == 0 || !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ConfigMap %s ca.crt decodes to %d certificates, want the %d of the bundle given", trustConfigMap, len(got), len(want))
	}
}

func sameName(cluster, got string) error {
	if got != cluster {
		return fmt.Errorf("%q, want the Cluster's name %q", got, cluster)
	}
	return nil
}

// cutWithHash checks Prism Central's 40-character limit: a longer name is
// cut and ends with a short hash of the whole name, so that two clusters
// with a common prefix never share a registered name.
func cutWithHash(cluster, got string) error {
	if len(got) > 40 {
		return fmt.Errorf("%q has %d characters, Prism Central accepts at most 40", got, len(got))
	}
	prefix, hash, ok := cutLast(got, "-")
	sum := sha256.Sum256([]byte(cluster))
	if !ok || len(hash) < 4 || !strings.HasPrefix(hex.EncodeToString(sum[:]), hash) || !strings.HasPrefix(cluster, prefix) {
		return fmt.Errorf("%q is not a prefix of %q followed by '-' and a short sha256 of the full name", got, cluster)
	}
	return nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return string(b)
}

func variable(name, value string) clusterv1.ClusterVariable {
	return clusterv1.ClusterVariable{Name: name, Value: apiextensionsv1.JSON{Raw: []byte(value)}}
}

// createClusterWithCredentials creates the case's namespace, the default
// credentials Secret in it and the Cluster with its status.
func createClusterWithCredentials(t *testing.T, cluster *clusterv1.Cluster) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cluster.Namespace}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating Namespace %s: %v", cluster.Namespace, err)
	}
	if err := env.Client.Create(ctx, managementcluster.NewCredentials(cluster.Namespace, defaultSecret, "admin", password)); err != nil {
		t.Fatalf("creating the credentials Secret: %v", err)
	}
	if err := managementcluster.CreateCluster(ctx, env.Client, cluster); err != nil {
		t.Fatal(err)
	}
}
