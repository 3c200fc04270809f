package konnector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// BenchmarkDecideDeploy_NoOp is the CPU the hooks and Sync spend per
// Cluster with nothing to change: our objects read whole and compared with
// the desired ones field by field, which renders the values.
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
	facts.Current = written(DecideDeploy(facts, s, DeployRules{}).Writes)
	b.ReportAllocs()
	for b.Loop() {
		if d := DecideDeploy(facts, s, DeployRules{}); d.Outcome != OutcomeUpToDate {
			b.Fatalf("outcome %s: %s", d.Outcome, d.Message)
		}
	}
}
