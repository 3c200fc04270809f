package manifests

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// kubeconfigSecretType is the type CAPI gives the <cluster>-kubeconfig
// Secrets.
const kubeconfigSecretType corev1.SecretType = "cluster.x-k8s.io/secret"

// fenceFixtures are the objects of one namespace that the refused requests
// aim at, created by an administrator.
type fenceFixtures struct {
	ns          string
	cluster     *clusterv1.Cluster
	kubeconfig  *corev1.Secret
	credentials *corev1.Secret
	// ourProxy and ourRelease are the hooks' HelmChartProxy for cluster and
	// the HelmReleaseProxy CAAPH made from it.
	ourProxy   *caaphv1.HelmChartProxy
	ourRelease *caaphv1.HelmReleaseProxy
	// otherProxy and otherRelease belong to another addon of the cluster.
	otherProxy   *caaphv1.HelmChartProxy
	otherRelease *caaphv1.HelmReleaseProxy
	// lookalike is named as the hooks would name the proxy of Cluster
	// "taken", but someone else wrote it, without our labels.
	lookalike *caaphv1.HelmChartProxy
}

func newFenceFixtures(t testing.TB, ns string) fenceFixtures {
	t.Helper()
	const name = "fenced"
	f := fenceFixtures{ns: ns, cluster: managementcluster.NewCluster(ns, name, clusterConfig)}
	if err := managementcluster.CreateCluster(t.Context(), admin, f.cluster); err != nil {
		t.Fatal(err)
	}
	f.kubeconfig = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig", Labels: map[string]string{clusterv1.ClusterNameLabel: name}},
		Type:       kubeconfigSecretType,
		Data:       map[string][]byte{"value": []byte("not-a-real-kubeconfig")},
	}
	f.credentials = managementcluster.NewCredentials(ns, "prism-central-credentials-for-konnector-agent", "admin", "not-a-real-password")
	f.ourProxy = newProxy(ns, konnector.ObjectName(name), name, konnector.Labels(name))
	f.ourRelease = newReleaseProxy(ns, name, f.ourProxy.Name)
	f.otherProxy = newProxy(ns, "cilium-"+name, name, map[string]string{"app.kubernetes.io/name": "cilium"})
	f.otherRelease = newReleaseProxy(ns, name, f.otherProxy.Name)
	f.otherRelease.Name = "cilium-" + name + "-release"
	f.lookalike = newProxy(ns, konnector.ObjectName("taken"), "taken", nil)
	for _, obj := range []client.Object{f.kubeconfig, f.credentials, f.ourProxy, f.ourRelease, f.otherProxy, f.otherRelease, f.lookalike} {
		create(t, obj)
	}
	return f
}

// newProxy returns a HelmChartProxy that selects one cluster.
func newProxy(namespace, name, cluster string, labels map[string]string) *caaphv1.HelmChartProxy {
	return &caaphv1.HelmChartProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: caaphv1.HelmChartProxySpec{
			ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: cluster}},
			ChartName:       "konnector-agent",
			RepoURL:         "https://mesosphere.github.io/charts/stable/",
			Version:         "1.3.0",
		},
	}
}

// refusedCase is one write the fence must refuse; touches are the objects
// it aims at, which must be exactly as before afterwards (or still absent).
type refusedCase struct {
	what    string
	touches []client.Object
	do      func(ctx context.Context, c client.Client) error
}

