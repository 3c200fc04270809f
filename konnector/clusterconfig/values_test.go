package clusterconfig

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/valuestest"
)

// helmValues renders the values and reads them back as Helm would.
func helmValues(t testing.TB, in Values) map[string]any {
	t.Helper()
	var got map[string]any
	out := valuestest.CAAPHRender(t, RenderValues(ChartValues(in)))
	if err := yaml.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("values do not parse: %v\n%s", err, out)
	}
	return got
}

func TestChartValues_CoverTheChartValues(t *testing.T) {
	defaults := testSettings(t)
	pcHost := Endpoint{Host: "pc.example.com", Port: 9440}
	withImage := defaults
	withImage.ImageRepository, withImage.ImageName, withImage.ImageTag = "registry.example.com/nutanix", "konnector-agent", "1.4.1"
	withImage.K8sDistribution = "CAPX"
	withImage.ReleaseNamespace = "agents"
	withValues := defaults
	withValues.Values = map[string]any{"agent": map[string]any{"updateConfigInMin": 10.0, "image": map[string]any{"pullPolicy": "Always"}}, "extra": "x"}

	base := func(edit func(v map[string]any)) map[string]any {
		v := map[string]any{
			"agent":          map[string]any{"name": "konnector-agent", "namespaceOverride": "ntnx-system", "image": map[string]any{"privateRegistry": false}},
			"pc":             map[string]any{"endpoint": "pc.example.com", "port": 9440.0, "insecure": true},
			"k8sClusterName": "my-cluster", "k8sDistribution": "NKP", "categoryMappings": "",
			"kubeconfigUpload": map[string]any{"enabled": false},
			"createSecret":     false, "prismCredentialsSecretName": "konnector-agent",
		}
		if edit != nil {
			edit(v)
		}
		return v
	}
	sub := func(v map[string]any, key string) map[string]any { return v[key].(map[string]any) }
	bundle := []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")

	cases := []struct {
		name string
		in   Values
		want map[string]any
	}{
		{"seed Basic: insecure false without a bundle is installed insecure",
			Values{WorkloadSecret: workloadSecret, Settings: defaults, RegisteredName: "my-cluster", PrismCentral: pcHost}, base(nil)},
		{"trust bundle goes base64 and keeps insecure false",
			Values{WorkloadSecret: workloadSecret, Settings: defaults, RegisteredName: "my-cluster", PrismCentral: Endpoint{Host: "pc.example.com", Port: 9440, TrustBundle: bundle}},
			base(func(v map[string]any) {
				sub(v, "pc")["insecure"] = false
				sub(v, "pc")["additionalTrustBundle"] = base64.StdEncoding.EncodeToString(bundle)
			})},
		{"insecure true, IP and port",
			Values{WorkloadSecret: workloadSecret, Settings: defaults, RegisteredName: "my-cluster", PrismCentral: Endpoint{Host: "10.0.0.5", Port: 8443, Insecure: true}},
			base(func(v map[string]any) { sub(v, "pc")["endpoint"], sub(v, "pc")["port"] = "10.0.0.5", 8443.0 })},
		{"categories and kubeconfig upload",
			Values{WorkloadSecret: workloadSecret, Settings: defaults, RegisteredName: "my-cluster", PrismCentral: pcHost, Categories: []string{"AppType=Kubernetes", "Team=blue"}, KubeconfigEndpoint: "https://cp.example.com:6443"},
			base(func(v map[string]any) {
				v["categoryMappings"] = "AppType=Kubernetes,Team=blue"
				v["kubeconfigUpload"] = map[string]any{"enabled": true, "controlPlaneEndpoint": "https://cp.example.com:6443"}
			})},
		{"image, distribution and release namespace from settings",
			Values{WorkloadSecret: workloadSecret, Settings: withImage, RegisteredName: "my-cluster", PrismCentral: pcHost},
			base(func(v map[string]any) {
				sub(v, "agent")["namespaceOverride"] = "agents"
				sub(v, "agent")["image"] = map[string]any{"privateRegistry": false, "repository": "registry.example.com/nutanix", "name": "konnector-agent", "tag": "1.4.1"}
				v["k8sDistribution"] = "CAPX"
			})},
		{"operator values merged over the computed ones",
			Values{WorkloadSecret: workloadSecret, Settings: withValues, RegisteredName: "my-cluster", PrismCentral: pcHost},
			base(func(v map[string]any) {
				sub(v, "agent")["updateConfigInMin"] = 10.0
				sub(v, "agent")["image"] = map[string]any{"privateRegistry": false, "pullPolicy": "Always"}
				v["extra"] = "x"
			})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := helmValues(t, c.in); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("values:\n got %v\nwant %v", got, c.want)
			}
		})
	}
	if !reflect.DeepEqual(withValues.Values, map[string]any{"agent": map[string]any{"updateConfigInMin": 10.0, "image": map[string]any{"pullPolicy": "Always"}}, "extra": "x"}) {
		t.Fatalf("merging changed the operator's values, which every call shares: %v", withValues.Values)
	}
}

