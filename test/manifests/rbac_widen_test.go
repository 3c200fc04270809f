package manifests

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// widenRBAC grants the ServiceAccount every verb on every resource in one
// namespace, as a careless operator might: there only the fence stands
// between the function and the objects.
func widenRBAC(t testing.TB, sa serviceAccount, ns string) {
	t.Helper()
	everything := []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everything"}, Rules: everything})
	create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "everything"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "everything"},
		Subjects:   []rbacv1.Subject{sa.subject},
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

// widenRBACForNamespace lets the ServiceAccount delete the namespace ns, so
// that the fence, not RBAC, answers that request.
func widenRBACForNamespace(t testing.TB, sa serviceAccount, ns string) {
	t.Helper()
	name := "delete-" + ns
	create(t, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"delete"}}},
	})
	create(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{sa.subject},
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
