package helmrender

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// The render check has teeth: the values the product wrote before issue 14
// (testdata/pre-issue, README there) fail it in the three ways the issue
// reports against the published chart.
func TestPreIssueValues_RefusedAsTheIssueReports(t *testing.T) {
	cases := []struct {
		file  string
		stage string
		want  []string
	}{
		{"basic.yaml", stageSchema, []string{"values don't meet the specifications of the schema", "'anyOf' failed", "/additionalTrustBundleConfigMapName", "/pc/additionalTrustBundle", "minLength"}},
		{"basic-insecure.yaml", stageApply, []string{"Secret ntnx-system/nutanix-k8s-agent-pull-secret", "illegal base64 data at input byte 7"}},
		{"pem-trust-bundle.yaml", stageParse, []string{"YAML parse error on konnector-agent/templates/trust-bundle.yaml", "could not find expected ':'"}},
	}
	ctx := context.Background()
	cluster := managementcluster.NewCluster("pre-issue", "my-cluster", addon(""))
	createClusterWithCredentials(t, cluster)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "pre-issue", c.file))
			if err != nil {
				t.Fatal(err)
			}
			// As the pre-issue product wrote them, with its default settings.
			spec := caaphv1.HelmChartProxySpec{ChartName: "konnector-agent", ReleaseName: "konnector-agent", ReleaseNamespace: "ntnx-system", ValuesTemplate: string(raw)}
			rel, _, err := install(ctx, t, spec.ReleaseName, spec.ReleaseNamespace, spec, cluster)
			if err == nil {
				t.Fatalf("the pre-issue values %s installed:\n%s", c.file, rel.manifest)
			}
			if got := stageOf(err); got != c.stage {
				t.Fatalf("the pre-issue values %s failed at %q, want at %q: %v", c.file, got, c.stage, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error for %s does not say %q:\n%v", c.file, w, err)
				}
			}
		})
	}
}