// TestRenderValues_HostileStringsStayData feeds strings that would change the
// YAML structure or CAAPH's template if they were not quoted and escaped.
func TestRenderValues_HostileStringsStayData(t *testing.T) {
	hostile := []string{
		`plain`, `"quoted"`, `it's`, "multi\nline: value\n- item", `key: value`, `# comment`, `---`,
		`{{ .Cluster.metadata.name }}`, `{{`, `}}`, `{{- /* */ -}}`, `{{"{{"}}`, `&anchor *alias`, `!!binary AAAA`,
		"tab\there", "nul\x00byte", "line\u2028separator",
		"bom\ufeff", "\x01\x1b[31m",
		`\"escaped\\`, `<script>&amp;</script>`, `ünïcødé ✓`, `null`, `true`, `9440`, ``,
		strings.Repeat("long words ", 20),
	}
	s := testSettings(t)
	for _, h := range hostile {
		checkHostile(t, s, h)
	}
}

func checkHostile(t testing.TB, s settings.Settings, h string) {
	t.Helper()
	if !yamlCarries(string([]rune(h))) {
		return // refused where it enters (TestYAMLCarries)
	}
	s.AgentName, s.ImageTag = h, h
	in := Values{WorkloadSecret: workloadSecret, Settings: s, RegisteredName: h, Categories: []string{h}, PrismCentral: Endpoint{Host: h, Port: 9440}, KubeconfigEndpoint: h}
	out := valuestest.CAAPHRender(t, RenderValues(ChartValues(in)))
	var got valuestest.Rendered
	if err := yaml.UnmarshalStrict([]byte(out), &got); err != nil {
		t.Fatalf("input %q: values are not the expected YAML: %v\n%s", h, err, out)
	}
	// Values are UTF-8: each byte of invalid UTF-8 becomes U+FFFD, as when
	// the API server decodes a Cluster's JSON.
	h = string([]rune(h))
	tag, _ := got.Agent.Image["tag"].(string)
	endpoint, _ := got.KubeconfigUpload["controlPlaneEndpoint"].(string)
	if got.Agent.Name != h || got.PC.Endpoint != h || got.K8sClusterName != h || got.CategoryMappings != h ||
		(h != "" && (tag != h || endpoint != h)) {
		t.Fatalf("input %q came out changed: %+v\n%s", h, got, out)
	}
	if got.PC.Port != 9440 || !got.PC.Insecure || got.PrismCredentialsSecretName != workloadSecret || got.CreateSecret {
		t.Fatalf("input %q changed other values: %+v", h, got)
	}
}

func TestRenderValues_TrustBundleOnlyWhenSet(t *testing.T) {
	out := RenderValues(ChartValues(Values{WorkloadSecret: workloadSecret, Settings: testSettings(t), RegisteredName: "c", PrismCentral: Endpoint{Host: "h", Port: 1}}))
	if strings.Contains(out, "additionalTrustBundle") {
		t.Fatalf("trust bundle rendered although unset:\n%s", out)
	}
}

func TestKubeconfigEndpoint_EmptyUntilTheClusterHasAHostAndPort(t *testing.T) {
	cases := []struct {
		host string
		port int32
		want string
	}{
		{"cp.example.com", 6443, "https://cp.example.com:6443"},
		{"10.0.0.9", 443, "https://10.0.0.9:443"},
		{"fd00::9", 6443, "https://[fd00::9]:6443"},
		{"", 6443, ""},
		{"cp.example.com", 0, ""},
	}
	for _, c := range cases {
		if got := KubeconfigEndpoint(c.host, c.port); got != c.want {
			t.Errorf("kubeconfigEndpoint(%q, %d) = %q, want %q", c.host, c.port, got, c.want)
		}
	}
}

// TestYAMLCarries pins what sigs.k8s.io/yaml cannot write faithfully, found
// by trying every character, and that a category holding one is refused.
func TestYAMLCarries_RefusesWhatYAMLCannotWriteBack(t *testing.T) {
	for _, s := range []string{"del\x7f", "next line\u0085", "c1\u0090control", "nonchar\uffff", "nonchar\ufffe"} {
		if yamlCarries(s) {
			t.Errorf("yamlCarries(%q) = true", s)
		}
		if _, err := yaml.Marshal(map[string]any{"k": s}); err == nil && !strings.Contains(s, "\u0085") {
			t.Errorf("sigs.k8s.io/yaml now writes %q: yamlCarries can be relaxed", s)
		}
		cfg := `{` + pc + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"k","value":` + jsonString(s) + `}]}}},"addons":{"konnectorAgent":{}}}`
		if _, err := Read([]byte(cfg), nil, defaultSecret); err == nil || !strings.Contains(err.Error(), "additionalCategories[0]") {
			t.Errorf("category %q: error %v, want one naming the category", s, err)
		}
	}
	for _, s := range []string{"plain", "nul\x00", "\x1b[31m", "bom\ufeff", "\u2028", "\U0001F600", "\u00a0"} {
		if !yamlCarries(s) {
			t.Errorf("yamlCarries(%q) = false", s)
		}
	}
}
