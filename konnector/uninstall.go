package konnector

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// UninstallStep is what BeforeClusterDelete does next for a deleting cluster.
type UninstallStep int

const (
	// UninstallDone: nothing of the addon is left; deletion may go on.
	UninstallDone UninstallStep = iota
	// UninstallStart: delete the HelmChartProxy so that CAAPH uninstalls the release.
	UninstallStart
	// UninstallDeleteOrphans: the HelmChartProxy is gone but its
	// HelmReleaseProxies are not being deleted: delete them.
	UninstallDeleteOrphans
	// UninstallWait: CAAPH is uninstalling; ask CAPI to call again.
	UninstallWait
	// UninstallForce: the uninstall of a deleting Cluster's agent timed
	// out; release the CAAPH finalizers so that the deletion goes on.
	UninstallForce
	// UninstallStuck: the uninstall of a live Cluster's agent timed out.
	// Nothing is forced: a failed `helm uninstall` leaves the release and the
	// running agent, still registered in Prism Central, in the workload
	// cluster, and releasing CAAPH's finalizers would leave nothing on the
	// management cluster that knows about them. Report it and keep waiting.
	UninstallStuck
)

// UninstallState is what the hooks see of the addon on a deleting cluster.
type UninstallState struct {
	// HelmChartProxy is this addon's proxy for the cluster, nil when absent.
	HelmChartProxy *caaphv1.HelmChartProxy
	// HelmReleaseProxies are the ones CAAPH made for that proxy and cluster.
	HelmReleaseProxies []caaphv1.HelmReleaseProxy
}

// OursToUninstall is what of the objects read for Cluster cluster an
// uninstall may touch: a HelmChartProxy of our name without our labels
// belongs to someone else, and so do the HelmReleaseProxies CAAPH made from
// it (the state is then empty); a ClusterResourceSet without them is not our
// credentials delivery (nil).
func OursToUninstall(cluster string, hcp *caaphv1.HelmChartProxy, releases []caaphv1.HelmReleaseProxy, delivery *addonsv1.ClusterResourceSet) (UninstallState, *addonsv1.ClusterResourceSet) {
	if delivery != nil && !IsOurs(delivery.Labels, cluster) {
		delivery = nil
	}
	if hcp != nil && !IsOurs(hcp.Labels, cluster) {
		return UninstallState{}, delivery
	}
	return UninstallState{HelmChartProxy: hcp, HelmReleaseProxies: releases}, delivery
}

// Empty reports whether nothing of the addon is left.
func (u UninstallState) Empty() bool {
	return u.HelmChartProxy == nil && len(u.HelmReleaseProxies) == 0
}

// NextStep decides the next uninstall step at time now. The uninstall clock
// starts at the earliest deletionTimestamp among the objects, normally the
// HelmChartProxy's. Past the timeout, CAAPH's finalizers are released only
// when the Cluster itself is being deleted (clusterDeleting): its workload
// cluster is going away with whatever the uninstall left there.
func (u UninstallState) NextStep(now time.Time, timeout time.Duration, clusterDeleting bool) UninstallStep {
	if u.Empty() {
		return UninstallDone
	}
	if u.HelmChartProxy != nil && u.HelmChartProxy.DeletionTimestamp == nil {
		return UninstallStart
	}
	started := u.deletionStarted()
	if started == nil {
		return UninstallDeleteOrphans
	}
	timedOut := now.Sub(started.Time) >= timeout
	if timedOut && clusterDeleting {
		return UninstallForce
	}
	if u.HelmChartProxy == nil {
		for i := range u.HelmReleaseProxies {
			if u.HelmReleaseProxies[i].DeletionTimestamp == nil {
				return UninstallDeleteOrphans
			}
		}
	}
	if timedOut {
		return UninstallStuck
	}
	return UninstallWait
}

