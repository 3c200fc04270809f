package manifests

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
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
	// clusterEvent is an Event about the Cluster, as the hooks record one.
	clusterEvent *corev1.Event
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
	f.clusterEvent = &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name + ".recorded"},
		InvolvedObject: corev1.ObjectReference{Kind: "Cluster", APIVersion: clusterv1.GroupVersion.String(), Namespace: ns, Name: name, UID: f.cluster.UID},
		Reason:         "KonnectorAgentNotDeployed", Message: "the Konnector Agent is not deployed", Type: corev1.EventTypeWarning, Count: 1,
	}
	for _, obj := range []client.Object{f.kubeconfig, f.credentials, f.ourProxy, f.ourRelease, f.otherProxy, f.otherRelease, f.lookalike, f.clusterEvent} {
		create(t, obj)
	}
	return f
}

// newProxy returns a HelmChartProxy that selects one cluster.
func newProxy(namespace, name, cluster string, labels map[string]string) *caaphv1.HelmChartProxy {
	return &caaphv1.HelmChartProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: caaphv1.HelmChartProxySpec{
			ClusterSelector:  metav1.LabelSelector{MatchLabels: map[string]string{clusterv1.ClusterNameLabel: cluster}},
			ChartName:        "konnector-agent",
			RepoURL:          "https://mesosphere.github.io/charts/stable/",
			Version:          "1.3.0",
			ReleaseName:      "konnector-agent",
			ReleaseNamespace: "ntnx-system",
		},
	}
}

