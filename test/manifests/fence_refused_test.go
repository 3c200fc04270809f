package manifests

import (
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestFence_RefusesWhatTheHooksNeverWrite(t *testing.T) {
	sa := installServiceAccount(t, "deploy")
	ns := newNamespace(t, "fence-refused-")
	widenRBAC(t, sa, ns)
	// The namespace itself is cluster-scoped: only a ClusterRole can let
	// the ServiceAccount try to delete it.
	widenRBACForNamespace(t, sa, ns)
	c := sa.client(t)
	cases := refusedCases(newFenceFixtures(t, ns))
	if len(cases) < 35 {
		t.Fatalf("%d refused cases, want the 22 of the first fence and the 13 of what our objects point at", len(cases))
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
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%s: the refusal should say %q: %v", tc.what, tc.says, err)
			}
			if after := snapshot(t, tc.touches); after != before {
				t.Fatalf("%s changed the server although it was refused: before %s, after %s", tc.what, before, after)
			}
			t.Logf("refused: %v", err)
		})
	}
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
