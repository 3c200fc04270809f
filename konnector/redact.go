package konnector

import (
	"strings"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

// Redacted is what a preview shows in place of a credential.
const Redacted = "REDACTED"

// RedactedCredentials stand in for the Prism Central credentials in a
// preview: the resource-set Secret is shown with them.
var RedactedCredentials = Credentials{Username: []byte(Redacted), Password: []byte(Redacted)}

// CredentialValues are the chart values that hold credentials, which an
// operator's values file may set: image pull credentials, and the chart's
// own Prism Central credentials (used only without
// prismCredentialsSecretName). The HelmChartProxy carries them; a preview
// never shows them.
var CredentialValues = []string{
	"agent.image.imageCredentials",
	"pc.username",
	"pc.password",
}

// RedactValues returns a copy of values with everything under
// CredentialValues Redacted, keys kept, so a preview shows what is set.
func RedactValues(values map[string]any) map[string]any {
	if values == nil {
		return nil
	}
	out := clusterconfig.CopyValues(values)
	for _, key := range CredentialValues {
		redactAt(out, strings.Split(key, "."))
	}
	return out
}

// redactAt redacts the value at path in values, a copy of its own.
func redactAt(values map[string]any, path []string) {
	v, ok := values[path[0]]
	switch {
	case !ok:
	case len(path) == 1:
		values[path[0]] = redactAll(v)
	default:
		if next, isMap := v.(map[string]any); isMap {
			redactAt(next, path[1:])
		}
	}
}

// redactAll replaces every scalar in v with Redacted, keeping its shape.
func redactAll(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = redactAll(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactAll(e)
		}
		return out
	}
	return Redacted
}
