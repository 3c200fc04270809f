// Package release builds konnector-hooks as a clusterctl provider of type
// RuntimeExtensionProvider, following clusterctl's provider contract: the
// default install (the repository's top-level kustomization) as one
// runtime-extension-components.yaml, with the image set and the settings an
// operator chooses at install as clusterctl variables, and metadata.yaml,
// from which clusterctl reads the release series and the CAPI contract.
//
// It lives in the test/manifests module, which already has kustomize and
// CAPI, so that neither enters the product's go.mod; `make release` runs
// ./cmd/release, and the package's tests read the result with clusterctl's
// own library.
package release

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const (
	// ProviderName is the provider's name in clusterctl: `clusterctl init
	// --runtime-extension konnector-hooks`, labelled
	// runtime-extension-konnector-hooks.
	ProviderName = "konnector-hooks"
	// ComponentsFile and MetadataFile are the files clusterctl reads from a
	// release of a RuntimeExtensionProvider.
	ComponentsFile = "runtime-extension-components.yaml"
	MetadataFile   = "metadata.yaml"
	// Contract is the CAPI contract the release implements: CAPI v1.11 to
	// v1.14 speak v1beta2.
	Contract = "v1beta2"

	// ImageVariable is the function's image, the release's build by default:
	// clusterctl lists and overrides (its images: setting) only the images
	// of Deployments and DaemonSets, and the default install runs the image
	// in a Knative Service and a CronJob, so a mirror is set with this.
	ImageVariable = "KONNECTOR_HOOKS_IMAGE"
	// CASecretVariable names the Secret (<namespace>/<name>, with ca.crt)
	// whose CA CAPI trusts for the hooks' certificate: the ExtensionConfig's
	// inject-ca-from-secret annotation.
	CASecretVariable = "KONNECTOR_HOOKS_CA_SECRET"
	// settingsConfigMap holds the function's settings, read by its envFrom
	// and by the admission fence as its parameters.
	settingsConfigMap  = "konnector-hooks-settings"
	injectCAAnnotation = "runtime.cluster.x-k8s.io/inject-ca-from-secret"
	koPrefix           = "ko://"
)

// Components builds the kustomization at root, as `kubectl kustomize` does,
// and turns it into clusterctl's components YAML:
//
//   - every ko:// image reference becomes ${KONNECTOR_HOOKS_IMAGE:=<image>},
//     and comments go;
//   - every setting of the settings ConfigMap that has a value becomes the
//     clusterctl variable of its own name with that value as its default,
//     ${KONNECTOR_CHART_VERSION:=1.3.0-rc.0}, quoted so that a number stays
//     a string. Settings that are empty stay empty: clusterctl takes an
//     empty default for a variable that must be set;
//   - the ExtensionConfig's CA Secret becomes ${KONNECTOR_HOOKS_CA_SECRET:=...}.
func Components(root, image string) ([]byte, error) {
	if image == "" || strings.HasPrefix(image, koPrefix) {
		return nil, fmt.Errorf("the release needs a built image reference, not %q", image)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), root)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", root, err)
	}
	for _, r := range resources.Resources() {
		walk(r.YNode(), func(n *yaml.Node) {
			// Comments go: clusterctl would read a $NAME in one as a
			// variable to set.
			n.HeadComment, n.LineComment, n.FootComment = "", "", ""
			if n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, koPrefix) {
				n.Value = variable(ImageVariable, image)
			}
		})
		switch {
		case r.GetKind() == "ConfigMap" && r.GetName() == settingsConfigMap:
			if err := settingsAsVariables(&r.RNode); err != nil {
				return nil, err
			}
		case r.GetKind() == "ExtensionConfig":
			if ca, ok := r.GetAnnotations()[injectCAAnnotation]; ok {
				if _, err := r.Pipe(yaml.SetAnnotation(injectCAAnnotation, variable(CASecretVariable, ca))); err != nil {
					return nil, fmt.Errorf("ExtensionConfig %s: %w", r.GetName(), err)
				}
			}
		}
	}
	// Each object on its own, not resources.AsYaml, which drops the quotes
	// set above.
	var out []byte
	for i, r := range fenceFirst(resources.Resources()) {
		text, err := r.RNode.String()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, text...)
	}
	return out, nil
}

