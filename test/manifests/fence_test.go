package manifests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// widenRBAC grants the ServiceAccount every verb on every resource in one
// namespace, as a careless operator might: there only the fence stands
// between the function and the objects.
func widenRBAC(t testing.TB, sa serviceAccount, ns string) {
	t.Helper()
	everything := []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everything"}, Rules: everything})
	parts := strings.Split(sa.user, ":")
	create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everything"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "everything"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: parts[2], Name: parts[3]}},
	})
	// RBAC takes effect when the API server's informers see the binding:
	// wait until a request only the Role allows gets past authorization.
	c := sa.client(t)
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-probe"}}
	waitUntil(t, "the widened RBAC takes effect", func() error {
		err := c.Create(t.Context(), probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsForbidden(err) && !strings.Contains(err.Error(), sa.fence) {
			return err
		}
		return nil
	})
}

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

func TestFence_RefusesWhatTheHooksNeverWrite(t *testing.T) {
	sa := installServiceAccount(t, "deploy")
	ns := newNamespace(t, "fence-refused-")
	widenRBAC(t, sa, ns)
	// The namespace itself is cluster-scoped: only a ClusterRole can let
	// the ServiceAccount try to delete it.
	widenRBACForNamespace(t, sa, ns)
	c := sa.client(t)
	cases := refusedCases(newFenceFixtures(t, ns))
	if len(cases) < 12 {
		t.Fatalf("%d refused cases, the issue asks for at least 12", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			before := snapshot(t, tc.touches)
			err := tc.do(t.Context(), c)
			if err == nil {
				t.Fatalf("%s as %s was allowed", tc.what, sa.user)
			}
			if !apierrors.IsForbidden(err) {
				t.Fatalf("%s: got %v, want Forbidden by the fence", tc.what, err)
			}
			policy := fmt.Sprintf("ValidatingAdmissionPolicy '%s'", sa.fence)
			if !strings.Contains(err.Error(), policy) || !strings.Contains(err.Error(), "konnector-hooks fence: refused") {
				t.Fatalf("%s: the refusal should name %s and say what it refused: %v", tc.what, policy, err)
			}
			if after := snapshot(t, tc.touches); after != before {
				t.Fatalf("%s changed the server although it was refused: before %s, after %s", tc.what, before, after)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// widenRBACForNamespace lets the ServiceAccount delete the namespace ns, so
// that the fence, not RBAC, answers that request.
func widenRBACForNamespace(t testing.TB, sa serviceAccount, ns string) {
	t.Helper()
	name := "delete-" + ns
	create(t, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"delete"}}},
	})
	parts := strings.Split(sa.user, ":")
	create(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: parts[2], Name: parts[3]}},
	})
	c := sa.client(t)
	waitUntil(t, "the namespace delete grant takes effect", func() error {
		err := c.Delete(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.DryRunAll)
		if apierrors.IsForbidden(err) && !strings.Contains(err.Error(), sa.fence) {
			return err
		}
		return nil
	})
}

// snapshot is, for each object, its resourceVersion on the server or
// "absent": any write changes the resourceVersion.
func snapshot(t testing.TB, objs []client.Object) string {
	t.Helper()
	var out []string
	for _, obj := range objs {
		current := obj.DeepCopyObject().(client.Object)
		err := admin.Get(t.Context(), client.ObjectKeyFromObject(obj), current)
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, objectName(obj)+" absent")
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, objectName(obj)+" at resourceVersion "+current.GetResourceVersion())
		}
	}
	return strings.Join(out, ", ")
}

func TestFence_AllowsWhatTheHooksAndTheSyncUninstallWrite(t *testing.T) {
	ctx := t.Context()
	sa := installServiceAccount(t, "deploy")
	ns := newNamespace(t, "fence-allowed-")
	// Deletes of ClusterResourceSets and Secrets are not in the hooks' RBAC
	// yet (the Sync uninstall brings them): grant them here.
	widenRBAC(t, sa, ns)
	c := sa.client(t)
	defaults := defaultSettings(t)

	// A name short enough to be kept whole, and one that is cut and hashed.
	for _, name := range []string{"short", strings.Repeat("long-cluster-name-", 3) + "end"} {
		cluster := managementcluster.NewCluster(ns, name, clusterConfig)
		if err := managementcluster.CreateCluster(ctx, admin, cluster); err != nil {
			t.Fatal(err)
		}
		cfg, err := konnector.ReadConfig(cluster.Spec.Topology.Variables, defaults.DefaultCredentialsSecret)
		if err != nil || cfg == nil {
			t.Fatalf("reading clusterConfig of %s: %v, %v", name, cfg, err)
		}
		creds := konnector.Credentials{Username: []byte("admin"), Password: []byte("not-a-real-password")}
		desired := konnector.DesiredObjects(cluster, cfg, creds, defaults)
		objs := []client.Object{desired.ResourceSetSecret, desired.ClusterResourceSet, desired.HelmChartProxy}
		// Twice: a create, then an update of the existing objects.
		for _, round := range []string{"create", "update"} {
			for _, obj := range objs {
				if err := kube.Apply(ctx, c, obj.DeepCopyObject().(client.Object), konnector.FieldManager); err != nil {
					t.Fatalf("cluster %s, %s: %v", name, round, err)
				}
			}
		}

		hcp := &caaphv1.HelmChartProxy{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(desired.HelmChartProxy), hcp); err != nil {
			t.Fatal(err)
		}
		hcp.Finalizers = []string{caaphv1.HelmChartProxyFinalizer}
		if err := admin.Update(ctx, hcp); err != nil {
			t.Fatal(err)
		}
		release := newReleaseProxy(ns, name, hcp.Name)
		release.Name = hcp.Name[:min(len(hcp.Name), 50)] + "-abcde"
		create(t, release)

		steps := []struct {
			what string
			do   func() error
		}{
			{"release CAAPH's finalizer of the HelmReleaseProxy", func() error {
				changed := release.DeepCopy()
				changed.Finalizers = nil
				return c.Patch(ctx, changed, client.MergeFromWithOptions(release, client.MergeFromWithOptimisticLock{}))
			}},
			{"delete the HelmReleaseProxy", func() error { return c.Delete(ctx, release.DeepCopy()) }},
			{"delete the HelmChartProxy", func() error { return c.Delete(ctx, hcp.DeepCopy()) }},
			{"release CAAPH's finalizer of the HelmChartProxy", func() error {
				current := &caaphv1.HelmChartProxy{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(hcp), current); err != nil {
					return err
				}
				changed := current.DeepCopy()
				changed.Finalizers = nil
				return c.Patch(ctx, changed, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{}))
			}},
			{"delete the ClusterResourceSet (Sync uninstall)", func() error { return c.Delete(ctx, desired.ClusterResourceSet.DeepCopy()) }},
			{"delete the resource-set Secret (Sync uninstall)", func() error { return c.Delete(ctx, desired.ResourceSetSecret.DeepCopy()) }},
		}
		for _, step := range steps {
			if err := step.do(); err != nil {
				t.Fatalf("cluster %s: %s as %s: %v", name, step.what, sa.user, err)
			}
		}
		for _, obj := range append(objs, release) {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)); !apierrors.IsNotFound(err) {
				t.Errorf("cluster %s: %T %s should be gone: %v", name, obj, objectName(obj), err)
			}
		}
	}
}

