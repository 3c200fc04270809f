package konnector

import "errors"

// Answer is how the hooks answer a deploy that stopped on a problem.
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
// NotDeployed: a person must act; the hooks record
// KonnectorAgentNotDeployed, and Sync reports the Cluster failed until fixed.
type Answer struct {
	Failure     bool
	NotDeployed bool
}

// Explain words err for an answer or a report: an *InputError says what to
// fix; an API error is followed by retry (who retries, what to check).
func Explain(err error, retry string) string {
	var input *InputError
	if errors.As(err, &input) {
		return input.Error()
	}
	return err.Error() + " (" + retry + ")"
}

// AnswerFor decides the answer to err; block is KONNECTOR_ON_INVALID_CONFIG=Block.
func AnswerFor(err error, block bool) Answer {
	var input *InputError
	if errors.As(err, &input) && !input.Transient {
		return Answer{Failure: block, NotDeployed: true}
	}
	return Answer{Failure: true}
}
