package konnector

import "errors"

// Answer is how the hooks answer a deploy that stopped on a problem.
//
// CAPI calls AfterControlPlaneInitialized before it reconciles the rest of
// the topology and returns on its error (reconcileState in
// internal/controllers/topology/cluster/reconcile_state.go, CAPI v1.12.5):
// a Failure answer holds every later change of the Cluster's topology
// (scales, new MachineDeployments, templates), and a BeforeClusterUpgrade
// Failure holds the upgrade. (The first MachineDeployments are created with
// the control plane, before the hook is called: test/e2e shows it for CAPI
// v1.12.5 and v1.14.2.) So a problem that only a person can fix is answered
// Success by default, with a Warning Event that says what to fix, and Sync
// deploys the agent at its first run after the fix;
// KONNECTOR_ON_INVALID_CONFIG=Block answers Failure instead, for platforms
// that want no change to a cluster that is not registered. A problem
// that passes by itself (an API error, the Cluster or its initialized
// control plane not on the server yet) is a Failure in both modes: CAPI
// calls again within seconds.
type Answer struct {
	// Failure: the hook answers Failure.
	Failure bool
	// NotDeployed: a person must act; the hooks record a Warning Event
	// KonnectorAgentNotDeployed with the message, and Sync reports the
	// Cluster as failed at every run until it is fixed.
	NotDeployed bool
}

// Explain words err for an answer or a report: an *InputError says what to
// fix; any other error is the API server's, which a retry may resolve, and
// is followed by retry: who retries, and what to check if it persists.
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
