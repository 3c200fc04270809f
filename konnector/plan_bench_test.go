package konnector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
)

// BenchmarkDecideDeploy_NoOp is the CPU a sync spends per Cluster with
// nothing to change, comparing our objects as the hooks do (read whole,
// field by field, which renders the values) and as Sync's LISTs read them
// (metadata only, by the desired-state hash): the measurement behind how
// Sync compares.
func BenchmarkDecideDeploy_NoOp(b *testing.B) {
	s := testSettingsFuzz(b)
	cluster := testCluster("c")
	cluster.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
	cluster.Spec.Topology = *topology(variables(`{` + pc + `,"addons":{"konnectorAgent":{}}}`))
	secrets := map[types.NamespacedName]*corev1.Secret{{Namespace: "ns1", Name: defaultSecret}: {
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: defaultSecret},
		Data:       map[string][]byte{"username": []byte("u"), "password": []byte("p")},
	}}
	facts := DeployFacts{Cluster: cluster, Secrets: secrets}
	facts.Config, facts.ConfigErr = ReadConfigWith(&cluster.Spec.Topology, s)
	whole := written(DecideDeploy(facts, s, DeployRules{}).Writes)
	metadata := Current{MetadataOnly: true,
		HelmChartProxy:     &caaphv1.HelmChartProxy{ObjectMeta: *whole.HelmChartProxy.ObjectMeta.DeepCopy()},
		ClusterResourceSet: &addonsv1.ClusterResourceSet{ObjectMeta: *whole.ClusterResourceSet.ObjectMeta.DeepCopy()},
		ResourceSetSecret:  &corev1.Secret{ObjectMeta: *whole.ResourceSetSecret.ObjectMeta.DeepCopy()},
	}
	for _, c := range []struct {
		name    string
		current Current
	}{{"whole objects", whole}, {"metadata and hash", metadata}} {
		b.Run(c.name, func(b *testing.B) {
			f := facts
			f.Current = c.current
			b.ReportAllocs()
			for b.Loop() {
				if d := DecideDeploy(f, s, DeployRules{}); d.Outcome != OutcomeUpToDate {
					b.Fatalf("outcome %s: %s", d.Outcome, d.Message)
				}
			}
		})
	}
}
