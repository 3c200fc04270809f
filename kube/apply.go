package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply writes obj with server-side apply as fieldManager, taking over the
// fields it sets from any other manager: the hooks own the objects they
// write. obj is the desired state, a typed object with its TypeMeta set; it
// is sent as an apply configuration with the fields its JSON form holds, as
// kubectl apply would send its manifest, and updated with the server's
// answer (its resourceVersion among it).
func Apply(ctx context.Context, c client.Client, obj client.Object, fieldManager string) error {
	fail := func(err error) error {
		return fmt.Errorf("applying %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fail(err)
	}
	u := &unstructured.Unstructured{Object: content}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldManager), client.ForceOwnership); err != nil {
		return fail(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
		return fail(err)
	}
	return nil
}
