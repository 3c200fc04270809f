package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// RecordEvent records e on the Cluster. A function has no long-lived event
// broadcaster to aggregate Events, so the name aggregates them: a repeated
// Event costs a create that finds it and, with Count, a read and an update.
func RecordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, component string, e konnector.Event, now time.Time) error {
	ts := metav1.NewTime(now)
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      EventName(cluster, e.Reason, e.Key),
			Namespace: cluster.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion:      clusterv1.GroupVersion.String(),
			Kind:            "Cluster",
			Namespace:       cluster.Namespace,
			Name:            cluster.Name,
			UID:             cluster.UID,
			ResourceVersion: cluster.ResourceVersion,
		},
		Type:           e.Type,
		Reason:         e.Reason,
		Message:        e.Message,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: ts,
		LastTimestamp:  ts,
		Count:          1,
	}
	err := c.Create(ctx, event)
	switch {
	case apierrors.IsAlreadyExists(err) && e.Count:
		err = countEvent(ctx, c, client.ObjectKeyFromObject(event), ts)
	case apierrors.IsAlreadyExists(err):
		err = nil
	}
	if err != nil {
		return fmt.Errorf("recording event %s on Cluster %s/%s: %w", e.Reason, cluster.Namespace, cluster.Name, err)
	}
	return nil
}

// countEvent adds one to an existing Event's count, with its
// resourceVersion as precondition so that concurrent records each count.
func countEvent(ctx context.Context, c client.Client, key types.NamespacedName, now metav1.Time) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		event := &corev1.Event{}
		if err := c.Get(ctx, key, event); err != nil {
			return err
		}
		base := event.DeepCopy()
		event.Count++
		event.LastTimestamp = now
		return c.Patch(ctx, event, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
}

// EventName is the Cluster's name and a hash of its UID, reason and key.
func EventName(cluster *clusterv1.Cluster, reason, key string) string {
	sum := sha256.Sum256([]byte(string(cluster.UID) + "\x00" + reason + "\x00" + key))
	return cluster.Name + "." + hex.EncodeToString(sum[:8])
}
