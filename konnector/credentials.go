package konnector

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

// Credentials are the Prism Central username and password. They are only
// ever copied into the resource-set Secret, never into a message or a log.
type Credentials struct {
	Username, Password []byte
}

// ReadCredentials checks the source Secret named by the configuration and
// returns its credentials, or an *InputError that names the Secret and the fix.
func ReadCredentials(secret *corev1.Secret) (Credentials, error) {
	ref := secret.Namespace + "/" + secret.Name
	if secret.Type != corev1.SecretTypeOpaque && secret.Type != corev1.SecretTypeBasicAuth && secret.Type != "" {
		return Credentials{}, &InputError{
			Field:   "Secret " + ref,
			Problem: fmt.Sprintf("has type %s", secret.Type),
			Fix:     fmt.Sprintf("use a Secret of type %s or %s with keys username and password", corev1.SecretTypeOpaque, corev1.SecretTypeBasicAuth),
		}
	}
	var missing []string
	for _, key := range []string{corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey} {
		if len(secret.Data[key]) == 0 {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		return Credentials{}, &InputError{
			Field:   "Secret " + ref,
			Problem: fmt.Sprintf("has no value for %v", missing),
			Fix:     "put the Prism Central username and password under the keys username and password",
		}
	}
	return Credentials{
		Username: secret.Data[corev1.BasicAuthUsernameKey],
		Password: secret.Data[corev1.BasicAuthPasswordKey],
	}, nil
}

// MissingSecretError is the answer when the credentials Secret does not exist.
func MissingSecretError(namespace, name string) error {
	return &InputError{
		Field:    fmt.Sprintf("Secret %s/%s", namespace, name),
		Problem:  "not found",
		Fix:      "create it with keys username and password, or set " + clusterconfig.FieldAddon + ".credentials.secretRef.name",
		NotFound: true,
	}
}