// StuckReason is CAAPH's own word on why the uninstall does not finish: the
// message of a HelmReleaseProxy's HelmReleaseReady condition (CAAPH writes
// Helm's uninstall error there, reason HelmReleaseDeletionFailed), else of
// its Ready condition, else of the HelmChartProxy's Ready condition; empty
// when CAAPH has said nothing.
func (u UninstallState) StuckReason() string {
	releases := slices.Clone(u.HelmReleaseProxies)
	slices.SortFunc(releases, func(a, b caaphv1.HelmReleaseProxy) int { return strings.Compare(a.Name, b.Name) })
	for _, conditionType := range []string{caaphv1.HelmReleaseReadyCondition, clusterv1.ReadyCondition} {
		for i := range releases {
			if c := meta.FindStatusCondition(releases[i].Status.Conditions, conditionType); c != nil && c.Status != metav1.ConditionTrue && c.Message != "" {
				return fmt.Sprintf("HelmReleaseProxy %s/%s %s: %s", releases[i].Namespace, releases[i].Name, c.Reason, oneLine(c.Message))
			}
		}
	}
	if p := u.HelmChartProxy; p != nil {
		if c := meta.FindStatusCondition(p.Status.Conditions, clusterv1.ReadyCondition); c != nil && c.Status != metav1.ConditionTrue && c.Message != "" {
			return fmt.Sprintf("HelmChartProxy %s/%s %s: %s", p.Namespace, p.Name, c.Reason, oneLine(c.Message))
		}
	}
	return ""
}

// oneLine collapses a message's whitespace: Helm's errors span lines
// ("1 error occurred:\n\t* pod hook-predelete failed"), and the reason goes
// into one-line answers, Events and log lines.
func oneLine(message string) string { return strings.Join(strings.Fields(message), " ") }

// StuckMessage is Sync's report of an uninstall past its timeout on a live
// Cluster: what is still there, CAAPH's reason, and what a person can do.
func StuckMessage(release, cluster string, timeout time.Duration, remaining, reason string) string {
	if reason == "" {
		reason = "CAAPH has reported no reason yet"
	}
	return fmt.Sprintf("Helm uninstall of %s from Cluster %s has not finished within %s (%s still present; %s). "+
		"Nothing is forced on a running cluster: the release, the agent and its credentials stay until the uninstall succeeds, and each sync waits for it. "+
		"Make Prism Central reachable from the workload cluster so that the chart's pre-delete hook can unregister the cluster, "+
		"or uninstall the release by hand in the workload cluster and then remove the finalizers of the HelmReleaseProxies and the HelmChartProxy",
		release, cluster, timeout, remaining, reason)
}

func (u UninstallState) deletionStarted() *metav1.Time {
	var earliest *metav1.Time
	consider := func(t *metav1.Time) {
		if t != nil && (earliest == nil || t.Before(earliest)) {
			earliest = t
		}
	}
	if u.HelmChartProxy != nil {
		consider(u.HelmChartProxy.DeletionTimestamp)
	}
	for i := range u.HelmReleaseProxies {
		consider(u.HelmReleaseProxies[i].DeletionTimestamp)
	}
	return earliest
}

// Remaining names what is still present, in a stable order, e.g.
// "HelmChartProxy ns/a, HelmReleaseProxy ns/b".
func (u UninstallState) Remaining() string {
	var names []string
	if p := u.HelmChartProxy; p != nil {
		names = append(names, "HelmChartProxy "+p.Namespace+"/"+p.Name)
	}
	var releases []string
	for _, r := range u.HelmReleaseProxies {
		releases = append(releases, "HelmReleaseProxy "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(releases)
	return strings.Join(append(names, releases...), ", ")
}

// TimeoutMessage is the answer when the uninstall did not finish in time.
func TimeoutMessage(release, cluster string, timeout time.Duration, released string) string {
	return fmt.Sprintf("Helm uninstall of %s did not finish within %s; released %s so that deletion can go on. "+
		"The Konnector Agent may still be registered in Prism Central: check Prism Central's list of Kubernetes clusters for %s and unregister it there",
		release, timeout, released, cluster)
}
