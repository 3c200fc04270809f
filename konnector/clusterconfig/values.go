package clusterconfig

import (
	"encoding/base64"
	"net"
	"strconv"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// Values is what the chart values of one cluster are computed from.
type Values struct {
	Settings       settings.Settings
	RegisteredName string
	PrismCentral   Endpoint
	Categories     []string
	// KubeconfigEndpoint is the control plane's https://host:port for the
	// kubeconfig upload, "" when the upload is off.
	KubeconfigEndpoint string
	// WorkloadSecret names the credentials Secret on the workload cluster
	// that the chart reads.
	WorkloadSecret string
}

// ChartValues are the Konnector Agent chart values for one cluster, for the
// 1.4.x chart and the 1.3.x one at once (facts: the chart's values table):
//
//   - agent.namespaceOverride: the chart puts every object there whatever
//     the release namespace, so it must be the namespace the credentials
//     Secret is delivered to;
//   - agent.image.privateRegistry false: otherwise the chart makes a pull
//     Secret from a placeholder that the API server refuses;
//   - pc.insecure true when no trust bundle is given (see DesiredObjects);
//     the bundle goes base64-encoded, as the chart inserts it into YAML raw;
//   - createSecret false (1.3.x) and prismCredentialsSecretName (1.4.x): the
//     chart uses the Secret the ClusterResourceSet delivers.
//
// The operator's values file is merged over them; start-up checks that it
// sets none of settings.PerClusterValues.
func ChartValues(in Values) map[string]any {
	s := in.Settings
	image := map[string]any{"privateRegistry": false}
	for key, value := range map[string]string{"repository": s.ImageRepository, "name": s.ImageName, "tag": s.ImageTag} {
		if value != "" {
			image[key] = value
		}
	}
	pc := map[string]any{
		"endpoint": in.PrismCentral.Host,
		"port":     in.PrismCentral.Port,
		"insecure": in.PrismCentral.Insecure || in.PrismCentral.TrustBundle == nil,
	}
	if in.PrismCentral.TrustBundle != nil {
		pc["additionalTrustBundle"] = base64.StdEncoding.EncodeToString(in.PrismCentral.TrustBundle)
	}
	upload := map[string]any{"enabled": in.KubeconfigEndpoint != ""}
	if in.KubeconfigEndpoint != "" {
		upload["controlPlaneEndpoint"] = in.KubeconfigEndpoint
	}
	values := map[string]any{
		"agent": map[string]any{
			"name":              s.AgentName,
			"namespaceOverride": s.ReleaseNamespace,
			"image":             image,
		},
		"pc":                         pc,
		"k8sClusterName":             in.RegisteredName,
		"k8sDistribution":            s.K8sDistribution,
		"categoryMappings":           strings.Join(in.Categories, ","),
		"kubeconfigUpload":           upload,
		"createSecret":               false,
		"prismCredentialsSecretName": in.WorkloadSecret,
	}
	mergeValues(values, s.Values)
	return values
}

// mergeValues merges over into values: mappings key by key, any other value
// replaces. over is only read, as every call shares it.
func mergeValues(values, over map[string]any) {
	for key, o := range over {
		if om, ok := o.(map[string]any); ok {
			if vm, ok := values[key].(map[string]any); ok {
				mergeValues(vm, om)
				continue
			}
			values[key] = CopyValues(om)
			continue
		}
		values[key] = o
	}
}

// CopyValues copies values deeply, mappings included.
func CopyValues(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	mergeValues(out, m)
	return out
}

// RenderValues writes values as the HelmChartProxy's valuesTemplate. CAAPH
// executes it as a Go template before Helm reads it as YAML, so every "{{"
// is written as an action that prints "{{", and the template gives back
// exactly this YAML.
func RenderValues(values map[string]any) string {
	b, err := yamlv2.Marshal(values)
	if err != nil {
		// The values are strings, numbers, booleans and maps of them.
		panic("konnector: marshalling the chart values: " + err.Error())
	}
	return strings.ReplaceAll(string(b), "{{", `{{"{{"}}`)
}

// yamlCarries reports whether sigs.k8s.io/yaml writes s so that it reads back
// unchanged: it refuses DEL, the C1 controls and U+FFFE/U+FFFF, and writes
// NEL (U+0085) as a line break read back as a space. Inputs that reach the
// values are checked with it, so that rendering never fails or changes one.
func yamlCarries(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return (r >= 0x7F && r <= 0x9F) || r == 0xFFFE || r == 0xFFFF
	})
}

// KubeconfigEndpoint is the control plane endpoint as the chart's
// kubeconfigUpload.controlPlaneEndpoint, "" when the Cluster has none yet.
func KubeconfigEndpoint(host string, port int32) string {
	if port == 0 || !isHost(host) {
		return ""
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(int(port)))
}
