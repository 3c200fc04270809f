package handlers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// uninstallStep takes the next step of the graceful uninstall that
// konnector.UninstallState.NextStep decides, for BeforeClusterDelete and for
// Sync when the addon was disabled: delete the HelmChartProxy so that the
// chart's pre-delete hook unregisters the cluster, wait for CAAPH, and after
// the uninstall timeout release CAAPH's finalizers when the Cluster is being
// deleted, or report the uninstall stuck when it is not. It returns the step it
// took and its answer; for UninstallDone it does nothing and the caller
// answers.
func (s *Server) uninstallStep(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, state konnector.UninstallState) (konnector.UninstallStep, result) {
	release := s.settings.ReleaseName
	retry := s.settings.RetryAfterSeconds()
	step := state.NextStep(s.now(), s.settings.UninstallTimeout, cluster.DeletionTimestamp != nil)
	switch step {
	case konnector.UninstallStart:
		hcp := state.HelmChartProxy
		if err := kube.Delete(ctx, c, hcp); err != nil {
			return step, failureFrom(err)
		}
		message := fmt.Sprintf("started Helm uninstall of %s: deleted HelmChartProxy %s; waiting for CAAPH to uninstall the release", release, objectKey(hcp))
		s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeNormal, Reason: konnector.ReasonUninstallStarted, Message: message, Key: string(hcp.UID)})
		return step, retryAfter(retry, message)

	case konnector.UninstallDeleteOrphans:
		if err := kube.DeleteReleaseProxies(ctx, c, state.HelmReleaseProxies); err != nil {
			return step, failureFrom(err)
		}
		return step, retryAfter(retry, fmt.Sprintf("waiting for Helm uninstall of %s: deleted %s", release, state.Remaining()))

	case konnector.UninstallWait:
		return step, retryAfter(retry, fmt.Sprintf("waiting for Helm uninstall of %s: %s still present", release, state.Remaining()))

	case konnector.UninstallStuck:
		message := konnector.StuckMessage(release, objectKey(cluster), s.settings.UninstallTimeout, state.Remaining(), state.StuckReason())
		s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeWarning, Reason: konnector.ReasonUninstallStuck, Message: message, Key: state.Remaining(), Count: true})
		return step, retryAfter(retry, message)

	case konnector.UninstallForce:
		if err := kube.ReleaseFinalizers(ctx, c, state); err != nil {
			return step, failureFrom(err)
		}
		message := konnector.TimeoutMessage(release, objectKey(cluster), s.settings.UninstallTimeout, state.Remaining())
		s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeWarning, Reason: konnector.ReasonUninstallTimeout, Message: message, Key: state.Remaining()})
		return step, success(message)
	}
	return konnector.UninstallDone, result{}
}
