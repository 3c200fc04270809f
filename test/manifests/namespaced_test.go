package manifests

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// namespacedInstall is deploy/namespaced as shipped, under a name of its own
// (see its kustomization.yaml).
const namespacedInstall = "test/manifests/testdata/namespaced"

func TestNamespaced_HookFlowsPassInAListedNamespace(t *testing.T) {
	sa := installServiceAccount(t, namespacedInstall)
	if !slices.Equal(sa.namespaces, []string{"default"}) {
		t.Fatalf("deploy/namespaced binds the ServiceAccount in %v, want [default] as shipped", sa.namespaces)
	}
	runHookFlows(t, sa, "default", "namespaced-cluster")
}

func TestNamespaced_CannotReadOutsideTheListedNamespaces(t *testing.T) {
	ctx := t.Context()
	sa := installServiceAccount(t, namespacedInstall)
	c := sa.client(t)

	unlisted := newNamespace(t, "unlisted-")
	kubeconfig := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: unlisted, Name: "workload-kubeconfig"},
		Type:       kubeconfigSecretType,
		Data:       map[string][]byte{"value": []byte("not-a-real-kubeconfig")},
	}
	create(t, kubeconfig)
	refused := []struct {
		what string
		err  error
	}{
		{"get a Secret in an unlisted namespace", c.Get(ctx, client.ObjectKeyFromObject(kubeconfig), &corev1.Secret{})},
		{"list Secrets in an unlisted namespace", c.List(ctx, &corev1.SecretList{}, client.InNamespace(unlisted))},
		{"list Secrets cluster-wide", c.List(ctx, &corev1.SecretList{})},
		{"get a Secret in the function's own namespace", c.Get(ctx, client.ObjectKey{Namespace: "konnector-hooks", Name: "anything"}, &corev1.Secret{})},
	}
	for _, r := range refused {
		if !apierrors.IsForbidden(r.err) {
			t.Errorf("%s as %s: got %v, want Forbidden", r.what, sa.user, r.err)
		}
	}
	// In the listed namespace the same read is authorized (and finds
	// nothing): the refusals above are the namespace's, not the verb's.
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: kubeconfig.Name}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("get a Secret in listed namespace default as %s: got %v, want NotFound", sa.user, err)
	}
}

func TestNamespaced_RendersRoleBindingsInsteadOfTheClusterRoleBinding(t *testing.T) {
	objs := render(t, namespacedInstall)
	role := find(t, objs, "ClusterRole", "namespaced-konnector-hooks")
	sa := find(t, objs, "ServiceAccount", "namespaced-konnector-hooks")
	var bindings int
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRoleBinding":
			t.Errorf("the namespaced install renders ClusterRoleBinding %s: it would grant the ClusterRole everywhere", o.GetName())
		case "RoleBinding":
			bindings++
			ref := nested[map[string]any](t, o, "roleRef")
			if ref["kind"] != "ClusterRole" || ref["name"] != role.GetName() {
				t.Errorf("RoleBinding %s binds %v, want ClusterRole %s", objectName(o), ref, role.GetName())
			}
			want := map[string]any{"kind": "ServiceAccount", "name": sa.GetName(), "namespace": sa.GetNamespace()}
			if subjects := nested[[]any](t, o, "subjects"); len(subjects) != 1 || !reflect.DeepEqual(subjects[0], want) {
				t.Errorf("RoleBinding %s binds %v, want only %v", objectName(o), subjects, want)
			}
		}
	}
	if bindings == 0 {
		t.Error("the namespaced install renders no RoleBinding")
	}
	ext := find(t, objs, "ExtensionConfig", "namespaced-konnector-agent")
	selector := nested[map[string]any](t, ext, "spec", "namespaceSelector")
	want := map[string]any{"matchLabels": map[string]any{"konnector-hooks.io/enabled": "true"}}
	if !reflect.DeepEqual(selector, want) {
		t.Errorf("the ExtensionConfig's namespaceSelector is %v, want %v", selector, want)
	}
}

// deploy/namespaced gives Sync the namespaces it binds: the setting and the
// RoleBindings are one list as shipped.
func TestNamespaced_SyncServesTheNamespacesItBinds(t *testing.T) {
	objs := render(t, namespacedInstall)
	var bound []string
	for _, o := range objs {
		if o.GetKind() == "RoleBinding" {
			bound = append(bound, o.GetNamespace())
		}
	}
	settingsMap := find(t, objs, "ConfigMap", "namespaced-konnector-hooks-settings")
	value, _, _ := unstructured.NestedString(settingsMap.Object, "data", "KONNECTOR_SYNC_NAMESPACES")
	listed := strings.Split(value, ",")
	slices.Sort(bound)
	slices.Sort(listed)
	if len(bound) == 0 || !slices.Equal(bound, listed) {
		t.Fatalf("KONNECTOR_SYNC_NAMESPACES is %q, the RoleBindings are in %v: keep them one list", value, bound)
	}
}
