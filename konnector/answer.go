package konnector

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// HookRetry is what an answer says after an API error: CAPI calls again.
const HookRetry = "CAPI retries the hook; if this persists, check konnector-hooks' access to the management cluster"

// Explain words err for an answer or a report: an *InputError says what to
// fix; an API error is followed by retry (who retries, what to check).
func Explain(err error, retry string) string {
	var input *InputError
	if errors.As(err, &input) {
		return input.Error()
	}
	return err.Error() + " (" + retry + ")"
}

// notDeployed is the decision of a deploy stopped by err.
//
// CAPI calls AfterControlPlaneInitialized before it reconciles the rest of
// the topology and returns on its error (reconcileState in
// internal/controllers/topology/cluster/reconcile_state.go, CAPI v1.12.5):
// a Failure holds every later topology change, and a BeforeClusterUpgrade
// Failure holds the upgrade (the first MachineDeployments come with the
// control plane, before the hook: test/e2e shows it for v1.12.5 and
// v1.14.2). So a problem only a person can fix is answered Success with a
// Warning Event, and Sync deploys after the fix;
// KONNECTOR_ON_INVALID_CONFIG=Block answers Failure instead. A problem that
// passes by itself is a Failure in both modes: CAPI calls again in seconds.
//
// When a person must act, the Event is KonnectorAgentNotDeployed, and Sync
// reports the Cluster failed until fixed.
func notDeployed(key types.NamespacedName, err error, s settings.Settings) Deploy {
	var input *InputError
	if !errors.As(err, &input) || input.Transient {
		return Deploy{Outcome: OutcomeFailed, Failure: true, Message: Explain(err, HookRetry)}
	}
	message := fmt.Sprintf("the Konnector Agent is not deployed on Cluster %s: %s", key, err)
	return Deploy{Outcome: OutcomeFailed, Failure: s.BlockOnInvalidConfig(), Message: message,
		Event: &Event{Type: corev1.EventTypeWarning, Reason: ReasonNotDeployed, Message: message, Key: message, Count: true}}
}
