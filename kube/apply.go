package kube

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply writes obj with server-side apply as fieldManager, taking over the
// fields it sets from any other manager: the hooks own the objects they write.
func Apply(ctx context.Context, c client.Client, obj client.Object, fieldManager string) error {
	//nolint:staticcheck // typed objects are the desired state here; Patch with client.Apply sends them as apply configurations.
	if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// UpToDate reports whether existing already holds everything desired sets:
// its labels and owner references are among existing's, and every other field
// desired sets (spec, data, type) has the same value. Fields that desired does
// not set, such as API server defaults, status and other managers' additions,
// are ignored, so a call that would change nothing writes nothing.
func UpToDate(existing, desired client.Object) (bool, error) {
	e, err := runtime.DefaultUnstructuredConverter.ToUnstructured(existing)
	if err != nil {
		return false, err
	}
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return false, err
	}
	for _, drop := range []string{"apiVersion", "kind", "metadata", "status"} {
		delete(e, drop)
		delete(d, drop)
	}
	if !contains(e, d) {
		return false, nil
	}
	for k, v := range desired.GetLabels() {
		if existing.GetLabels()[k] != v {
			return false, nil
		}
	}
	for _, want := range desired.GetOwnerReferences() {
		found := false
		for _, have := range existing.GetOwnerReferences() {
			found = found || reflect.DeepEqual(want, have)
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// contains reports whether have holds want: maps hold every key of want with a
// value that holds want's, lists hold each element of want (in order, same
// length), and other values are equal. Empty values in want hold nothing.
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			if !contains(h[k], wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return len(w) == 0 && have == nil
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	case nil:
		return true
	default:
		if have == nil {
			return reflect.ValueOf(want).IsZero()
		}
		return reflect.DeepEqual(have, want)
	}
}
