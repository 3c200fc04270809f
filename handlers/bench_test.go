package handlers

import (
	"fmt"
	"testing"
)

// BenchmarkAfterControlPlaneInitialized_NoOp measures a repeated call for a
// deployed cluster (five reads, no write) against the envtest API server.
func BenchmarkAfterControlPlaneInitialized_NoOp(b *testing.B) {
	h := newServer(b)
	ns, _ := newAddonCluster(b)
	body := request(b, "after-control-plane-initialized.v1beta2.json", ns, "c")
	if a := call(b, h, pathACPI, body); a.Status != "Success" {
		b.Fatal(a.Raw)
	}
	b.ResetTimer()
	for b.Loop() {
		if a := call(b, h, pathACPI, body); a.Status != "Success" {
			b.Fatal(a.Raw)
		}
	}
}

// BenchmarkAfterControlPlaneInitialized_NewCluster measures the first call
// for a cluster: reads, three server-side applies and an event.
func BenchmarkAfterControlPlaneInitialized_NewCluster(b *testing.B) {
	h := newServer(b)
	ns := newNamespace(b)
	createCredentials(b, ns, defaultSecret)
	var bodies [][]byte
	for i := range b.N {
		name := fmt.Sprintf("c%d", i)
		createCluster(b, ns, name, configBasic)
		bodies = append(bodies, request(b, "after-control-plane-initialized.v1beta2.json", ns, name))
	}
	b.ResetTimer()
	for i := range b.N {
		if a := call(b, h, pathACPI, bodies[i]); a.Status != "Success" {
			b.Fatal(a.Raw)
		}
	}
}

// BenchmarkBeforeClusterDelete_PendingPoll measures a poll while CAAPH uninstalls.
func BenchmarkBeforeClusterDelete_PendingPoll(b *testing.B) {
	h := newServer(b)
	ns, cluster := newAddonCluster(b, withFinalizer)
	call(b, h, pathACPI, request(b, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	createReleaseProxy(b, ns, "konnector-agent-c-r", "c", "konnector-agent-c")
	if err := mgmt.Client.Delete(b.Context(), cluster); err != nil {
		b.Fatal(err)
	}
	body := request(b, "before-cluster-delete.v1beta2.json", ns, "c")
	call(b, h, pathBCD, body) // deletes the HelmChartProxy
	b.ResetTimer()
	for b.Loop() {
		if a := call(b, h, pathBCD, body); a.Status != "Success" || *a.RetryAfterSeconds != 5 {
			b.Fatal(a.Raw)
		}
	}
}
