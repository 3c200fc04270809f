package helmrender

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"k8s.io/apimachinery/pkg/runtime"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// expandValuesTemplate is CAAPH v0.5.3's template pass over valuesTemplate,
// as ParseValues and initializeBuiltins in internal/value_substitutions.go
// do it: the Cluster converted to unstructured under "Cluster", a template
// named <chart>-<cluster> with sprig's TxtFuncMap and no other option.
// CAAPH adds "ControlPlane" and "InfraCluster" when the Cluster references
// them; the Clusters of these tests reference neither, and a case that did
// would be refused here rather than rendered with less data than CAAPH has.
func expandValuesTemplate(spec caaphv1.HelmChartProxySpec, cluster *clusterv1.Cluster) (string, error) {
	if cluster.Spec.ControlPlaneRef.Name != "" || cluster.Spec.InfrastructureRef.Name != "" {
		return "", fmt.Errorf("Cluster %s/%s references a control plane or infrastructure object: this check does not load them as CAAPH would; drop the refs from the test Cluster", cluster.Namespace, cluster.Name)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cluster)
	if err != nil {
		return "", fmt.Errorf("converting Cluster %s/%s to unstructured: %w", cluster.Namespace, cluster.Name, err)
	}
	builtins := map[string]interface{}{"Cluster": u}
	tmpl, err := template.New(spec.ChartName + "-" + cluster.GetName()).Funcs(sprig.TxtFuncMap()).Parse(spec.ValuesTemplate)
	if err != nil {
		return "", fmt.Errorf("parsing valuesTemplate of HelmChartProxy for Cluster %s/%s: %w", cluster.Namespace, cluster.Name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, builtins); err != nil {
		return "", fmt.Errorf("executing valuesTemplate on Cluster %s/%s: %w", cluster.Namespace, cluster.Name, err)
	}
	return b.String(), nil
}

// chartValues reads the expanded values as CAAPH's Helm client does
// (internal/helm_client.go, InstallHelmRelease): written to a file and read
// back with Helm's values.Options.MergeValues.
func chartValues(dir, expanded string) (map[string]interface{}, error) {
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, []byte(expanded), 0o600); err != nil {
		return nil, err
	}
	opts := values.Options{ValueFiles: []string{file}}
	vals, err := opts.MergeValues(getter.All(cli.New()))
	if err != nil {
		return nil, fmt.Errorf("reading the expanded values as Helm values: %w", err)
	}
	return vals, nil
}
