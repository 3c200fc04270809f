package konnector

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// UpToDate reports whether existing holds everything desired sets: its
// labels, annotations and owner references, and the same value in every
// other field it sets. What desired leaves unset (defaults, status, other
// managers' fields) is ignored, so a call that would change nothing writes
// nothing.
func UpToDate(existing, desired client.Object) (bool, error) {
	e, err := content(existing)
	if err != nil {
		return false, err
	}
	d, err := content(desired)
	if err != nil {
		return false, err
	}
	// DeepDerivative ignores what desired leaves unset; it also takes a list
	// that starts with desired's elements as holding them.
	if !equality.Semantic.DeepDerivative(d, e) {
		return false, nil
	}
	for _, m := range []struct{ want, have map[string]string }{
		{desired.GetLabels(), existing.GetLabels()},
		{desired.GetAnnotations(), existing.GetAnnotations()},
	} {
		for k, v := range m.want {
			if m.have[k] != v {
				return false, nil
			}
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

// content is obj's fields but its type, metadata and status, as JSON
// writes them, converted from a shallow copy without those: an object
// read from the server is mostly managedFields and conditions, and a no-op
// sync compares three per Cluster.
func content(obj client.Object) (map[string]any, error) {
	v := reflect.ValueOf(obj).Elem()
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	for _, name := range []string{"TypeMeta", "ObjectMeta", "Status"} {
		if f := c.FieldByName(name); f.IsValid() {
			f.SetZero()
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c.Addr().Interface())
	for _, drop := range []string{"apiVersion", "kind", "metadata", "status"} {
		delete(u, drop)
	}
	return u, err
}
