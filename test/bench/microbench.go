package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// MicroBench is one in-process benchmark of the function's pure code.
type MicroBench struct {
	Name        string  `json:"name"`
	MicrosPerOp float64 `json:"microsPerOp"`
	KiBPerOp    float64 `json:"kibPerOp"`
	AllocsPerOp int64   `json:"allocsPerOp"`
}

// Names of the micro-benchmarks the diagnosis refers to.
const (
	microDesired   = "konnector.DesiredObjects (every deploy call)"
	microManifests = "the two workload manifests with konnector.Manifest (sigs.k8s.io/yaml)"
	microJSON      = "the same two manifests as JSON (encoding/json; JSON is YAML)"
	microUpToDate  = "konnector.UpToDate of the three objects (every deploy call)"
)

// microBenchmarks measures, in the harness's process, the per-call CPU and
// allocations of computing the desired objects and of their parts.
func (b *bench) microBenchmarks(context.Context) error {
	s, err := settings.Load()
	if err != nil {
		return err
	}
	cluster := managementcluster.NewCluster("bench", "my-cluster", clusterConfig)
	cluster.UID = "5f4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"
	cfg, err := konnector.ReadConfig(&cluster.Spec.Topology, s.DefaultCredentialsSecret)
	if err != nil || cfg == nil {
		return fmt.Errorf("reading the benchmark cluster's configuration: %v", err)
	}
	creds := konnector.Credentials{Username: []byte("admin"), Password: []byte("bench-password")}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: s.ReleaseNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}},
	}
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: konnector.WorkloadSecretName, Namespace: s.ReleaseNamespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"username": creds.Username, "password": creds.Password},
	}
	d := konnector.DesiredObjects(cluster, cfg, creds, s)
	desired := []client.Object{d.HelmChartProxy, d.ClusterResourceSet, d.ResourceSetSecret}
	var existing []client.Object
	for _, o := range desired {
		existing = append(existing, o.DeepCopyObject().(client.Object))
	}

	cases := []struct {
		name string
		fn   func() error
	}{
		{microDesired, func() error { konnector.DesiredObjects(cluster, cfg, creds, s); return nil }},
		{microManifests, func() error {
			_ = append(append(konnector.Manifest(ns), "---\n"...), konnector.Manifest(secret)...)
			return nil
		}},
		{microJSON, func() error {
			a, err := jsonManifest(ns)
			if err != nil {
				return err
			}
			c, err := jsonManifest(secret)
			_ = append(append(a, "\n---\n"...), c...)
			return err
		}},
		{microUpToDate, func() error {
			for i := range desired {
				if ok, err := konnector.UpToDate(existing[i], desired[i]); err != nil || !ok {
					return fmt.Errorf("UpToDate of identical objects: %v %v", ok, err)
				}
			}
			return nil
		}},
	}
	for _, c := range cases {
		if err := c.fn(); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		r := testing.Benchmark(func(tb *testing.B) {
			tb.ReportAllocs()
			for tb.Loop() {
				_ = c.fn()
			}
		})
		m := MicroBench{Name: c.name, MicrosPerOp: float64(r.NsPerOp()) / 1000, KiBPerOp: float64(r.AllocedBytesPerOp()) / 1024, AllocsPerOp: r.AllocsPerOp()}
		b.rep.Micro = append(b.rep.Micro, m)
		logf("  %-72s %8.1f µs %8.1f KiB %6d allocs", m.Name, m.MicrosPerOp, m.KiBPerOp, m.AllocsPerOp)
	}
	return nil
}

// jsonManifest is konnector.Manifest's cleanup with encoding/json in place
// of sigs.k8s.io/yaml: the alternative the diagnosis measures.
func jsonManifest(obj runtime.Object) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	return json.Marshal(u)
}
