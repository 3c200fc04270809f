package konnector

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
)

// ReleasePhase is the Konnector Agent's release on a workload cluster as
// CAAPH reports it.
type ReleasePhase string

const (
	// ReleaseDeployed: deployed at the chart version the HelmReleaseProxy asks for.
	ReleaseDeployed ReleasePhase = "deployed"
	// ReleasePending: CAAPH has not installed the latest spec yet.
	ReleasePending ReleasePhase = "pending"
	// ReleaseFailed: CAAPH's install or upgrade of the latest spec failed.
	ReleaseFailed ReleasePhase = "failed"
)

// Release is what CAAPH reports of the agent's release for one Cluster:
// Helm's revision and chart version for the spec CAAPH acted on, and
// CAAPH's word on a pending or failed one.
type Release struct {
	Phase            ReleasePhase `json:"phase"`
	HelmReleaseProxy string       `json:"helmReleaseProxy,omitempty"`
	Revision         int          `json:"revision,omitempty"`
	ChartVersion     string       `json:"chartVersion,omitempty"`
	Message          string       `json:"message,omitempty"`
}

// ReleaseOf reads the release from the HelmReleaseProxies CAAPH made from
// our HelmChartProxy for one Cluster (one, unless an old one is still being
// deleted). It follows what CAAPH's HelmReleaseProxy controller writes
// (reconcileNormal in controllers/helmreleaseproxy, CAAPH v0.5.3): Helm's
// status and revision in status.status and status.revision, the
// HelmReleaseReady condition False with reason HelmInstallOrUpgradeFailed
// and Helm's error when an install or upgrade fails, and
// status.observedGeneration once it has acted on a spec.
func ReleaseOf(releases []caaphv1.HelmReleaseProxy) Release {
	out := Release{Phase: ReleasePending, Message: "CAAPH has not created the HelmReleaseProxy yet"}
	for i := range releases {
		if releases[i].DeletionTimestamp == nil {
			out = out.Or(releaseOf(&releases[i]))
		}
	}
	return out
}

// Or is the release r and other report together: of two live
// HelmReleaseProxies of one Cluster, the lowest name's, so that every
// reader picks the same.
func (r Release) Or(other Release) Release {
	if r.HelmReleaseProxy == "" || (other.HelmReleaseProxy != "" && other.HelmReleaseProxy < r.HelmReleaseProxy) {
		return other
	}
	return r
}

// releaseOf is the release one live HelmReleaseProxy reports.
func releaseOf(r *caaphv1.HelmReleaseProxy) Release {
	out := Release{HelmReleaseProxy: r.Namespace + "/" + r.Name, Revision: r.Status.Revision, ChartVersion: r.Spec.Version}
	ready := meta.FindStatusCondition(r.Status.Conditions, caaphv1.HelmReleaseReadyCondition)
	switch {
	case r.Status.ObservedGeneration < r.Generation:
		out.Phase, out.Message = ReleasePending, fmt.Sprintf("CAAPH has not acted on chart version %s yet", r.Spec.Version)
		out.Revision = 0
	case ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == caaphv1.HelmInstallOrUpgradeFailedReason:
		out.Phase, out.Message = ReleaseFailed, oneLine(ready.Message)
	case r.Status.Status == "deployed" && ready != nil && ready.Status == metav1.ConditionTrue:
		out.Phase = ReleaseDeployed
	case r.Status.Status == "failed":
		out.Phase, out.Message = ReleaseFailed, "Helm reports the release failed"
	default:
		out.Phase = ReleasePending
		out.Message = "Helm operation under way"
		if c := notReady(r); c != nil {
			out.Message = c.Reason + ": " + oneLine(c.Message)
		}
	}
	return out
}

// notReady is the first condition that keeps the release from being ready.
func notReady(r *caaphv1.HelmReleaseProxy) *metav1.Condition {
	for _, t := range []string{caaphv1.ClusterAvailableCondition, caaphv1.HelmReleaseReadyCondition} {
		if c := meta.FindStatusCondition(r.Status.Conditions, t); c != nil && c.Status != metav1.ConditionTrue && c.Message != "" {
			return c
		}
	}
	return nil
}

// String is the release as one line of a report.
func (r Release) String() string {
	switch r.Phase {
	case ReleaseDeployed:
		return fmt.Sprintf("deployed, revision %d, chart %s", r.Revision, r.ChartVersion)
	case ReleaseFailed:
		return fmt.Sprintf("failed at chart %s: %s", r.ChartVersion, r.Message)
	}
	return "pending: " + r.Message
}

// Against is the release for the chart version our HelmChartProxy holds:
// pending until CAAPH has moved the HelmReleaseProxy to it.
func (r Release) Against(version string) Release {
	if r.HelmReleaseProxy == "" || r.ChartVersion == version || version == "" {
		return r
	}
	return Release{Phase: ReleasePending, HelmReleaseProxy: r.HelmReleaseProxy, ChartVersion: version,
		Message: fmt.Sprintf("CAAPH has not moved the HelmReleaseProxy to chart version %s yet (it holds %s)", version, r.ChartVersion)}
}
