package kube

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply writes obj, a typed object with its TypeMeta set, with server-side
// apply as fieldManager, forcing ownership (the hooks own the objects they
// write), and updates obj with the server's answer.
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

// Annotate sets one annotation on our HelmChartProxy with a merge patch, not
// server-side apply, so that the next apply of the desired state (which lacks
// it) does not take it back. A HelmChartProxy already gone is no error.
func Annotate(ctx context.Context, c client.Client, key types.NamespacedName, annotation, value, fieldManager string) error {
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	obj.SetGroupVersionKind(caaphv1.GroupVersion.WithKind("HelmChartProxy"))
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotation: value}}})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldManager)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotating HelmChartProxy %s: %w", key, err)
	}
	return nil
}
