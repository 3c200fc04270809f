package konnector

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// caaphRender does to a valuesTemplate what CAAPH does before Helm sees it:
// execute it as a Go template with the cluster as data.
func caaphRender(t testing.TB, valuesTemplate string) string {
	t.Helper()
	tmpl, err := template.New("values").Parse(valuesTemplate)
	if err != nil {
		t.Fatalf("CAAPH would fail to parse the valuesTemplate: %v\n%s", err, valuesTemplate)
	}
	var b strings.Builder
	data := map[string]any{"Cluster": map[string]any{"metadata": map[string]any{"name": "INJECTED"}}}
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("CAAPH would fail to execute the valuesTemplate: %v", err)
	}
	return b.String()
}

// renderedValues are the chart values as Helm reads them after CAAPH's pass.
type renderedValues struct {
	Agent struct {
		Name              string         `json:"name"`
		NamespaceOverride string         `json:"namespaceOverride"`
		Image             map[string]any `json:"image"`
	} `json:"agent"`
	PC struct {
		Endpoint              string  `json:"endpoint"`
		Port                  int32   `json:"port"`
		Insecure              bool    `json:"insecure"`
		AdditionalTrustBundle *string `json:"additionalTrustBundle"`
	} `json:"pc"`
	K8sClusterName             string         `json:"k8sClusterName"`
	K8sDistribution            string         `json:"k8sDistribution"`
	CategoryMappings           string         `json:"categoryMappings"`
	KubeconfigUpload           map[string]any `json:"kubeconfigUpload"`
	CreateSecret               bool           `json:"createSecret"`
	PrismCredentialsSecretName string         `json:"prismCredentialsSecretName"`
}

// helmValues renders the values and reads them back as Helm would.
func helmValues(t testing.TB, in valuesInput) map[string]any {
	t.Helper()
	var got map[string]any
	out := caaphRender(t, renderValues(chartValues(in)))
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
		in   valuesInput
		want map[string]any
	}{
		{"seed Basic: insecure false without a bundle is installed insecure",
			valuesInput{settings: defaults, registeredName: "my-cluster", prismCentral: pcHost}, base(nil)},
		{"trust bundle goes base64 and keeps insecure false",
			valuesInput{settings: defaults, registeredName: "my-cluster", prismCentral: Endpoint{Host: "pc.example.com", Port: 9440, TrustBundle: bundle}},
			base(func(v map[string]any) {
				sub(v, "pc")["insecure"] = false
				sub(v, "pc")["additionalTrustBundle"] = base64.StdEncoding.EncodeToString(bundle)
			})},
		{"insecure true, IP and port",
			valuesInput{settings: defaults, registeredName: "my-cluster", prismCentral: Endpoint{Host: "10.0.0.5", Port: 8443, Insecure: true}},
			base(func(v map[string]any) { sub(v, "pc")["endpoint"], sub(v, "pc")["port"] = "10.0.0.5", 8443.0 })},
		{"categories and kubeconfig upload",
			valuesInput{settings: defaults, registeredName: "my-cluster", prismCentral: pcHost, categories: []string{"AppType=Kubernetes", "Team=blue"}, kubeconfigEndpoint: "https://cp.example.com:6443"},
			base(func(v map[string]any) {
				v["categoryMappings"] = "AppType=Kubernetes,Team=blue"
				v["kubeconfigUpload"] = map[string]any{"enabled": true, "controlPlaneEndpoint": "https://cp.example.com:6443"}
			})},
		{"image, distribution and release namespace from settings",
			valuesInput{settings: withImage, registeredName: "my-cluster", prismCentral: pcHost},
			base(func(v map[string]any) {
				sub(v, "agent")["namespaceOverride"] = "agents"
				sub(v, "agent")["image"] = map[string]any{"privateRegistry": false, "repository": "registry.example.com/nutanix", "name": "konnector-agent", "tag": "1.4.1"}
				v["k8sDistribution"] = "CAPX"
			})},
		{"operator values merged over the computed ones",
			valuesInput{settings: withValues, registeredName: "my-cluster", prismCentral: pcHost},
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
	in := valuesInput{settings: s, registeredName: h, categories: []string{h}, prismCentral: Endpoint{Host: h, Port: 9440}, kubeconfigEndpoint: h}
	out := caaphRender(t, renderValues(chartValues(in)))
	var got renderedValues
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
	if got.PC.Port != 9440 || !got.PC.Insecure || got.PrismCredentialsSecretName != WorkloadSecretName || got.CreateSecret {
		t.Fatalf("input %q changed other values: %+v", h, got)
	}
}

func TestRenderValues_TrustBundleOnlyWhenSet(t *testing.T) {
	out := renderValues(chartValues(valuesInput{settings: testSettings(t), registeredName: "c", prismCentral: Endpoint{Host: "h", Port: 1}}))
	if strings.Contains(out, "additionalTrustBundle") {
		t.Fatalf("trust bundle rendered although unset:\n%s", out)
	}
}

func TestKubeconfigEndpoint(t *testing.T) {
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
		if got := kubeconfigEndpoint(c.host, c.port); got != c.want {
			t.Errorf("kubeconfigEndpoint(%q, %d) = %q, want %q", c.host, c.port, got, c.want)
		}
	}
}

// TestYAMLCarries pins what sigs.k8s.io/yaml cannot write faithfully, found
// by trying every character, and that a category holding one is refused.
func TestYAMLCarries(t *testing.T) {
	for _, s := range []string{"del\x7f", "next line\u0085", "c1\u0090control", "nonchar\uffff", "nonchar\ufffe"} {
		if yamlCarries(s) {
			t.Errorf("yamlCarries(%q) = true", s)
		}
		if _, err := yaml.Marshal(map[string]any{"k": s}); err == nil && !strings.Contains(s, "\u0085") {
			t.Errorf("sigs.k8s.io/yaml now writes %q: yamlCarries can be relaxed", s)
		}
		cfg := `{` + pc + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"k","value":` + jsonString(s) + `}]}}},"addons":{"konnectorAgent":{}}}`
		if _, err := ReadConfig(topology(variables(cfg)), defaultSecret); err == nil || !strings.Contains(err.Error(), "additionalCategories[0]") {
			t.Errorf("category %q: error %v, want one naming the category", s, err)
		}
	}
	for _, s := range []string{"plain", "nul\x00", "\x1b[31m", "bom\ufeff", "\u2028", "\U0001F600", "\u00a0"} {
		if !yamlCarries(s) {
			t.Errorf("yamlCarries(%q) = false", s)
		}
	}
}
