package konnector

import (
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzReadConfig feeds arbitrary clusterConfig values. Properties: no panic;
// an error is an *InputError naming a clusterConfig field; an accepted
// configuration renders values that CAAPH and YAML read back unchanged.
func FuzzReadConfig(f *testing.F) {
	for _, seed := range []string{
		`{` + pc + `,"addons":{"konnectorAgent":{}}}`,
		`{` + pc + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`,
		`{"nutanix":{"prismCentralEndpoint":{"url":"https://[fd00::5]:9440","insecure":true,"additionalTrustBundle":` + jsonString(testBundle) + `}},"addons":{"konnectorAgent":{}}}`,
		`{"addons":{"konnectorAgent":"yes"}}`,
		`{"nutanix":{"prismCentralEndpoint":{"url":"https://a:b@pc/x?y"}},"addons":{"konnectorAgent":{}}}`,
		`null`, `[]`, `"x"`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	s := testSettingsFuzz(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ReadConfig(variables(string(raw)), defaultSecret)
		if err != nil {
			var input *InputError
			if !errors.As(err, &input) || !strings.HasPrefix(input.Field, VariableName) || input.Fix == "" {
				t.Fatalf("error %T %v for %q", err, err, raw)
			}
			return
		}
		if cfg == nil {
			return
		}
		d := DesiredObjects(testCluster("c"), cfg, Credentials{Username: []byte("u"), Password: []byte("p")}, s)
		var got chartValues
		if err := yaml.UnmarshalStrict([]byte(caaphRender(t, d.HelmChartProxy.Spec.ValuesTemplate)), &got); err != nil {
			t.Fatalf("values for %q do not parse: %v", raw, err)
		}
		bundle := ""
		if got.PC.AdditionalTrustBundle != nil {
			bundle = *got.PC.AdditionalTrustBundle
		}
		if got.PC.Endpoint != cfg.PrismCentral.Host || got.PC.Port != cfg.PrismCentral.Port || got.PC.Insecure != cfg.PrismCentral.Insecure || bundle != cfg.PrismCentral.AdditionalTrustBundle {
			t.Fatalf("values %+v differ from the configuration %+v", got, cfg.PrismCentral)
		}
	})
}

// FuzzRenderValues feeds arbitrary strings to every string value.
func FuzzRenderValues(f *testing.F) {
	for _, seed := range []string{"konnector-agent", `{{ .Cluster }}`, "a\nb: c", `"`, "{{", "}}{{", "\x00", "- x"} {
		f.Add(seed, seed, seed)
	}
	f.Fuzz(func(t *testing.T, name, host, bundle string) {
		in := valuesInput{AgentName: name, ClusterName: host, CredentialsSecretName: name, PrismCentral: Endpoint{Host: host, Port: 9440, AdditionalTrustBundle: bundle}}
		var got chartValues
		out := caaphRender(t, renderValues(in))
		if err := yaml.UnmarshalStrict([]byte(out), &got); err != nil {
			t.Fatalf("values do not parse: %v\n%s", err, out)
		}
		gotBundle := ""
		if got.PC.AdditionalTrustBundle != nil {
			gotBundle = *got.PC.AdditionalTrustBundle
		}
		// Values are UTF-8: each byte of invalid UTF-8 becomes U+FFFD, as
		// when the API server decodes a Cluster's JSON.
		name, host, bundle = string([]rune(name)), string([]rune(host)), string([]rune(bundle))
		if got.Agent.Name != name || got.PC.Endpoint != host || got.K8sClusterName != host || gotBundle != bundle {
			t.Fatalf("values changed the input: %+v\n%s", got, out)
		}
	})
}
