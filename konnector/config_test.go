package konnector

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/valuestest"
)

const (
	defaultSecret = valuestest.DefaultSecret
	pc            = valuestest.PrismCentral
	testBundle    = valuestest.TrustBundle
)

var jsonString = valuestest.JSONString

func variables(clusterConfig string) []clusterv1.ClusterVariable {
	return []clusterv1.ClusterVariable{
		{Name: "otherVariable", Value: apiextensionsv1.JSON{Raw: []byte(`"x"`)}},
		{Name: "clusterConfig", Value: apiextensionsv1.JSON{Raw: []byte(clusterConfig)}},
	}
}

func TestReadConfig_ValidInputs(t *testing.T) {
	endpoint := clusterconfig.Endpoint{Host: "prism-central.example.com", Port: 9440}
	cases := []struct {
		name      string
		variables []clusterv1.ClusterVariable
		want      *clusterconfig.Config
	}{
		{"no variables: addon off", nil, nil},
		{"no clusterConfig: addon off", []clusterv1.ClusterVariable{{Name: "x", Value: apiextensionsv1.JSON{Raw: []byte(`{}`)}}}, nil},
		{"clusterConfig null: addon off", variables(`null`), nil},
		{"no addons: addon off", variables(`{` + pc + `}`), nil},
		{"other addons only: addon off", variables(`{` + pc + `,"addons":{"cni":{"provider":"Cilium"}}}`), nil},
		{"konnectorAgent null: addon off", variables(`{"addons":{"konnectorAgent":null}}`), nil},
		// Whether the addon is on is decided from addons.konnectorAgent
		// alone: what else of clusterConfig is malformed does not matter.
		{"addons a list: addon off", variables(`{"addons":[1]}`), nil},
		{"clusterConfig a string: addon off", variables(`"config"`), nil},
		{"malformed fields the addon reads, addon absent: off", variables(`{"nutanix":{"prismCentralEndpoint":"pc"},"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":"x"}}}}`), nil},
		{"seed Basic / Minimal example: {}", variables(`{` + pc + `,"addons":{"konnectorAgent":{}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: endpoint, KubeconfigUpload: true}},
		{"seed Advanced example", variables(`{` + pc + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: endpoint, KubeconfigUpload: true}},
		{"custom secret name", variables(`{` + pc + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"my-pc-credentials"}}}}}`),
			&clusterconfig.Config{CredentialsSecret: "my-pc-credentials", PrismCentral: endpoint, KubeconfigUpload: true}},
		{"unknown fields tolerated", variables(`{"controlPlane":{"nutanix":{}},"nutanix":{"prismCentralEndpoint":{"url":"https://pc.example.com","credentials":{"secretRef":{"name":"x"}}}},"addons":{"konnectorAgent":{"future":true}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: clusterconfig.Endpoint{Host: "pc.example.com", Port: 9440}, KubeconfigUpload: true}},
		{"port default 9440", variables(`{"nutanix":{"prismCentralEndpoint":{"url":"https://pc.example.com/"}},"addons":{"konnectorAgent":{}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: clusterconfig.Endpoint{Host: "pc.example.com", Port: 9440}, KubeconfigUpload: true}},
		{"explicit port, insecure, trust bundle", variables(`{"nutanix":{"prismCentralEndpoint":{"url":"https://10.0.0.5:8443","insecure":true,"additionalTrustBundle":` + jsonString(testBundle) + `}},"addons":{"konnectorAgent":{}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: clusterconfig.Endpoint{Host: "10.0.0.5", Port: 8443, Insecure: true, TrustBundle: []byte(testBundle)}, KubeconfigUpload: true}},
		{"IPv6 host", variables(`{"nutanix":{"prismCentralEndpoint":{"url":"https://[fd00::5]:9440"}},"addons":{"konnectorAgent":{}}}`),
			&clusterconfig.Config{CredentialsSecret: defaultSecret, PrismCentral: clusterconfig.Endpoint{Host: "fd00::5", Port: 9440}, KubeconfigUpload: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadConfig(topology(c.variables), defaultSecret)
			if err != nil {
				t.Fatalf("ReadConfig: %v", err)
			}
			if (got == nil) != (c.want == nil) || (got != nil && !reflect.DeepEqual(got, c.want)) {
				t.Fatalf("ReadConfig:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestReadConfig_InvalidInputsNameTheFieldAndTheFix(t *testing.T) {
	addon := func(agent string) []clusterv1.ClusterVariable {
		return variables(`{` + pc + `,"addons":{"konnectorAgent":` + agent + `}}`)
	}
	endpoint := func(pcEndpoint string) []clusterv1.ClusterVariable {
		return variables(`{"nutanix":{"prismCentralEndpoint":` + pcEndpoint + `},"addons":{"konnectorAgent":{}}}`)
	}
	cases := []struct {
		name      string
		variables []clusterv1.ClusterVariable
		field     string
		says      string
	}{
		{"unknown strategy", addon(`{"strategy":"ClusterResourceSet"}`), "clusterConfig.addons.konnectorAgent.strategy", `unsupported strategy "ClusterResourceSet"`},
		{"credentials without secretRef", addon(`{"credentials":{}}`), "clusterConfig.addons.konnectorAgent.credentials.secretRef.name", "missing"},
		{"empty secret name", addon(`{"credentials":{"secretRef":{"name":""}}}`), "clusterConfig.addons.konnectorAgent.credentials.secretRef.name", "missing or empty"},
		{"secret name too long", addon(`{"credentials":{"secretRef":{"name":"` + strings.Repeat("a", 300) + `"}}}`), "credentials.secretRef.name", "not a valid Secret name"},
		{"secret name with slash", addon(`{"credentials":{"secretRef":{"name":"ns/name"}}}`), "credentials.secretRef.name", "not a valid Secret name"},
		{"addon is a string", variables(`{"addons":{"konnectorAgent":"yes"}}`), "clusterConfig.addons.konnectorAgent", "is a JSON string where an object is expected"},
		{"strategy is a number", addon(`{"strategy":3}`), "clusterConfig.addons.konnectorAgent.strategy", "is a JSON number where a string is expected"},
		{"addon on, controlPlane categories not a list", variables(`{` + pc + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":"AppType=Kubernetes"}}},"addons":{"konnectorAgent":{}}}`),
			"clusterConfig.controlPlane.nutanix.machineDetails.additionalCategories", "where a list is expected"},
		{"no Prism Central endpoint", variables(`{"addons":{"konnectorAgent":{}}}`), "clusterConfig.nutanix.prismCentralEndpoint.url", "is required"},
		{"empty url", endpoint(`{"url":""}`), "prismCentralEndpoint.url", "is required"},
		{"http url", endpoint(`{"url":"http://pc.example.com:9440"}`), "prismCentralEndpoint.url", "does not use https"},
		{"no scheme", endpoint(`{"url":"pc.example.com:9440"}`), "prismCentralEndpoint.url", "https"},
		{"url with path", endpoint(`{"url":"https://pc.example.com:9440/api/nutanix"}`), "prismCentralEndpoint.url", "path, query or fragment"},
		{"url with query", endpoint(`{"url":"https://pc.example.com:9440?x=1"}`), "prismCentralEndpoint.url", "path, query or fragment"},
		{"url with user info", endpoint(`{"url":"https://admin:pw@pc.example.com:9440"}`), "prismCentralEndpoint.url", "user information"},
		{"url without host", endpoint(`{"url":"https://:9440"}`), "prismCentralEndpoint.url", "no host"},
		{"bad port", endpoint(`{"url":"https://pc.example.com:99999"}`), "prismCentralEndpoint.url", "port"},
		{"url is a number", endpoint(`{"url":9440}`), "clusterConfig.nutanix.prismCentralEndpoint.url", "is a JSON number"},
		{"insecure is a string", endpoint(`{"url":"https://pc.example.com","insecure":"yes"}`), "prismCentralEndpoint.insecure", "a boolean"},
		{"trust bundle not PEM", endpoint(`{"url":"https://pc.example.com","additionalTrustBundle":"not a certificate"}`), "prismCentralEndpoint.additionalTrustBundle", "is neither base64 nor PEM"},
		{"trust bundle base64 of something else", endpoint(`{"url":"https://pc.example.com","additionalTrustBundle":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"}`), "prismCentralEndpoint.additionalTrustBundle", "does not hold a PEM bundle of certificates"},
		{"trust bundle with a key", endpoint(`{"url":"https://pc.example.com","additionalTrustBundle":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`), "additionalTrustBundle", "does not hold a PEM bundle of certificates"},
		{"category key with a comma", variables(`{` + pc + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"a,b","value":"c"}]}}},"addons":{"konnectorAgent":{}}}`),
			"clusterConfig.controlPlane.nutanix.machineDetails.additionalCategories[0]", `contains ","`},
		{"worker category value with =", append(variables(`{`+pc+`,"addons":{"konnectorAgent":{}}}`), clusterv1.ClusterVariable{Name: "workerConfig", Value: apiextensionsv1.JSON{Raw: []byte(`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"ok","value":"ok"},{"key":"a","value":"b=c"}]}}}`)}}),
			"workerConfig.nutanix.machineDetails.additionalCategories[1]", `"a"="b=c"`},
		{"workerConfig categories not a list", append(variables(`{`+pc+`,"addons":{"konnectorAgent":{}}}`), clusterv1.ClusterVariable{Name: "workerConfig", Value: apiextensionsv1.JSON{Raw: []byte(`{"nutanix":{"machineDetails":{"additionalCategories":{"key":"a"}}}}`)}}),
			"workerConfig.nutanix.machineDetails.additionalCategories", "is a JSON object where a list is expected"},
		{"enableKubeconfigUpload a string", addon(`{"enableKubeconfigUpload":"yes"}`), "clusterConfig.addons.konnectorAgent.enableKubeconfigUpload", "a boolean"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadConfig(topology(c.variables), defaultSecret)
			if err == nil {
				t.Fatalf("ReadConfig accepted it: %+v", got)
			}
			input, ok := err.(*InputError)
			if !ok {
				t.Fatalf("error %T %v is not an *InputError", err, err)
			}
			if !strings.Contains(input.Field, c.field) || !strings.Contains(err.Error(), c.says) || input.Fix == "" {
				t.Fatalf("error %q: want field %q, text %q and a fix", err, c.field, c.says)
			}
		})
	}
}

func topology(variables []clusterv1.ClusterVariable) *clusterv1.Topology {
	return &clusterv1.Topology{Variables: variables}
}

// realClusterConfig is the clusterConfig a cluster built from Nutanix's
// ClusterClasses carries (facts: the real clusterConfig), with the addon on.
const realClusterConfig = `{
  "nutanix": {"prismCentralEndpoint": {"url": "https://pc.example.com:9440", "insecure": false,
    "additionalTrustBundle": "%s",
    "credentials": {"secretRef": {"name": "my-cluster-pc-creds"}}}},
  "controlPlane": {"nutanix": {"machineDetails": {"vcpus": 4, "additionalCategories": [{"key": "AppType", "value": "Kubernetes"}, {"key": "Env", "value": ""}]}}},
  "dns": {"coreDNS": {}},
  "addons": {"cni": {"provider": "Cilium"},
    "konnectorAgent": {"credentials": {"secretRef": {"name": "my-cluster-pc-creds-for-konnector-agent"}}, "enableKubeconfigUpload": false}}
}`

func TestReadConfig_TheClusterConfigNutanixClustersCarry(t *testing.T) {
	bundle := base64.StdEncoding.EncodeToString([]byte(testBundle))
	worker := func(categories string) clusterv1.ClusterVariable {
		return clusterv1.ClusterVariable{Name: "workerConfig", Value: apiextensionsv1.JSON{Raw: []byte(`{"nutanix":{"machineDetails":{"memorySize":"8Gi","additionalCategories":` + categories + `}}}`)}}
	}
	topo := &clusterv1.Topology{
		Variables: []clusterv1.ClusterVariable{
			{Name: "clusterConfig", Value: apiextensionsv1.JSON{Raw: []byte(strings.Replace(realClusterConfig, "%s", bundle, 1))}},
			worker(`[{"key":"AppType","value":"Kubernetes"},{"key":"Team","value":"blue"}]`),
		},
		Workers: clusterv1.WorkersTopology{MachineDeployments: []clusterv1.MachineDeploymentTopology{
			{Name: "md-0", Variables: clusterv1.MachineDeploymentVariables{Overrides: []clusterv1.ClusterVariable{worker(`[{"key":"Team","value":"red"},{"key":"","value":"x"}]`)}}},
			{Name: "md-1"},
		}},
	}
	got, err := ReadConfig(topo, defaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	want := &clusterconfig.Config{
		CredentialsSecret: "my-cluster-pc-creds-for-konnector-agent",
		PrismCentral:      clusterconfig.Endpoint{Host: "pc.example.com", Port: 9440, TrustBundle: []byte(testBundle)},
		Categories:        []string{"AppType=Kubernetes", "Team=blue", "Team=red"},
		KubeconfigUpload:  false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadConfig:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadConfig_TrustBundleForms(t *testing.T) {
	for name, value := range map[string]string{
		"base64 (Nutanix's API)":           base64.StdEncoding.EncodeToString([]byte(testBundle)),
		"base64 wrapped over lines":        strings.Join(chunks(base64.StdEncoding.EncodeToString([]byte(testBundle)), 16), "\n"),
		"raw PEM (earlier configurations)": testBundle,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ReadConfig(topology(variables(`{"nutanix":{"prismCentralEndpoint":{"url":"https://pc.example.com","additionalTrustBundle":`+jsonString(value)+`}},"addons":{"konnectorAgent":{}}}`)), defaultSecret)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.PrismCentral.TrustBundle) != testBundle {
				t.Fatalf("trust bundle %q, want the PEM %q", got.PrismCentral.TrustBundle, testBundle)
			}
		})
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// KONNECTOR_UNINSTALL_ALL makes every Cluster one without the addon, the
// one that has it and the one whose configuration is invalid alike, so
// that the hooks deploy nothing and Sync uninstalls every agent as for a
// disabled addon; without it, ReadConfigWith is ReadConfig.
func TestReadConfigWith_UninstallAllTreatsEveryClusterAsDisabled(t *testing.T) {
	enabled := topology(variables(`{` + pc + `,"addons":{"konnectorAgent":{}}}`))
	invalid := topology(variables(`{"addons":{"konnectorAgent":{"strategy":"ClusterResourceSet"}}}`))
	on := settings.Settings{DefaultCredentialsSecret: defaultSecret}
	removing := settings.Settings{DefaultCredentialsSecret: defaultSecret, UninstallAll: true}

	if got, err := ReadConfigWith(enabled, on); err != nil || got == nil || got.CredentialsSecret != defaultSecret {
		t.Fatalf("without the setting, an enabled Cluster reads %+v, %v", got, err)
	}
	if _, err := ReadConfigWith(invalid, on); err == nil {
		t.Fatal("without the setting, an invalid configuration is not reported")
	}
	for name, topo := range map[string]*clusterv1.Topology{"enabled": enabled, "invalid": invalid} {
		if got, err := ReadConfigWith(topo, removing); got != nil || err != nil {
			t.Errorf("%s Cluster under %s_UNINSTALL_ALL: %+v, %v; want the addon off", name, settings.Prefix, got, err)
		}
	}
	if reason := NotEnabledReason(removing); !strings.Contains(reason, "KONNECTOR_UNINSTALL_ALL") {
		t.Errorf("the answer under the setting says %q, not why the addon is off", reason)
	}
}
