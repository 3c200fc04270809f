package konnector

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/valuestest"
)

func testSettings(t *testing.T) settings.Settings { return testSettingsFuzz(t) }

func testSettingsFuzz(t testing.TB) settings.Settings { return valuestest.Settings(t) }

func testCluster(name string) *clusterv1.Cluster {
	return &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", UID: types.UID("uid-" + name)}}
}

func TestDesiredObjects_SeedExamples(t *testing.T) {
	s := testSettings(t)
	creds := Credentials{Username: []byte("admin"), Password: []byte("password")}
	for _, example := range []struct{ cluster, clusterConfig string }{
		{"my-cluster", `{` + pc + `,"addons":{"konnectorAgent":{}}}`},
		{"custom-credentials-cluster", `{` + pc + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`},
		{"minimal-cluster", `{` + pc + `,"addons":{"konnectorAgent":{}}}`},
	} {
		t.Run(example.cluster, func(t *testing.T) {
			cfg, err := ReadConfig(topology(variables(example.clusterConfig)), s.DefaultCredentialsSecret)
			if err != nil || cfg == nil {
				t.Fatalf("ReadConfig: %v, %v", cfg, err)
			}
			cluster := testCluster(example.cluster)
			d := DesiredObjects(cluster, cfg, creds, s)
			name := "konnector-agent-" + example.cluster

			for _, obj := range []client.Object{d.HelmChartProxy, d.ClusterResourceSet, d.ResourceSetSecret} {
				if obj.GetName() != name || obj.GetNamespace() != "ns1" {
					t.Errorf("%T is %s/%s, want ns1/%s", obj, obj.GetNamespace(), obj.GetName(), name)
				}
				wantLabels := map[string]string{"cluster.x-k8s.io/cluster-name": example.cluster, "app.kubernetes.io/name": "konnector-agent", "app.kubernetes.io/managed-by": "konnector-hooks"}
				for k, v := range wantLabels {
					if obj.GetLabels()[k] != v {
						t.Errorf("%T label %s = %q, want %q", obj, k, obj.GetLabels()[k], v)
					}
				}
				refs := obj.GetOwnerReferences()
				if len(refs) != 1 || refs[0].Kind != "Cluster" || refs[0].APIVersion != "cluster.x-k8s.io/v1beta2" || refs[0].Name != example.cluster || refs[0].UID != cluster.UID {
					t.Errorf("%T owner references %+v", obj, refs)
				}
				if obj.GetObjectKind().GroupVersionKind().Kind == "" {
					t.Errorf("%T has no kind: server-side apply needs apiVersion and kind", obj)
				}
			}

			hcp := d.HelmChartProxy.Spec
			if hcp.RepoURL != s.ChartRepository || hcp.ChartName != "konnector-agent" || hcp.Version != "1.3.0-rc.0" ||
				hcp.ReleaseName != "konnector-agent" || hcp.ReleaseNamespace != "ntnx-system" ||
				hcp.ClusterSelector.MatchLabels["cluster.x-k8s.io/cluster-name"] != example.cluster || len(hcp.ClusterSelector.MatchLabels) != 1 {
				t.Errorf("HelmChartProxy spec %+v", hcp)
			}
			var values valuestest.Rendered
			if err := yaml.UnmarshalStrict([]byte(valuestest.CAAPHRender(t, hcp.ValuesTemplate)), &values); err != nil {
				t.Fatalf("valuesTemplate: %v\n%s", err, hcp.ValuesTemplate)
			}
			if values.Agent.Name != "konnector-agent" || values.Agent.NamespaceOverride != "ntnx-system" || values.Agent.Image["privateRegistry"] != false ||
				values.PC.Endpoint != "prism-central.example.com" || values.PC.Port != 9440 || !values.PC.Insecure ||
				values.K8sClusterName != example.cluster || values.K8sDistribution != "NKP" || values.CreateSecret || values.PrismCredentialsSecretName != "konnector-agent" {
				t.Errorf("values %+v\n%s", values, hcp.ValuesTemplate)
			}
			if len(d.Warnings) != 2 || d.Warnings[0] != InsecureFallbackWarning || !strings.Contains(d.Warnings[1], "no spec.controlPlaneEndpoint") {
				t.Errorf("warnings %q: want the insecure fallback and the kubeconfig upload", d.Warnings)
			}

			crs := d.ClusterResourceSet.Spec
			if crs.Strategy != "Reconcile" || crs.ClusterSelector.MatchLabels["cluster.x-k8s.io/cluster-name"] != example.cluster ||
				len(crs.Resources) != 1 || crs.Resources[0].Kind != "Secret" || crs.Resources[0].Name != name {
				t.Errorf("ClusterResourceSet spec %+v", crs)
			}
			if d.ResourceSetSecret.Type != "addons.cluster.x-k8s.io/resource-set" {
				t.Errorf("resource-set Secret type %q", d.ResourceSetSecret.Type)
			}
		})
	}
}

func TestDesiredObjects_ResourceSetHoldsNamespaceAndCredentials(t *testing.T) {
	s := testSettings(t)
	cfg := &clusterconfig.Config{CredentialsSecret: "x", PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440}}
	d := DesiredObjects(testCluster("c"), cfg, Credentials{Username: []byte("admin"), Password: []byte("pa:ss\nword")}, s)
	// One JSON list, as CAPI's ClusterResourceSet controller reads it.
	var docs []json.RawMessage
	if err := json.Unmarshal(d.ResourceSetSecret.Data[ResourceSetKey], &docs); err != nil || len(docs) != 2 {
		t.Fatalf("resource set is not a JSON list of 2 objects (%v):\n%s", err, d.ResourceSetSecret.Data[ResourceSetKey])
	}
	var ns corev1.Namespace
	if err := yaml.UnmarshalStrict(docs[0], &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Kind != "Namespace" || ns.Name != "ntnx-system" || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Fatalf("namespace manifest %+v", ns)
	}
	var secret corev1.Secret
	if err := yaml.UnmarshalStrict(docs[1], &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Kind != "Secret" || secret.Namespace != "ntnx-system" || secret.Name != "konnector-agent" ||
		string(secret.Data["username"]) != "admin" || string(secret.Data["password"]) != "pa:ss\nword" || len(secret.Data) != 2 {
		t.Fatalf("credentials manifest %+v", secret)
	}
}

func TestDesiredObjects_FollowSettings(t *testing.T) {
	s := testSettings(t)
	s.ChartRepository, s.ChartVersion, s.ReleaseNamespace, s.AgentName = "oci://registry.example.com/charts", "2.0.0", "agents", "pc-agent"
	d := DesiredObjects(testCluster("c"), &clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440}}, Credentials{}, s)
	if d.HelmChartProxy.Spec.RepoURL != s.ChartRepository || d.HelmChartProxy.Spec.Version != "2.0.0" || d.HelmChartProxy.Spec.ReleaseNamespace != "agents" {
		t.Fatalf("HelmChartProxy ignores settings: %+v", d.HelmChartProxy.Spec)
	}
	if !strings.Contains(d.HelmChartProxy.Spec.ValuesTemplate, "name: pc-agent\n  namespaceOverride: agents\n") {
		t.Fatalf("agent name not from settings:\n%s", d.HelmChartProxy.Spec.ValuesTemplate)
	}
	if !strings.Contains(string(d.ResourceSetSecret.Data[ResourceSetKey]), `"namespace":"agents"`) {
		t.Fatalf("credentials not delivered to the release namespace:\n%s", d.ResourceSetSecret.Data[ResourceSetKey])
	}
}

func TestReadCredentials_NamesTheSecretAndWhatIsMissing(t *testing.T) {
	secret := func(typ corev1.SecretType, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "pc"}, Type: typ, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	cases := []struct {
		name   string
		secret *corev1.Secret
		err    string
	}{
		{"opaque", secret(corev1.SecretTypeOpaque, map[string]string{"username": "u", "password": "p"}), ""},
		{"basic-auth", secret(corev1.SecretTypeBasicAuth, map[string]string{"username": "u", "password": "p"}), ""},
		{"no type", secret("", map[string]string{"username": "u", "password": "p"}), ""},
		{"wrong type", secret(corev1.SecretTypeTLS, map[string]string{"username": "u", "password": "p"}), "has type kubernetes.io/tls"},
		{"no password", secret(corev1.SecretTypeOpaque, map[string]string{"username": "u"}), "[password]"},
		{"empty values", secret(corev1.SecretTypeOpaque, map[string]string{"username": "", "password": ""}), "[username password]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			creds, err := ReadCredentials(c.secret)
			if c.err == "" {
				if err != nil || string(creds.Username) != "u" || string(creds.Password) != "p" {
					t.Fatalf("ReadCredentials = %v, %v", creds, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "Secret ns1/pc") {
				t.Fatalf("ReadCredentials error %v, want one naming Secret ns1/pc and %q", err, c.err)
			}
		})
	}
}

func TestDesiredObjects_WarnOnlyWhereTheAgentDiffersFromTheConfiguration(t *testing.T) {
	s := testSettings(t)
	bundle := []byte(testBundle)
	withEndpoint := testCluster("c")
	withEndpoint.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: "cp.example.com", Port: 6443}
	cases := []struct {
		name    string
		cluster *clusterv1.Cluster
		cfg     clusterconfig.Config
		says    []string
	}{
		{"verified, endpoint known", withEndpoint, clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, TrustBundle: bundle}, KubeconfigUpload: true}, nil},
		{"insecure by choice", withEndpoint, clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, Insecure: true}, KubeconfigUpload: true}, nil},
		{"insecure false without a bundle", withEndpoint, clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440}, KubeconfigUpload: true}, []string{"installed with insecure: true", "set clusterConfig.nutanix.prismCentralEndpoint.additionalTrustBundle"}},
		{"upload on, no endpoint yet", testCluster("c"), clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, Insecure: true}, KubeconfigUpload: true}, []string{"kubeconfig upload to Prism Central is off for now: Cluster ns1/c has no spec.controlPlaneEndpoint"}},
		{"upload off, no endpoint", testCluster("c"), clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, Insecure: true}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DesiredObjects(c.cluster, &c.cfg, Credentials{}, s)
			joined := strings.Join(d.Warnings, "\n")
			if (len(c.says) == 0) != (len(d.Warnings) == 0) {
				t.Fatalf("warnings %q, want ones saying %q", d.Warnings, c.says)
			}
			for _, want := range c.says {
				if !strings.Contains(joined, want) {
					t.Fatalf("warnings %q do not say %q", d.Warnings, want)
				}
			}
			var values valuestest.Rendered
			if err := yaml.UnmarshalStrict([]byte(valuestest.CAAPHRender(t, d.HelmChartProxy.Spec.ValuesTemplate)), &values); err != nil {
				t.Fatal(err)
			}
			upload := c.cfg.KubeconfigUpload && c.cluster.Spec.ControlPlaneEndpoint.Host != ""
			if values.KubeconfigUpload["enabled"] != upload || (upload && values.KubeconfigUpload["controlPlaneEndpoint"] != "https://cp.example.com:6443") {
				t.Fatalf("kubeconfigUpload %v, want enabled %v", values.KubeconfigUpload, upload)
			}
			if values.PC.Insecure != (c.cfg.PrismCentral.Insecure || c.cfg.PrismCentral.TrustBundle == nil) {
				t.Fatalf("pc.insecure %v for %+v", values.PC.Insecure, c.cfg.PrismCentral)
			}
		})
	}
}

func TestDesiredObjects_RegisteredNameFitsPrismCentral(t *testing.T) {
	s := testSettings(t)
	long := strings.Repeat("workload-cluster-", 4) + "a"
	other := strings.Repeat("workload-cluster-", 4) + "b"
	cfg := &clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, Insecure: true}}
	a, b := DesiredObjects(testCluster(long), cfg, Credentials{}, s), DesiredObjects(testCluster(other), cfg, Credentials{}, s)
	if len(a.RegisteredName) != 40 || a.RegisteredName == b.RegisteredName || !strings.HasPrefix(a.RegisteredName, long[:31]) {
		t.Fatalf("registered names %q and %q: want 40 characters each, distinct, starting with the cluster name", a.RegisteredName, b.RegisteredName)
	}
	if !strings.Contains(a.HelmChartProxy.Spec.ValuesTemplate, "k8sClusterName: "+a.RegisteredName+"\n") {
		t.Fatalf("values do not register %q:\n%s", a.RegisteredName, a.HelmChartProxy.Spec.ValuesTemplate)
	}
	if short := DesiredObjects(testCluster("c"), cfg, Credentials{}, s); short.RegisteredName != "c" {
		t.Fatalf("short name registered as %q", short.RegisteredName)
	}
}
