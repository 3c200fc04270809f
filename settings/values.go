package settings

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// PerClusterValues are the chart values the hooks compute for each cluster.
// An operator's values file may not set them: one file serves every cluster,
// so it would register them all under one name, or at one Prism Central.
var PerClusterValues = []string{
	"pc.endpoint",
	"pc.port",
	"pc.insecure",
	"pc.additionalTrustBundle",
	"k8sClusterName",
	"categoryMappings",
	"prismCredentialsSecretName",
	"kubeconfigUpload.controlPlaneEndpoint",
}

// readValuesFile reads an operator's chart values: a YAML mapping that sets
// none of PerClusterValues.
func readValuesFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the values file: %w", err)
	}
	var values map[string]any
	if err := yaml.UnmarshalStrict(b, &values); err != nil {
		return nil, fmt.Errorf("is not a YAML mapping of chart values: %w", err)
	}
	if values == nil {
		return nil, fmt.Errorf("holds no values: give a YAML mapping of chart values, or unset the variable")
	}
	// Every call writes these values; a value YAML cannot write back would
	// fail every call, so it stops start-up instead.
	if _, err := yaml.Marshal(values); err != nil {
		return nil, fmt.Errorf("holds a value that cannot be written back as YAML: %w", err)
	}
	for _, key := range PerClusterValues {
		if set, ok := overrides(values, strings.Split(key, ".")); ok {
			if set != key {
				return nil, fmt.Errorf("sets %s to a value that is not a mapping, which would replace %s, computed by konnector-hooks for each cluster: remove it from the file", set, key)
			}
			return nil, fmt.Errorf("sets %s, which konnector-hooks computes for each cluster: remove it from the file", key)
		}
	}
	return values, nil
}

// overrides reports whether values set path, or a prefix of it to a
// non-mapping (which a merge would put in place of the mapping), and the key.
func overrides(values map[string]any, path []string) (string, bool) {
	v, ok := values[path[0]]
	if !ok {
		return "", false
	}
	if len(path) == 1 {
		return path[0], true
	}
	next, isMap := v.(map[string]any)
	if !isMap {
		return path[0], true
	}
	key, set := overrides(next, path[1:])
	return path[0] + "." + key, set
}
