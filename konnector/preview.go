package konnector

import (
	"fmt"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// Preview is what `konnector-hooks render` shows for a
// Cluster with the addon enabled: the objects the hooks would write, as
// YAML, the warnings as leading comments, every credential redacted.
func Preview(cluster *clusterv1.Cluster, cfg *clusterconfig.Config, s settings.Settings) []byte {
	// Redacted: the Prism Central credentials, and those of the operator's
	// values (image pull credentials), which the written HelmChartProxy
	// carries but a preview never shows.
	preview := s
	preview.Values = RedactValues(s.Values)
	desired := DesiredObjects(cluster, cfg, RedactedCredentials, preview)
	// Show the resource-set Secret's manifests as text rather than base64.
	secret := desired.ResourceSetSecret
	secret.StringData = map[string]string{ResourceSetKey: string(secret.Data[ResourceSetKey])}
	secret.Data = nil
	// Warnings lead the output as YAML comments, so that it stays a manifest.
	var out []byte
	out = fmt.Appendf(out, "# Registered in Prism Central as %q\n", desired.RegisteredName)
	for _, w := range desired.Warnings {
		out = fmt.Appendf(out, "# warning: %s\n", w)
	}
	for _, obj := range []client.Object{desired.HelmChartProxy, desired.ClusterResourceSet, desired.ResourceSetSecret} {
		out = append(append(out, "---\n"...), Manifest(obj)...)
	}
	return out
}
