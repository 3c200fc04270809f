package kube

import (
	"context"
	"fmt"

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
