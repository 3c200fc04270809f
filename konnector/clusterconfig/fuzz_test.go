package clusterconfig

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/test/valuestest"
)

const (
	defaultSecret = valuestest.DefaultSecret
	pc            = valuestest.PrismCentral
	testBundle    = valuestest.TrustBundle
	// workloadSecret is konnector.WorkloadSecretName, which the values name.
	workloadSecret = "konnector-agent"
)

var (
	jsonString   = valuestest.JSONString
	testSettings = valuestest.Settings
)

// FuzzReadConfig feeds arbitrary clusterConfig values. Properties: no panic;
// an error is an *InputError naming a clusterConfig field; an accepted
// configuration renders values that CAAPH and YAML read back unchanged.
func FuzzReadConfig(f *testing.F) {
	for _, seed := range []string{
		`{` + pc + `,"addons":{"konnectorAgent":{}}}`,
		`{` + pc + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`,
		`{"nutanix":{"prismCentralEndpoint":{"url":"https://[fd00::5]:9440","insecure":true,"additionalTrustBundle":` + jsonString(testBundle) + `}},"addons":{"konnectorAgent":{}}}`,
		`{"nutanix":{"prismCentralEndpoint":{"url":"https://pc","additionalTrustBundle":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBPT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="}},"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"k","value":"v"}]}}},"addons":{"konnectorAgent":{"enableKubeconfigUpload":false}}}`,
		`{"addons":{"konnectorAgent":"yes"}}`,
		`{"nutanix":{"prismCentralEndpoint":{"url":"https://a:b@pc/x?y"}},"addons":{"konnectorAgent":{}}}`,
		`null`, `[]`, `"x"`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	s := testSettings(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Read(raw, nil, defaultSecret)
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
		values := RenderValues(ChartValues(Values{Settings: s, RegisteredName: "c", PrismCentral: cfg.PrismCentral, Categories: cfg.Categories, WorkloadSecret: workloadSecret}))
		var got valuestest.Rendered
		if err := yaml.UnmarshalStrict([]byte(valuestest.CAAPHRender(t, values)), &got); err != nil {
			t.Fatalf("values for %q do not parse: %v", raw, err)
		}
		bundle := ""
		if b := cfg.PrismCentral.TrustBundle; b != nil {
			bundle = base64.StdEncoding.EncodeToString(b)
		}
		gotBundle := ""
		if got.PC.AdditionalTrustBundle != nil {
			gotBundle = *got.PC.AdditionalTrustBundle
		}
		insecure := cfg.PrismCentral.Insecure || cfg.PrismCentral.TrustBundle == nil
		if got.PC.Endpoint != cfg.PrismCentral.Host || got.PC.Port != cfg.PrismCentral.Port || got.PC.Insecure != insecure || gotBundle != bundle ||
			got.CategoryMappings != strings.Join(cfg.Categories, ",") {
			t.Fatalf("values %+v differ from the configuration %+v", got, cfg)
		}
	})
}

// FuzzRenderValues feeds arbitrary strings to every string value.
func FuzzRenderValues(f *testing.F) {
	for _, seed := range []string{"konnector-agent", `{{ .Cluster }}`, "a\nb: c", `"`, "{{", "}}{{", "\x00", "- x"} {
		f.Add(seed)
	}
	s := testSettings(f)
	f.Fuzz(func(t *testing.T, value string) { checkHostile(t, s, value) })
}
