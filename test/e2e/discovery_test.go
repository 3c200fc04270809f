package e2e

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDiscovery_CAPIRegistersTheThreeHandlers checks what CAPI's runtime
// client made of the function's DiscoveryResponse, as it stored it in the
// ExtensionConfig's status: exactly our three handlers, named
// <handler>.<ExtensionConfig>, a timeout CAPI accepts, and failurePolicy
// Ignore for AfterControlPlaneInitialized and BeforeClusterUpgrade (an
// unreachable konnector-hooks never stops a Cluster) and the default Fail
// of KONNECTOR_DELETE_FAILURE_POLICY for BeforeClusterDelete.
func TestDiscovery_CAPIRegistersTheThreeHandlers(t *testing.T) {
	want := []string{
		"AfterControlPlaneInitialized after-control-plane-initialized.%s hooks.runtime.cluster.x-k8s.io/v1alpha1 Ignore 30s",
		"BeforeClusterDelete before-cluster-delete.%s hooks.runtime.cluster.x-k8s.io/v1alpha1 Fail 30s",
		"BeforeClusterUpgrade before-cluster-upgrade.%s hooks.runtime.cluster.x-k8s.io/v1alpha1 Ignore 30s",
	}
	for name := range functions {
		t.Run(name, func(t *testing.T) {
			ec := mustGet(t, runtimeAPIVersion, "ExtensionConfig", "", name)
			handlers, _, err := unstructured.NestedSlice(ec.Object, "status", "handlers")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range handlers {
				m := h.(map[string]any)
				hook, _, _ := unstructured.NestedString(m, "requestHook", "hook")
				apiVersion, _, _ := unstructured.NestedString(m, "requestHook", "apiVersion")
				timeout, _, _ := unstructured.NestedInt64(m, "timeoutSeconds")
				got = append(got, fmt.Sprintf("%s %s %s %s %ds", hook, m["name"], apiVersion, m["failurePolicy"], timeout))
			}
			slices.Sort(got)
			var expected []string
			for _, w := range want {
				expected = append(expected, fmt.Sprintf(w, name))
			}
			if !slices.Equal(got, expected) {
				t.Errorf("ExtensionConfig %s status.handlers:\n got  %q\n want %q", name, got, expected)
			}
			discoveries := functions[name].wire.where(func(e exchange) bool { return e.Kind == "DiscoveryRequest" })
			if len(discoveries) == 0 {
				t.Fatalf("no DiscoveryRequest crossed the TLS proxy of %s", name)
			}
			for _, e := range discoveries {
				if e.Method != "POST" || e.Path != "/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery" || e.HTTPStatus != 200 || e.ResponseKind != "DiscoveryResponse" || e.Status != "Success" {
					t.Errorf("discovery exchange %+v: want POST /hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery answered 200 DiscoveryResponse Success", e)
				}
			}
		})
	}
}
