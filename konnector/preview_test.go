package konnector

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

func TestPreview_ShowsWhatWouldBeWrittenWithNoCredential(t *testing.T) {
	s := testSettings(t)
	s.Values = map[string]any{"agent": map[string]any{"image": map[string]any{"imageCredentials": map[string]any{"password": "pull-secret"}}}}
	cfg := &clusterconfig.Config{CredentialsSecret: "pc", PrismCentral: clusterconfig.Endpoint{Host: "pc.example.com", Port: 9440}}
	out := string(Preview(testCluster("c"), cfg, s))

	if strings.Contains(out, "pull-secret") {
		t.Fatalf("the operator's image pull password is shown:\n%s", out)
	}
	for _, part := range []string{
		"# Registered in Prism Central as \"c\"\n",
		"# warning: " + InsecureFallbackWarning + "\n",
		"kind: HelmChartProxy", "kind: ClusterResourceSet", "kind: Secret",
		"password: " + Redacted, // the operator's value, redacted
		// The Prism Central credentials, in the resource-set Secret's manifests.
		`"username":"` + base64.StdEncoding.EncodeToString([]byte(Redacted)) + `"`,
	} {
		if !strings.Contains(out, part) {
			t.Errorf("the preview does not show %q:\n%s", part, out)
		}
	}
	// Every document after the comments is a manifest.
	docs := regexp.MustCompile(`(?m)^---\n`).Split(out, -1)
	if len(docs) != 4 {
		t.Fatalf("%d documents, want the comments and 3 objects:\n%s", len(docs), out)
	}
	for _, doc := range docs[1:] {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj["kind"] == nil {
			t.Errorf("not a manifest (%v):\n%s", err, doc)
		}
	}
}