// refusedCase is one write the fence must refuse; touches are the objects
// it aims at, which must be exactly as before afterwards (or still absent).
type refusedCase struct {
	what    string
	touches []client.Object
	do      func(ctx context.Context, c client.Client) error
	// says is what the refusal must say, when it is more than that the
	// fence refused.
	says string
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
	// A HelmChartProxy of ours for a Cluster that has none yet, as the hooks
	// write it with the default settings but for one field.
	fresh := func(change func(*caaphv1.HelmChartProxySpec)) *caaphv1.HelmChartProxy {
		p := newProxy(ns, konnector.ObjectName("fresh"), "fresh", konnector.Labels("fresh"))
		change(&p.Spec)
		return p
	}
	otherRepository := fresh(func(s *caaphv1.HelmChartProxySpec) { s.RepoURL = "https://charts.attacker.example/stable/" })
	otherChart := fresh(func(s *caaphv1.HelmChartProxySpec) { s.ChartName = "cluster-admin-shell" })
	otherRelease := fresh(func(s *caaphv1.HelmChartProxySpec) { s.ReleaseName = "cilium" })
	otherNamespace := fresh(func(s *caaphv1.HelmChartProxySpec) { s.ReleaseNamespace = "kube-system" })
	withCredentials := fresh(func(s *caaphv1.HelmChartProxySpec) {
		s.Credentials = &caaphv1.Credentials{Secret: corev1.SecretReference{Namespace: ns, Name: f.kubeconfig.Name}, Key: "value"}
	})
	withTLSConfig := fresh(func(s *caaphv1.HelmChartProxySpec) {
		s.TLSConfig = &caaphv1.TLSConfig{CASecretRef: &corev1.SecretReference{Namespace: ns, Name: f.kubeconfig.Name}}
	})
	twoKeys := secret(konnector.ObjectName("fresh"), addonsv1.ClusterResourceSetSecretType, konnector.Labels("fresh"))
	twoKeys.Data = map[string][]byte{konnector.ResourceSetKey: []byte("{}"), "kubeconfig.yaml": []byte("attacker-controlled")}
	twoKeysStringData := twoKeys.DeepCopy()
	twoKeysStringData.Data = map[string][]byte{konnector.ResourceSetKey: []byte("{}")}
	twoKeysStringData.StringData = map[string]string{"kubeconfig.yaml": "attacker-controlled"}
	event := func(name, kind, apiVersion, namespace string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: kind, APIVersion: apiVersion, Namespace: namespace, Name: f.kubeconfig.Name},
			Reason:         "KonnectorAgentApplied", Message: "forged", Type: corev1.EventTypeNormal,
		}
	}
	eventAboutSecret := event("about-a-secret", "Secret", "v1", ns)
	// The API server itself refuses an Event whose object names another
	// namespace; one that names none it stores in namespace default.
	eventElsewhere := event("about-a-cluster-of-no-namespace", "Cluster", clusterv1.GroupVersion.String(), "")
	eventElsewhere.Namespace = metav1.NamespaceDefault
	eventsAPIEvent := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "events-api-about-a-secret"},
		EventTime:  metav1.NowMicro(), ReportingController: "konnector-hooks", ReportingInstance: "konnector-hooks",
		Action: "Applied", Reason: "KonnectorAgentApplied", Note: "forged", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Secret", APIVersion: "v1", Namespace: ns, Name: f.kubeconfig.Name},
	}

	newRelease := newReleaseProxy(ns, f.cluster.Name, f.ourProxy.Name)
	newRelease.Name = "konnector-agent-" + f.cluster.Name + "-forged"
	configMap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-" + f.cluster.Name}}

	return []refusedCase{
		{"merge patch of Secret <cluster>-kubeconfig", []client.Object{f.kubeconfig},
			mergePatch(f.kubeconfig, func(o client.Object) { o.(*corev1.Secret).Data["value"] = []byte("attacker-controlled") }), ""},
		{"server-side apply with force of Secret <cluster>-kubeconfig with our labels", []client.Object{f.kubeconfig},
			applyObject(kubeconfigTakeover), ""},
		{"create of an Opaque Secret named like ours", []client.Object{secret(konnector.ObjectName("lookalike"), corev1.SecretTypeOpaque, nil)},
			createObject(secret(konnector.ObjectName("lookalike"), corev1.SecretTypeOpaque, nil)), ""},
		{"create of a Secret with our labels and name but the kubeconfig type", []client.Object{secret(konnector.ObjectName(f.cluster.Name), kubeconfigSecretType, ours)},
			createObject(secret(konnector.ObjectName(f.cluster.Name), kubeconfigSecretType, ours)), ""},
		{"delete of a foreign Secret (the Prism Central credentials)", []client.Object{f.credentials},
			deleteObject(f.credentials), ""},
		{"relabelling a foreign HelmChartProxy named like ours to take it over", []client.Object{f.lookalike},
			applyObject(takeover), ""},
		{"patch of another addon's HelmChartProxy", []client.Object{f.otherProxy},
			mergePatch(f.otherProxy, func(o client.Object) { o.(*caaphv1.HelmChartProxy).Spec.Version = "9.9.9" }), ""},
		{"create of a HelmChartProxy with our labels but a foreign name", []client.Object{foreignName},
			createObject(foreignName), ""},
		{"create of a HelmChartProxy named for another cluster than its label", []client.Object{mislabelled},
			createObject(mislabelled), ""},
		{"create of a HelmChartProxy with a cut name whose suffix is no hash", []client.Object{notAHash},
			createObject(notAHash), ""},
		{"relabelling our HelmChartProxy to another cluster", []client.Object{f.ourProxy},
			mergePatch(f.ourProxy, func(o client.Object) { o.GetLabels()[clusterv1.ClusterNameLabel] = "another" }), ""},
		{"our HelmChartProxy made to select every cluster", []client.Object{f.ourProxy},
			mergePatch(f.ourProxy, func(o client.Object) {
				o.(*caaphv1.HelmChartProxy).Spec.ClusterSelector = metav1.LabelSelector{MatchLabels: map[string]string{}}
			}), ""},
		{"patch of our HelmChartProxy's status", []client.Object{f.ourProxy},
			func(ctx context.Context, c client.Client) error {
				changed := f.ourProxy.DeepCopy()
				changed.Status.ObservedGeneration = 42
				return c.Status().Patch(ctx, changed, client.MergeFrom(f.ourProxy))
			}, ""},
		{"create of our ClusterResourceSet applying the kubeconfig Secret", []client.Object{crsForKubeconfig},
			createObject(crsForKubeconfig), ""},
		{"delete of another addon's HelmReleaseProxy", []client.Object{f.otherRelease},
			deleteObject(f.otherRelease), ""},
		{"spec change on our HelmReleaseProxy", []client.Object{f.ourRelease},
			mergePatch(f.ourRelease, func(o client.Object) { o.(*caaphv1.HelmReleaseProxy).Spec.Version = "9.9.9" }), ""},
		{"label change on our HelmReleaseProxy", []client.Object{f.ourRelease},
			mergePatch(f.ourRelease, func(o client.Object) { o.GetLabels()["team"] = "attacker" }), ""},
		{"create of a HelmReleaseProxy", []client.Object{newRelease},
			createObject(newRelease), ""},
		{"create of a ConfigMap", []client.Object{configMap},
			createObject(configMap), ""},
		{"update of a Cluster", []client.Object{f.cluster},
			mergePatch(f.cluster, func(o client.Object) { o.GetLabels()["konnector-hooks-test"] = "patched" }), ""},
		{"delete of a Cluster", []client.Object{f.cluster},
			deleteObject(f.cluster), ""},
		{"delete of the namespace", []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}},
			func(ctx context.Context, c client.Client) error {
				return c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			}, ""},

		// What our objects point at (issue 18).
		{"create of our HelmChartProxy from another chart repository", []client.Object{otherRepository},
			createObject(otherRepository), "spec.repoURL is \"https://charts.attacker.example/stable/\" and KONNECTOR_CHART_REPOSITORY is https://mesosphere.github.io/charts/stable/"},
		{"create of our HelmChartProxy of another chart", []client.Object{otherChart},
			createObject(otherChart), "spec.chartName is \"cluster-admin-shell\" and KONNECTOR_CHART_NAME is konnector-agent"},
		{"create of our HelmChartProxy with another release name", []client.Object{otherRelease},
			createObject(otherRelease), "spec.releaseName is \"cilium\" and KONNECTOR_RELEASE_NAME is konnector-agent"},
		{"create of our HelmChartProxy releasing into another namespace", []client.Object{otherNamespace},
			createObject(otherNamespace), "spec.namespace is \"kube-system\" and KONNECTOR_RELEASE_NAMESPACE is ntnx-system"},
		{"create of our HelmChartProxy whose spec.credentials name the kubeconfig Secret", []client.Object{withCredentials},
			createObject(withCredentials), "neither spec.credentials nor spec.tlsConfig"},
		{"create of our HelmChartProxy whose spec.tlsConfig.caSecretRef names the kubeconfig Secret", []client.Object{withTLSConfig},
			createObject(withTLSConfig), "neither spec.credentials nor spec.tlsConfig"},
		{"patch of our HelmChartProxy to another chart repository", []client.Object{f.ourProxy},
			mergePatch(f.ourProxy, func(o client.Object) {
				o.(*caaphv1.HelmChartProxy).Spec.RepoURL = "https://charts.attacker.example/stable/"
			}), `spec.repoURL is "https://charts.attacker.example/stable/" and KONNECTOR_CHART_REPOSITORY`},
		{"server-side apply of our HelmChartProxy with spec.credentials", []client.Object{f.ourProxy},
			func(ctx context.Context, c client.Client) error {
				changed := newProxy(ns, f.ourProxy.Name, f.cluster.Name, ours)
				changed.TypeMeta = metav1.TypeMeta{APIVersion: caaphv1.GroupVersion.String(), Kind: "HelmChartProxy"}
				changed.Spec.Credentials = &caaphv1.Credentials{Secret: corev1.SecretReference{Namespace: ns, Name: f.kubeconfig.Name}, Key: "value"}
				return kube.Apply(ctx, c, changed, konnector.FieldManager)
			}, "neither spec.credentials nor spec.tlsConfig"},
		{"create of our resource-set Secret with a second data key", []client.Object{twoKeys},
			createObject(twoKeys), "holds only the data key konnector-agent.yaml, not kubeconfig.yaml"},
		{"create of our resource-set Secret with a second key in stringData", []client.Object{twoKeysStringData},
			createObject(twoKeysStringData), "holds only the data key konnector-agent.yaml, not kubeconfig.yaml"},
		{"create of a core/v1 Event about a Secret", []client.Object{eventAboutSecret},
			createObject(eventAboutSecret), "records Events only about a Cluster"},
		{"create of a core/v1 Event in namespace default about a Cluster of no namespace", []client.Object{eventElsewhere},
			createObject(eventElsewhere), "records Events only about a Cluster"},
		{"create of an events.k8s.io/v1 Event about a Secret", []client.Object{eventsAPIEvent},
			createObject(eventsAPIEvent), "records Events only about a Cluster"},
		{"update of an Event about the Cluster that changes its message", []client.Object{f.clusterEvent},
			mergePatch(f.clusterEvent, func(o client.Object) { o.(*corev1.Event).Message = "forged" }), "may change only the count and times of an Event"},
		{"update of an Event about the Cluster that makes it about a Secret", []client.Object{f.clusterEvent},
			mergePatch(f.clusterEvent, func(o client.Object) {
				o.(*corev1.Event).InvolvedObject = corev1.ObjectReference{Kind: "Secret", APIVersion: "v1", Namespace: ns, Name: f.kubeconfig.Name}
			}), ""},
	}
}
