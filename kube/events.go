package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RecordEvent records an Event on the Cluster, where `kubectl describe
// cluster` shows it. A function has no long-lived event broadcaster, so each
// event is one create request.
func RecordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, component, eventType, reason, message string, now time.Time) error {
	ts := metav1.NewTime(now)
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: cluster.Name + ".",
			Namespace:    cluster.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion:      clusterv1.GroupVersion.String(),
			Kind:            "Cluster",
			Namespace:       cluster.Namespace,
			Name:            cluster.Name,
			UID:             cluster.UID,
			ResourceVersion: cluster.ResourceVersion,
		},
		Type:           eventType,
		Reason:         reason,
		Message:        message,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: ts,
		LastTimestamp:  ts,
		Count:          1,
	}
	if err := c.Create(ctx, event); err != nil {
		return fmt.Errorf("recording event %s on Cluster %s/%s: %w", reason, cluster.Namespace, cluster.Name, err)
	}
	return nil
}
