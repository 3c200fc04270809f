package konnector_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

func TestUpToDate_ComparesOnlyWhatTheHooksSet(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "cluster.x-k8s.io/v1beta2", Kind: "Cluster", Name: "c", UID: "u1"}
	desired := func() *caaphv1.HelmChartProxy {
		return &caaphv1.HelmChartProxy{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"a": "1"}, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: caaphv1.HelmChartProxySpec{
				ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}},
				ChartName:       "chart", RepoURL: "https://r", Version: "1.0.0", ValuesTemplate: "v: 1\n",
			},
		}
	}
	cases := []struct {
		name  string
		edit  func(existing *caaphv1.HelmChartProxy)
		fresh bool
	}{
		{"identical", func(*caaphv1.HelmChartProxy) {}, true},
		{"server defaults and status added", func(e *caaphv1.HelmChartProxy) {
			e.Spec.ReconcileStrategy = "Continuous"
			e.Spec.ReleaseNamespace = "default"
			e.Status.ObservedGeneration = 3
			e.ResourceVersion, e.UID, e.Generation = "42", "uid", 2
		}, true},
		{"other labels, owners and finalizers added", func(e *caaphv1.HelmChartProxy) {
			e.Labels["other"] = "x"
			e.OwnerReferences = append(e.OwnerReferences, metav1.OwnerReference{Kind: "Other", Name: "o", UID: "u2"})
			e.Finalizers = []string{caaphv1.HelmChartProxyFinalizer}
		}, true},
		{"version changed by hand", func(e *caaphv1.HelmChartProxy) { e.Spec.Version = "0.9.0" }, false},
		{"values changed", func(e *caaphv1.HelmChartProxy) { e.Spec.ValuesTemplate = "v: 2\n" }, false},
		{"selector label added", func(e *caaphv1.HelmChartProxy) { e.Spec.ClusterSelector.MatchLabels["z"] = "1" }, true},
		{"selector label changed", func(e *caaphv1.HelmChartProxy) { e.Spec.ClusterSelector.MatchLabels["x"] = "other" }, false},
		{"our label removed", func(e *caaphv1.HelmChartProxy) { delete(e.Labels, "a") }, false},
		{"owner reference removed", func(e *caaphv1.HelmChartProxy) { e.OwnerReferences = nil }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			existing := desired()
			c.edit(existing)
			got, err := konnector.UpToDate(existing, desired())
			if err != nil {
				t.Fatal(err)
			}
			if got != c.fresh {
				t.Fatalf("UpToDate = %v, want %v", got, c.fresh)
			}
		})
	}
}

func TestUpToDate_ComparesSecretDataByContent(t *testing.T) {
	secret := func(v string) *corev1.Secret {
		return &corev1.Secret{Type: "addons.cluster.x-k8s.io/resource-set", Data: map[string][]byte{"k": []byte(v)}}
	}
	if ok, _ := konnector.UpToDate(secret("a"), secret("a")); !ok {
		t.Fatal("same data is not up to date")
	}
	if ok, _ := konnector.UpToDate(secret("a"), secret("b")); ok {
		t.Fatal("changed credentials are up to date")
	}
	other := secret("a")
	other.Type = corev1.SecretTypeOpaque
	if ok, _ := konnector.UpToDate(other, secret("a")); ok {
		t.Fatal("a Secret of another type is up to date")
	}
}