func TestFence_RenamedInstallStaysFenced(t *testing.T) {
	const overlay = "test/manifests/testdata/renamed"
	sa := installServiceAccount(t, overlay)
	if want := "system:serviceaccount:acme-system:acme-konnector-hooks"; sa.user != want {
		t.Fatalf("%s installs ServiceAccount %s, want %s: the overlay should rename it", overlay, sa.user, want)
	}
	ns := newNamespace(t, "fence-renamed-")
	widenRBAC(t, sa, ns)
	c := sa.client(t)
	f := newFenceFixtures(t, ns)
	for _, tc := range refusedCases(f)[:2] {
		before := snapshot(t, tc.touches)
		err := tc.do(t.Context(), c)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "'"+sa.fence+"'") {
			t.Fatalf("%s as the renamed %s: got %v, want Forbidden by ValidatingAdmissionPolicy %s", tc.what, sa.user, err, sa.fence)
		}
		if after := snapshot(t, tc.touches); after != before {
			t.Fatalf("%s changed the server: before %s, after %s", tc.what, before, after)
		}
	}
	// And the renamed function still writes its own objects.
	desired := newProxy(ns, f.ourProxy.Name, f.cluster.Name, konnector.Labels(f.cluster.Name))
	desired.TypeMeta = metav1.TypeMeta{APIVersion: caaphv1.GroupVersion.String(), Kind: "HelmChartProxy"}
	desired.Spec.Version = "1.4.0"
	if err := kube.Apply(t.Context(), c, desired, konnector.FieldManager); err != nil {
		t.Fatalf("the renamed ServiceAccount %s cannot apply its own HelmChartProxy: %v", sa.user, err)
	}
}

func TestFence_PolicyWatchesTheServiceAccountOfEveryInstall(t *testing.T) {
	for _, dir := range []string{".", "deploy", "test/manifests/testdata/renamed", "test/manifests/testdata/namespaced"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, dir)
			user, fence := renderedIdentity(t, objs)
			if fence != user {
				t.Fatalf("%s: the fence watches %s, but the ServiceAccount is %s", dir, fence, user)
			}
		})
	}
	// The check above can fail: an overlay that renames the ServiceAccount
	// without listing deploy/fence-identity after the rename leaves the
	// fence on the old name.
	user, fence := renderedIdentity(t, render(t, "test/manifests/testdata/renamed-unfenced"))
	if fence == user {
		t.Fatalf("testdata/renamed-unfenced should leave the fence on the old ServiceAccount, but it watches %s", fence)
	}
}

// renderedIdentity returns the ServiceAccount user of the rendered install
// and the user its fence's match condition compares with.
func renderedIdentity(t testing.TB, objs []*unstructured.Unstructured) (user, fenced string) {
	t.Helper()
	var sa, policy *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount":
			sa = o
		case "ValidatingAdmissionPolicy":
			policy = o
		}
	}
	if sa == nil || policy == nil {
		t.Fatal("the install renders no ServiceAccount or no ValidatingAdmissionPolicy")
	}
	conditions := nested[[]any](t, policy, "spec", "matchConditions")
	if len(conditions) != 1 {
		t.Fatalf("the fence has %d match conditions, want 1", len(conditions))
	}
	expression := conditions[0].(map[string]any)["expression"].(string)
	// request.userInfo.username == 'system:serviceaccount:' + '<ns>' + ':' + '<name>'
	parts := strings.Split(expression, "'")
	if len(parts) != 9 {
		t.Fatalf("the fence's match condition %q is not the concatenation fence-identity edits", expression)
	}
	return "system:serviceaccount:" + sa.GetNamespace() + ":" + sa.GetName(), parts[1] + parts[3] + parts[5] + parts[7]
}

// waitUntil retries check until it returns nil, for at most a minute: for
// what the API server applies asynchronously (RBAC bindings, policies).
func waitUntil(t testing.TB, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Fatalf("waiting until %s: %v", what, err)
}
