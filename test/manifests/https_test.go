package manifests

import (
	"slices"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// withHTTPS composes the install with knative/https.
const withHTTPS = "test/manifests/testdata/with-https"

func TestManifests_WithHTTPSPassesStrictServerSideValidation(t *testing.T) {
	want := append(slices.Clone(defaultInstall),
		"cert-manager.io/v1 Issuer konnector-hooks/konnector-hooks-selfsigned",
		"cert-manager.io/v1 Certificate konnector-hooks/konnector-hooks-ca",
		"cert-manager.io/v1 Issuer konnector-hooks/konnector-hooks-ca",
		"cert-manager.io/v1 Certificate konnector-hooks/konnector-hooks-tls",
		"networking.k8s.io/v1 Ingress konnector-hooks/konnector-hooks-tls",
	)
	passesStrictValidation(t, withHTTPS, want)
}

// The Ingress serves the ExtensionConfig's URL with the Certificate's
// Secret, in front of the Route's Service of the same name, and CAPI trusts
// that Secret's CA.
func TestManifests_WithHTTPSServesTheExtensionConfigURLWithTheCertificate(t *testing.T) {
	objs := render(t, withHTTPS)
	const host = "konnector-hooks.konnector-hooks.svc.cluster.local"
	ec := find(t, objs, "ExtensionConfig", "konnector-agent")
	if url := nested[string](t, ec, "spec", "clientConfig", "url"); url != "https://"+host {
		t.Errorf("the ExtensionConfig calls %s, want https://%s", url, host)
	}
	if ca := ec.GetAnnotations()["runtime.cluster.x-k8s.io/inject-ca-from-secret"]; ca != "konnector-hooks/konnector-hooks-tls" {
		t.Errorf("the ExtensionConfig trusts the CA of %s, want konnector-hooks/konnector-hooks-tls", ca)
	}
	cert := find(t, objs, "Certificate", "konnector-hooks-tls")
	if dns := nested[[]any](t, cert, "spec", "dnsNames"); !slices.Equal(dns, []any{host}) {
		t.Errorf("the Certificate names %v, want [%s]", dns, host)
	}
	var ingress networkingv1.Ingress
	convert(t, find(t, objs, "Ingress", "konnector-hooks-tls"), &ingress)
	if len(ingress.Spec.TLS) != 1 || ingress.Spec.TLS[0].SecretName != nested[string](t, cert, "spec", "secretName") || !slices.Equal(ingress.Spec.TLS[0].Hosts, []string{host}) {
		t.Errorf("the Ingress's TLS is %+v, want the Certificate's Secret for %s", ingress.Spec.TLS, host)
	}
	rule := ingress.Spec.Rules[0]
	backend := rule.HTTP.Paths[0].Backend.Service
	if rule.Host != host || backend.Name != "konnector-hooks" || backend.Port.Number != 80 {
		t.Errorf("the Ingress routes %s to %s:%d, want %s to the Route's Service konnector-hooks:80", rule.Host, backend.Name, backend.Port.Number, host)
	}
}
