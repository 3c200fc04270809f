package clusterconfig

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"strings"
)

// readTrustBundle reads clusterConfig's additionalTrustBundle: base64 of a PEM
// bundle, as Nutanix's API carries it (schema format byte), or raw PEM, as
// older configurations have it; only certificates, at least one. It returns
// the PEM, nil when the field is empty.
func readTrustBundle(value string) ([]byte, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	bundle := []byte(value)
	if !strings.HasPrefix(strings.TrimSpace(value), "-----BEGIN") {
		// base64 as written in YAML may be wrapped over several lines.
		decoded, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(value), ""))
		if err != nil {
			return nil, trustBundleError("is neither base64 nor PEM")
		}
		bundle = decoded
	}
	if !isPEMCertificates(bundle) {
		return nil, trustBundleError("does not hold a PEM bundle of certificates")
	}
	return bundle, nil
}

func trustBundleError(problem string) error {
	return &InputError{
		Field:   FieldEndpoint + ".additionalTrustBundle",
		Problem: problem,
		Fix:     "give the base64 encoding of one or more -----BEGIN CERTIFICATE----- blocks (the CA of Prism Central's certificate), or leave it out",
	}
}

// isPEMCertificates reports whether b holds only PEM CERTIFICATE blocks, at
// least one. Whether the certificates parse is the agent's concern.
func isPEMCertificates(b []byte) bool {
	rest := b
	found := false
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			return found && len(bytes.TrimSpace(rest)) == 0
		}
		if block.Type != "CERTIFICATE" {
			return false
		}
		found = true
		rest = next
	}
}
