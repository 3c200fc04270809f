package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// List lists objects of one kind in namespace ("" for every namespace) with
// the given selectors; its error names what was listed.
func List(ctx context.Context, c client.Client, list client.ObjectList, namespace string, opts ...client.ListOption) error {
	if err := c.List(ctx, list, append(opts, client.InNamespace(namespace))...); err != nil {
		where := "in every namespace"
		if namespace != "" {
			where = "in namespace " + namespace
		}
		return fmt.Errorf("listing %s %s: %w", kindOfList(list), where, err)
	}
	return nil
}

// ListPages lists in pages of pageSize and calls each with a page before it
// reads the next. client-go's pager does not fit: it buffers pages ahead (10
// by default), and answers an expired continue token with a LIST of
// everything at once.
//
// A token expires when etcd compacts the first page's version (the API
// server compacts every 5 minutes), so a long listing gets 410 Expired. That
// answer carries a token that goes on from the next object at the current
// version: each object is still read once, which is all a sync needs.
func ListPages[L client.ObjectList](ctx context.Context, c client.Client, newList func() L, namespace string, pageSize int64, each func(L) error, opts ...client.ListOption) error {
	next := ""
	for {
		list := newList()
		if err := List(ctx, c, list, namespace, append(opts, client.Limit(pageSize), client.Continue(next))...); err != nil {
			var status apierrors.APIStatus
			if next != "" && apierrors.IsResourceExpired(err) && errors.As(err, &status) && status.Status().Continue != "" {
				next = status.Status().Continue
				continue
			}
			return err
		}
		if err := each(list); err != nil {
			return err
		}
		if next = list.GetContinue(); next == "" {
			return nil
		}
	}
}

// kindOfList names the kind a typed list holds, from the scheme.
func kindOfList(list client.ObjectList) string {
	if meta, ok := list.(*metav1.PartialObjectMetadataList); ok {
		return strings.TrimSuffix(meta.GetObjectKind().GroupVersionKind().Kind, "List") + " objects"
	}
	gvks, _, err := Scheme.ObjectKinds(list)
	if err != nil || len(gvks) == 0 {
		return fmt.Sprintf("%T items", list)
	}
	return strings.TrimSuffix(gvks[0].Kind, "List") + " objects"
}
