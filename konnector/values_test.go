package konnector

import (
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
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

type chartValues struct {
	Agent struct {
		Name string `json:"name"`
	} `json:"agent"`
	PC struct {
		Endpoint              string  `json:"endpoint"`
		Port                  int32   `json:"port"`
		Insecure              bool    `json:"insecure"`
		AdditionalTrustBundle *string `json:"additionalTrustBundle"`
	} `json:"pc"`
	K8sClusterName             string `json:"k8sClusterName"`
	PrismCredentialsSecretName string `json:"prismCredentialsSecretName"`
}

func TestRenderValues_CoversTheChartValues(t *testing.T) {
	cases := []struct {
		name string
		in   valuesInput
		want string
	}{
		{"defaults", valuesInput{AgentName: "konnector-agent", ClusterName: "my-cluster", CredentialsSecretName: "konnector-agent",
			PrismCentral: Endpoint{Host: "pc.example.com", Port: 9440}},
			"agent:\n  name: \"konnector-agent\"\npc:\n  endpoint: \"pc.example.com\"\n  port: 9440\n  insecure: false\n" +
				"k8sClusterName: \"my-cluster\"\nprismCredentialsSecretName: \"konnector-agent\"\n"},
		{"insecure and trust bundle", valuesInput{AgentName: "a", ClusterName: "c", CredentialsSecretName: "s",
			PrismCentral: Endpoint{Host: "10.0.0.5", Port: 8443, Insecure: true, AdditionalTrustBundle: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"}},
			"agent:\n  name: \"a\"\npc:\n  endpoint: \"10.0.0.5\"\n  port: 8443\n  insecure: true\n" +
				"  additionalTrustBundle: \"-----BEGIN CERTIFICATE-----\\nAA==\\n-----END CERTIFICATE-----\\n\"\n" +
				"k8sClusterName: \"c\"\nprismCredentialsSecretName: \"s\"\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := renderValues(c.in); got != c.want {
				t.Fatalf("renderValues:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestRenderValues_HostileStringsStayData feeds strings that would change the
// YAML structure or CAAPH's template if they were not quoted and escaped.
func TestRenderValues_HostileStringsStayData(t *testing.T) {
	hostile := []string{
		`plain`,
		`"quoted"`,
		`it's`,
		"multi\nline: value\n- item",
		`key: value`,
		`# comment`,
		`---`,
		`{{ .Cluster.metadata.name }}`,
		`{{`,
		`}}`,
		`{{- /* */ -}}`,
		`{{"{{"}}`,
		`&anchor *alias`,
		`!!binary AAAA`,
		"tab\there",
		"nul\x00byte",
		"line\u2028separator",
		"del\x7f", "next line\u0085", "c1\u0090control", "bom\ufeff", "nonchar\uffff",
		`\"escaped\\`,
		`<script>&amp;</script>`,
		`ünïcødé ✓`,
		`null`,
		`true`,
		`9440`,
		``,
	}
	for _, s := range hostile {
		in := valuesInput{AgentName: s, ClusterName: s, CredentialsSecretName: s,
			PrismCentral: Endpoint{Host: s, Port: 9440, AdditionalTrustBundle: s}}
		out := caaphRender(t, renderValues(in))
		var got chartValues
		if err := yaml.UnmarshalStrict([]byte(out), &got); err != nil {
			t.Fatalf("input %q: values are not the expected YAML: %v\n%s", s, err, out)
		}
		bundle := ""
		if got.PC.AdditionalTrustBundle != nil {
			bundle = *got.PC.AdditionalTrustBundle
		}
		if got.Agent.Name != s || got.PC.Endpoint != s || got.K8sClusterName != s || got.PrismCredentialsSecretName != s || (s != "" && bundle != s) {
			t.Fatalf("input %q came out changed: %+v\n%s", s, got, out)
		}
		if got.PC.Port != 9440 || got.PC.Insecure {
			t.Fatalf("input %q changed other values: %+v", s, got)
		}
	}
}

func TestRenderValues_TrustBundleOnlyWhenSet(t *testing.T) {
	out := renderValues(valuesInput{AgentName: "a", ClusterName: "c", CredentialsSecretName: "s", PrismCentral: Endpoint{Host: "h", Port: 1}})
	if strings.Contains(out, "additionalTrustBundle") {
		t.Fatalf("trust bundle rendered although unset:\n%s", out)
	}
}
