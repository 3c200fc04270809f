package kube

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// ReadStatus reads the StatusObjects of one Cluster in parallel: those of
// ReadUninstall, the resource-set Secret's metadata alone, and the
// Cluster's Events. Cluster is nil when it does not exist.
func ReadStatus(ctx context.Context, c client.Client, key types.NamespacedName) (konnector.StatusObjects, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	var read konnector.StatusObjects
	g, gctx := errgroup.WithContext(ctx)
	goReadUninstall(g, gctx, c, key, &read.Cluster, &read.Current)
	g.Go(func() error {
		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		found, err := Get(gctx, c, name, secret)
		if found {
			read.Current.ResourceSetSecret = &corev1.Secret{ObjectMeta: secret.ObjectMeta}
		}
		return err
	})
	g.Go(func() error {
		var events corev1.EventList
		err := c.List(gctx, &events, client.InNamespace(key.Namespace), client.MatchingFields{
			"involvedObject.kind": "Cluster",
			"involvedObject.name": key.Name,
		})
		if err != nil {
			return fmt.Errorf("listing the Events of Cluster %s: %w", key, err)
		}
		read.Events = events.Items
		return nil
	})
	return read, g.Wait()
}

// ListClusters lists the Clusters of the namespaces given (all when none),
// as names, a page at a time.
func ListClusters(ctx context.Context, c client.Client, namespaces []string) ([]types.NamespacedName, error) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var keys []types.NamespacedName
	newList := func() *metav1.PartialObjectMetadataList {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(clusterv1.GroupVersion.WithKind("ClusterList"))
		return list
	}
	for _, ns := range namespaces {
		err := ListPages(ctx, c, newList, ns, 500, func(list *metav1.PartialObjectMetadataList) error {
			for i := range list.Items {
				keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}
