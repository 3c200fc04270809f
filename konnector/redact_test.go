package konnector

import (
	"reflect"
	"strings"
	"testing"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

func TestRedactValues_HidesEveryCredentialAndKeepsTheRest(t *testing.T) {
	const secret = "c2VjcmV0LWRvY2tlcmNvbmZpZw=="
	cases := []struct {
		name   string
		values map[string]any
		want   map[string]any
	}{
		{"no values file", nil, nil},
		{"no credentials", map[string]any{"agent": map[string]any{"updateConfigInMin": 10.0}},
			map[string]any{"agent": map[string]any{"updateConfigInMin": 10.0}}},
		{"image pull credentials, every field",
			map[string]any{"agent": map[string]any{"image": map[string]any{
				"privateRegistry":  true,
				"imageCredentials": map[string]any{"dockerconfig": secret, "extra": []any{secret, 1.0}},
			}}},
			map[string]any{"agent": map[string]any{"image": map[string]any{
				"privateRegistry":  true,
				"imageCredentials": map[string]any{"dockerconfig": Redacted, "extra": []any{Redacted, Redacted}},
			}}}},
		{"image pull credentials that are not a mapping",
			map[string]any{"agent": map[string]any{"image": map[string]any{"imageCredentials": secret}}},
			map[string]any{"agent": map[string]any{"image": map[string]any{"imageCredentials": Redacted}}}},
		{"the chart's own Prism Central credentials",
			map[string]any{"pc": map[string]any{"username": "admin", "password": secret, "timeout": 30.0}},
			map[string]any{"pc": map[string]any{"username": Redacted, "password": Redacted, "timeout": 30.0}}},
		{"a key on the way is not a mapping", map[string]any{"agent": "flat"}, map[string]any{"agent": "flat"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := clusterconfig.CopyValues(tc.values)
			got := RedactValues(tc.values)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("RedactValues(%v) = %v, want %v", tc.values, got, tc.want)
			}
			if tc.values != nil && !reflect.DeepEqual(tc.values, before) {
				t.Fatalf("RedactValues changed its input: %v, was %v", tc.values, before)
			}
		})
	}
}

func TestRedactValues_APreviewOfTheObjectsShowsNoCredential(t *testing.T) {
	const dockerconfig = "eyJhdXRocyI6eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6e319fQ=="
	s := testSettings(t)
	s.Values = map[string]any{"agent": map[string]any{"image": map[string]any{
		"privateRegistry": true, "imageCredentials": map[string]any{"dockerconfig": dockerconfig},
	}}}
	cluster := testCluster("c")
	cfg := &clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc.example.com", Port: 9440, Insecure: true}, CredentialsSecret: "creds", KubeconfigUpload: true}
	written := DesiredObjects(cluster, cfg, Credentials{Username: []byte("admin"), Password: []byte("pa55")}, s)
	if !strings.Contains(written.HelmChartProxy.Spec.ValuesTemplate, dockerconfig) {
		t.Fatalf("the written values must carry the pull credentials, for the chart:\n%s", written.HelmChartProxy.Spec.ValuesTemplate)
	}
	preview := s
	preview.Values = RedactValues(s.Values)
	shown := DesiredObjects(cluster, cfg, RedactedCredentials, preview)
	for _, obj := range desiredManifests(shown) {
		if strings.Contains(obj, dockerconfig) {
			t.Fatalf("the preview shows a credential:\n%s", obj)
		}
	}
	if !strings.Contains(shown.HelmChartProxy.Spec.ValuesTemplate, "dockerconfig: "+Redacted) {
		t.Fatalf("the preview should show that pull credentials are set:\n%s", shown.HelmChartProxy.Spec.ValuesTemplate)
	}
}

func desiredManifests(d Desired) []string {
	return []string{string(Manifest(d.HelmChartProxy)), string(Manifest(d.ClusterResourceSet)), string(Manifest(d.ResourceSetSecret))}
}