// Metadata is clusterctl's metadata.yaml for version: its release series
// and the contract it implements.
func Metadata(v string) ([]byte, error) {
	parsed, err := version.ParseSemantic(v)
	if err != nil {
		return nil, fmt.Errorf("release version %q: %w", v, err)
	}
	return fmt.Appendf(nil, `apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3
kind: Metadata
releaseSeries:
  - major: %d
    minor: %d
    contract: %s
`, parsed.Major(), parsed.Minor(), Contract), nil
}

// Write writes the release's two files into dir.
func Write(dir, root, image, v string) error {
	metadata, err := Metadata(v)
	if err != nil {
		return err
	}
	components, err := Components(root, image)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range map[string][]byte{MetadataFile: metadata, ComponentsFile: components} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fenceFirst orders the admission fence right after the Namespace.
// clusterctl creates the objects in the file's order (after Namespaces and
// cert-manager's) and stops at the first it cannot create: on an API server
// older than Kubernetes 1.30, which has no admissionregistration.k8s.io/v1
// ValidatingAdmissionPolicy, it stops there, before the RBAC binding, the
// ExtensionConfig and the function exist, so that nothing runs unfenced and
// CAPI is not pointed at hooks that are not there.
func fenceFirst(objs []*resource.Resource) []*resource.Resource {
	rank := func(r *resource.Resource) int {
		switch r.GetKind() {
		case "Namespace":
			return 0
		case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			return 1
		}
		return 2
	}
	ordered := slices.Clone(objs)
	slices.SortStableFunc(ordered, func(a, b *resource.Resource) int { return rank(a) - rank(b) })
	return ordered
}

// WriteLocalRepository writes the release into a clusterctl local
// repository under dir (<dir>/runtime-extension-konnector-hooks/<version>/)
// and a clusterctl configuration whose providers: entry points at it, and
// returns the configuration's path: what an operator does to install a
// release from disk, and what the tests read with clusterctl's library.
func WriteLocalRepository(dir, root, image, v string) (string, error) {
	versionDir := filepath.Join(dir, clusterctlv1.ManifestLabel(ProviderName, clusterctlv1.RuntimeExtensionProviderType), v)
	if err := Write(versionDir, root, image, v); err != nil {
		return "", err
	}
	config := filepath.Join(dir, "clusterctl.yaml")
	content := fmt.Sprintf("providers:\n  - name: %s\n    type: RuntimeExtensionProvider\n    url: %s\n", ProviderName, filepath.Join(versionDir, ComponentsFile))
	return config, os.WriteFile(config, []byte(content), 0o600)
}

// variable is a clusterctl variable with a default.
func variable(name, value string) string { return "${" + name + ":=" + value + "}" }

func settingsAsVariables(configMap *yaml.RNode) error {
	data, err := configMap.Pipe(yaml.Lookup("data"))
	if err != nil || data == nil {
		return fmt.Errorf("ConfigMap %s has no data: %v", settingsConfigMap, err)
	}
	return data.VisitFields(func(field *yaml.MapNode) error {
		value := field.Value.YNode()
		if value.Value == "" {
			return nil
		}
		if strings.ContainsAny(value.Value, "${}") {
			return fmt.Errorf("ConfigMap %s: %s %q cannot be a clusterctl default", settingsConfigMap, field.Key.YNode().Value, value.Value)
		}
		value.Value = variable(field.Key.YNode().Value, value.Value)
		value.Tag = yaml.NodeTagString
		value.Style = yaml.DoubleQuotedStyle
		return nil
	})
}

func walk(node *yaml.Node, f func(*yaml.Node)) {
	f(node)
	for _, n := range node.Content {
		walk(n, f)
	}
}
