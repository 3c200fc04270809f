package helmrender

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// installable are values the chart fixture installs: what the hooks are
// meant to write for a plain cluster.
const installable = `
agent:
  image:
    privateRegistry: false
pc:
  endpoint: pc.example.com
  insecure: true
k8sClusterName: my-cluster
prismCredentialsSecretName: konnector-agent
`

// The chart fixture keeps the published chart's install-time rules
// (shared/facts/konnector-agent-chart.md §1), checked here on values given
// directly, without the hooks.
func TestChartFixture_KeepsTheChartsRules(t *testing.T) {
	ctx := context.Background()
	if err := createNamespaces(ctx, "chart-foreign"); err != nil {
		t.Fatal(err)
	}
	foreign := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: trustConfigMap, Namespace: "chart-foreign"},
		Data:       map[string]string{"ca.crt": "kept"},
	}
	existing := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-trust-bundle", Namespace: "ntnx-system"},
		Data:       map[string]string{"ca.crt": "kept"},
	}
	for _, cm := range []*corev1.ConfigMap{foreign, existing} {
		if err := env.Client.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	bundle := base64.StdEncoding.EncodeToString([]byte(testCAPEM))
	dockerconfig := base64.StdEncoding.EncodeToString([]byte(`{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}`))

	cases := []struct {
		name      string
		namespace string // release namespace; default ntnx-system
		values    string // merged over installable
		stage     string // "": installs
		err       string
		check     func(t *testing.T, r *release)
	}{
		{name: "installs with privateRegistry false and insecure true", check: func(t *testing.T, r *release) {
			for _, o := range []struct{ kind, name string }{
				{"ServiceAccount", agentName}, {"ClusterRole", agentName}, {"ClusterRoleBinding", agentName},
				{"Pod", "hook-postinstall"}, {"Pod", "hook-postupgrade"}, {"ConfigMap", agentName + "-config"}, {"Pod", "hook-predelete"},
				{"ServiceAccount", "k8s-agent-postdelete"}, {"ClusterRole", "k8s-agent-postdelete"}, {"ClusterRoleBinding", "k8s-agent-postdelete"},
			} {
				if r.find(o.kind, o.name) == nil {
					t.Errorf("no %s %s rendered", o.kind, o.name)
				}
			}
			checkHook(t, r, "Pod", "hook-postinstall", "post-install", "", "hook-succeeded")
			checkHook(t, r, "Pod", "hook-postupgrade", "post-upgrade", "", "hook-succeeded,before-hook-creation")
			checkHook(t, r, "ConfigMap", agentName+"-config", "pre-delete", "0", "")
			checkHook(t, r, "Pod", "hook-predelete", "pre-delete", "2", "before-hook-creation,hook-succeeded")
			d, err := r.deployment(agentName)
			if err != nil {
				t.Fatal(err)
			}
			if init := d.Spec.Template.Spec.InitContainers; len(init) != 1 || init[0].Name != "onboarding-container" || init[0].Args[0] != "--chart-hook=pre-install" {
				t.Errorf("Deployment %s init containers %+v, want onboarding-container with --chart-hook=pre-install", agentName, init)
			}
			if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 9999 {
				t.Errorf("Deployment %s does not run as uid 9999", agentName)
			}
		}},
		{name: "the endpoint is required", values: "pc: {endpoint: ''}", stage: stageRender, err: "Endpoint is required"},
		{name: "the distribution is one of the enum", values: "k8sDistribution: Rancher", stage: stageSchema, err: "/k8sDistribution"},
		{name: "the cluster name is required", values: "k8sClusterName: ''", stage: stageRender, err: "k8sClusterName is required"},
		{name: "kubeconfig upload needs the control plane endpoint", values: "kubeconfigUpload: {enabled: true}", stage: stageRender, err: "kubeconfigUpload.controlPlaneEndpoint is required"},
		{name: "insecure false needs a bundle or a ConfigMap name", values: "pc: {insecure: false}", stage: stageSchema, err: "'anyOf' failed"},
		{name: "insecure false with a ConfigMap name fails when it does not exist", values: "pc: {insecure: false}\nadditionalTrustBundleConfigMapName: missing-bundle", stage: stageRender, err: "there is no trust bundle"},
		{name: "insecure false with an existing ConfigMap installs", values: "pc: {insecure: false}\nadditionalTrustBundleConfigMapName: operator-trust-bundle", check: func(t *testing.T, r *release) {
			if r.find("ConfigMap", "operator-trust-bundle") != nil {
				t.Error("the chart rendered the operator's ConfigMap")
			}
		}},
		{name: "the bundle goes into ca.crt as given", values: "pc: {insecure: false, additionalTrustBundle: " + bundle + "}", check: func(t *testing.T, r *release) {
			if cm, err := r.configMap(trustConfigMap); err != nil {
				t.Error(err)
			} else if cm.Data["ca.crt"] != bundle {
				t.Errorf("ca.crt = %q, want the base64 bundle verbatim", cm.Data["ca.crt"])
			}
		}},
		{name: "a ConfigMap of the bundle's name not managed by Helm is kept", values: "agent: {namespaceOverride: chart-foreign}\npc: {insecure: false, additionalTrustBundle: " + bundle + "}", check: func(t *testing.T, r *release) {
			if r.find("ConfigMap", trustConfigMap) != nil {
				t.Errorf("the chart rendered ConfigMap %s over one it does not manage", trustConfigMap)
			}
		}},
		{name: "the default pull credentials are refused by the API server", values: "agent: {image: {privateRegistry: true}}", stage: stageApply, err: "illegal base64"},
		{name: "a private registry with base64 credentials installs", values: "agent: {image: {privateRegistry: true, imageCredentials: {dockerconfig: " + dockerconfig + "}}}", check: func(t *testing.T, r *release) {
			if r.find("Secret", "nutanix-k8s-agent-pull-secret") == nil {
				t.Error("no pull Secret rendered")
			}
			if pod, err := r.pod("hook-postinstall"); err != nil || len(pod.Spec.ImagePullSecrets) != 1 {
				t.Errorf("hook-postinstall does not pull with the pull Secret (%v)", err)
			}
		}},
		{name: "without a Secret name the chart needs username and password", values: "prismCredentialsSecretName: ''", stage: stageSchema, err: "/pc"},
		{name: "without a Secret name the chart makes one", values: "prismCredentialsSecretName: ''\npc: {username: admin, password: " + password + "}", check: func(t *testing.T, r *release) {
			s := r.find("Secret", "konnector-agent-prism-credentials")
			if s == nil {
				t.Fatal("no Secret konnector-agent-prism-credentials rendered")
			}
			if typ, _, _ := unstructured.NestedString(s.Object, "type"); typ != string(corev1.SecretTypeBasicAuth) {
				t.Errorf("Secret konnector-agent-prism-credentials has type %q, want %s", typ, corev1.SecretTypeBasicAuth)
			}
		}},
		{name: "namespaceOverride wins over the release namespace", namespace: "other-ns", check: func(t *testing.T, r *release) {
			for _, u := range r.objects {
				if ns := u.GetNamespace(); ns != "" && ns != "ntnx-system" {
					t.Errorf("%s %s is in %s, want agent.namespaceOverride ntnx-system", u.GetKind(), u.GetName(), ns)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals, err := mergeYAML(installable, c.values)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := installDryRun(ctx, env.Config, "konnector-agent", cmpOr(c.namespace, "ntnx-system"), vals)
			t.Cleanup(func() {
				if t.Failed() && rel != nil {
					t.Logf("rendered manifests:\n%s", rel.manifest)
				}
			})
			switch {
			case c.stage == "" && err != nil:
				t.Fatalf("the chart refused the values: %v", err)
			case c.stage != "" && err == nil:
				t.Fatalf("the chart installed; want a refusal at %s saying %q", c.stage, c.err)
			case c.stage != "" && (stageOf(err) != c.stage || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("want a refusal at %s saying %q, got: %v", c.stage, c.err, err)
			}
			if c.check != nil {
				c.check(t, rel)
			}
		})
	}
}

// checkHook checks a rendered hook's kind, weight ("" for none) and delete policy.
func checkHook(t *testing.T, r *release, kind, name, hook, weight, deletePolicy string) {
	t.Helper()
	u := r.find(kind, name)
	if u == nil {
		t.Errorf("no %s %s rendered", kind, name)
		return
	}
	a := u.GetAnnotations()
	if a["helm.sh/hook"] != hook || (weight != "" && a["helm.sh/hook-weight"] != weight) || (deletePolicy != "" && a["helm.sh/hook-delete-policy"] != deletePolicy) {
		t.Errorf("%s %s hook annotations %v, want hook %s weight %q delete policy %q", kind, name, a, hook, weight, deletePolicy)
	}
}

// mergeYAML reads base and deep-merges override over it, as Helm merges a
// user's values over a chart's.
func mergeYAML(base, override string) (map[string]interface{}, error) {
	b, o := map[string]interface{}{}, map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(base), &b); err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal([]byte(override), &o); err != nil {
		return nil, err
	}
	return chartutil.CoalesceTables(o, b), nil
}