// refusedCases are writes the hooks never make, for the fixtures of f.
func refusedCases(f fenceFixtures) []refusedCase {
	ns := f.ns
	ours := konnector.Labels(f.cluster.Name)
	mergePatch := func(obj client.Object, change func(client.Object)) func(context.Context, client.Client) error {
		return func(ctx context.Context, c client.Client) error {
			changed := obj.DeepCopyObject().(client.Object)
			change(changed)
			return c.Patch(ctx, changed, client.MergeFrom(obj))
		}
	}
	createObject := func(obj client.Object) func(context.Context, client.Client) error {
		return func(ctx context.Context, c client.Client) error {
			return c.Create(ctx, obj.DeepCopyObject().(client.Object))
		}
	}
	applyObject := func(obj client.Object) func(context.Context, client.Client) error {
		return func(ctx context.Context, c client.Client) error {
			return kube.Apply(ctx, c, obj.DeepCopyObject().(client.Object), konnector.FieldManager)
		}
	}
	deleteObject := func(obj client.Object) func(context.Context, client.Client) error {
		return func(ctx context.Context, c client.Client) error {
			return c.Delete(ctx, obj.DeepCopyObject().(client.Object))
		}
	}
	secret := func(name string, typ corev1.SecretType, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Type:       typ,
			Data:       map[string][]byte{"value": []byte("attacker-controlled")},
		}
	}
	// The kubeconfig Secret as a server-side apply with force would write
	// it: our labels, new credentials, the type it has (which is immutable).
	kubeconfigTakeover := secret(f.kubeconfig.Name, kubeconfigSecretType, ours)
	takeover := newProxy(ns, f.lookalike.Name, "taken", konnector.Labels("taken"))
	takeover.TypeMeta = metav1.TypeMeta{APIVersion: caaphv1.GroupVersion.String(), Kind: "HelmChartProxy"}
	foreignName := newProxy(ns, "prometheus-"+f.cluster.Name, f.cluster.Name, ours)
	mislabelled := newProxy(ns, konnector.ObjectName("another"), f.cluster.Name, ours)
	longCluster := strings.Repeat("long-cluster-name-", 3) + "end"
	notAHash := newProxy(ns, konnector.ObjectName(longCluster)[:54]+"-zzzzzzzz", longCluster, konnector.Labels(longCluster))
	crsForKubeconfig := &addonsv1.ClusterResourceSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: konnector.ObjectName(f.cluster.Name), Labels: ours},
		Spec: addonsv1.ClusterResourceSetSpec{
			ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: f.cluster.Name}},
			Resources:       []addonsv1.ResourceRef{{Kind: "Secret", Name: f.kubeconfig.Name}},
		},
	}
	newRelease := newReleaseProxy(ns, f.cluster.Name, f.ourProxy.Name)
	newRelease.Name = "konnector-agent-" + f.cluster.Name + "-forged"
	configMap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-" + f.cluster.Name}}

	return []refusedCase{
		{"merge patch of Secret <cluster>-kubeconfig", []client.Object{f.kubeconfig},
			mergePatch(f.kubeconfig, func(o client.Object) { o.(*corev1.Secret).Data["value"] = []byte("attacker-controlled") })},
		{"server-side apply with force of Secret <cluster>-kubeconfig with our labels", []client.Object{f.kubeconfig},
			applyObject(kubeconfigTakeover)},
		{"create of an Opaque Secret named like ours", []client.Object{secret(konnector.ObjectName("lookalike"), corev1.SecretTypeOpaque, nil)},
			createObject(secret(konnector.ObjectName("lookalike"), corev1.SecretTypeOpaque, nil))},
		{"create of a Secret with our labels and name but the kubeconfig type", []client.Object{secret(konnector.ObjectName(f.cluster.Name), kubeconfigSecretType, ours)},
			createObject(secret(konnector.ObjectName(f.cluster.Name), kubeconfigSecretType, ours))},
		{"delete of a foreign Secret (the Prism Central credentials)", []client.Object{f.credentials},
			deleteObject(f.credentials)},
		{"relabelling a foreign HelmChartProxy named like ours to take it over", []client.Object{f.lookalike},
			applyObject(takeover)},
		{"patch of another addon's HelmChartProxy", []client.Object{f.otherProxy},
			mergePatch(f.otherProxy, func(o client.Object) { o.(*caaphv1.HelmChartProxy).Spec.Version = "9.9.9" })},
		{"create of a HelmChartProxy with our labels but a foreign name", []client.Object{foreignName},
			createObject(foreignName)},
		{"create of a HelmChartProxy named for another cluster than its label", []client.Object{mislabelled},
			createObject(mislabelled)},
		{"create of a HelmChartProxy with a cut name whose suffix is no hash", []client.Object{notAHash},
			createObject(notAHash)},
		{"relabelling our HelmChartProxy to another cluster", []client.Object{f.ourProxy},
			mergePatch(f.ourProxy, func(o client.Object) { o.GetLabels()[clusterv1.ClusterNameLabel] = "another" })},
		{"our HelmChartProxy made to select every cluster", []client.Object{f.ourProxy},
			mergePatch(f.ourProxy, func(o client.Object) {
				o.(*caaphv1.HelmChartProxy).Spec.ClusterSelector = metav1.LabelSelector{MatchLabels: map[string]string{}}
			})},
		{"patch of our HelmChartProxy's status", []client.Object{f.ourProxy},
			func(ctx context.Context, c client.Client) error {
				changed := f.ourProxy.DeepCopy()
				changed.Status.ObservedGeneration = 42
				return c.Status().Patch(ctx, changed, client.MergeFrom(f.ourProxy))
			}},
		{"create of our ClusterResourceSet applying the kubeconfig Secret", []client.Object{crsForKubeconfig},
			createObject(crsForKubeconfig)},
		{"delete of another addon's HelmReleaseProxy", []client.Object{f.otherRelease},
			deleteObject(f.otherRelease)},
		{"spec change on our HelmReleaseProxy", []client.Object{f.ourRelease},
			mergePatch(f.ourRelease, func(o client.Object) { o.(*caaphv1.HelmReleaseProxy).Spec.Version = "9.9.9" })},
		{"label change on our HelmReleaseProxy", []client.Object{f.ourRelease},
			mergePatch(f.ourRelease, func(o client.Object) { o.GetLabels()["team"] = "attacker" })},
		{"create of a HelmReleaseProxy", []client.Object{newRelease},
			createObject(newRelease)},
		{"create of a ConfigMap", []client.Object{configMap},
			createObject(configMap)},
		{"update of a Cluster", []client.Object{f.cluster},
			mergePatch(f.cluster, func(o client.Object) { o.GetLabels()["konnector-hooks-test"] = "patched" })},
		{"delete of a Cluster", []client.Object{f.cluster},
			deleteObject(f.cluster)},
		{"delete of the namespace", []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}},
			func(ctx context.Context, c client.Client) error {
				return c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			}},
	}
}
