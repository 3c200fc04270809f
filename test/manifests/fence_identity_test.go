package manifests

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

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
	for _, dir := range []string{".", "deploy", "test/manifests/testdata/renamed", "test/manifests/testdata/namespaced", withoutKnative} {
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
