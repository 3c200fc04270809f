package konnector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// UninstallStep is what an uninstall does next.
type UninstallStep int

const (
	// UninstallDone: nothing of the addon is left.
	UninstallDone UninstallStep = iota
	// UninstallStart: delete the HelmChartProxy, so that CAAPH uninstalls the release.
	UninstallStart
	// UninstallDeleteOrphans: delete the HelmReleaseProxies the HelmChartProxy left.
	UninstallDeleteOrphans
	// UninstallWait: CAAPH is uninstalling; call again.
	UninstallWait
	// UninstallForce: a deleting Cluster's uninstall timed out: release
	// CAAPH's finalizers so that the deletion goes on.
	UninstallForce
	// UninstallStuck: a live Cluster's uninstall timed out. Nothing is
	// forced: a failed `helm uninstall` leaves the agent running and
	// registered, and without CAAPH's objects nothing would know of it.
	UninstallStuck
)

// Uninstall is one decided uninstall step, its Event and its answer; Retry
// is set while CAPI, or the next sync, must call again.
type Uninstall struct {
	Step    UninstallStep
	Message string
	Retry   bool
	Event   *Event
}

// DecideUninstall decides the next step of the uninstall of Cluster
// cluster's agent at now, for BeforeClusterDelete and for a sync of a
// disabled addon (clusterDeleting false). Past the uninstall timeout,
// CAAPH's finalizers are released only for a Cluster being deleted.
func DecideUninstall(cluster string, state UninstallState, now time.Time, s settings.Settings, clusterDeleting bool) Uninstall {
	release := s.ReleaseName
	u := Uninstall{Step: state.NextStep(now, s.UninstallTimeout, clusterDeleting), Retry: true}
	switch u.Step {
	case UninstallStart:
		hcp := state.HelmChartProxy
		u.Message = fmt.Sprintf("started Helm uninstall of %s: deleted HelmChartProxy %s/%s; waiting for CAAPH to uninstall the release", release, hcp.Namespace, hcp.Name)
		u.Event = &Event{Type: corev1.EventTypeNormal, Reason: ReasonUninstallStarted, Message: u.Message, Key: string(hcp.UID)}
	case UninstallDeleteOrphans:
		u.Message = fmt.Sprintf("waiting for Helm uninstall of %s: deleted %s", release, state.Remaining())
	case UninstallWait:
		u.Message = fmt.Sprintf("waiting for Helm uninstall of %s: %s still present", release, state.Remaining())
	case UninstallStuck:
		reason := cmp.Or(state.StuckReason(), "CAAPH has reported no reason yet")
		u.Message = fmt.Sprintf("Helm uninstall of %s from Cluster %s has not finished within %s (%s still present; %s). "+
			"Nothing is forced on a running cluster: the release, the agent and its credentials stay until the uninstall succeeds, and each sync waits for it. "+
			"Make Prism Central reachable from the workload cluster so that the chart's pre-delete hook can unregister the cluster, "+
			"or uninstall the release by hand in the workload cluster and then remove the finalizers of the HelmReleaseProxies and the HelmChartProxy",
			release, cluster, s.UninstallTimeout, state.Remaining(), reason)
		u.Event = &Event{Type: corev1.EventTypeWarning, Reason: ReasonUninstallStuck, Message: u.Message, Key: state.Remaining(), Count: true}
	case UninstallForce:
		u.Message = TimeoutMessage(release, cluster, s.UninstallTimeout, state.Remaining())
		u.Event = &Event{Type: corev1.EventTypeWarning, Reason: ReasonUninstallTimeout, Message: u.Message, Key: state.Remaining()}
		u.Retry = false
	case UninstallDone:
		u.Retry = false
	}
	return u
}

// DecideBeforeDelete decides BeforeClusterDelete's step for Cluster key
// (nil when absent). Once the agent is gone, the credentials delivery
// (owned by the Cluster, so still there) tells whether it was ever
// deployed: only then is its removal told of.
func DecideBeforeDelete(key types.NamespacedName, cluster *clusterv1.Cluster, state UninstallState, delivery *addonsv1.ClusterResourceSet, now time.Time, s settings.Settings) Uninstall {
	switch {
	case cluster == nil:
		return Uninstall{Message: fmt.Sprintf("Cluster %s not found: nothing to uninstall", key)}
	case cluster.DeletionTimestamp == nil:
		return Uninstall{Message: fmt.Sprintf("Cluster %s is not being deleted: the Konnector Agent is left in place", key)}
	}
	u := DecideUninstall(key.String(), state, now, s, true)
	switch {
	case u.Step != UninstallDone:
	case delivery == nil:
		u.Message = fmt.Sprintf("no HelmChartProxy, HelmReleaseProxy or credentials delivery of the Konnector Agent exists for Cluster %s: nothing left to uninstall", key)
	default:
		u.Message = fmt.Sprintf("Konnector Agent removed from Cluster %s: its HelmChartProxy and HelmReleaseProxies are gone", key)
		u.Event = &Event{Type: corev1.EventTypeNormal, Reason: ReasonRemoved, Message: u.Message, Key: string(delivery.UID)}
	}
	return u
}

// DecideDisabled decides Sync's step for a running Cluster whose addon was
// disabled: the uninstall's, then the deletes of the credentials delivery
// not already being deleted (deleting a deleting ClusterResourceSet again
// would report the uninstall twice). A Cluster gone or being deleted is
// left to BeforeClusterDelete.
func DecideDisabled(key types.NamespacedName, cluster *clusterv1.Cluster, state UninstallState, current Current, now time.Time, s settings.Settings) (u Uninstall, outcome Outcome, deletes []client.Object) {
	if cluster == nil || cluster.DeletionTimestamp != nil {
		return Uninstall{Message: LeftToHooks(key.String(), SyncLeaveToDelete).Message}, OutcomeLeftToHooks, nil
	}
	u = DecideUninstall(key.String(), state, now, s, false)
	switch u.Step {
	case UninstallDone:
	case UninstallStuck:
		// The chart's delete hooks still need the credentials.
		return u, OutcomeUninstallStuck, nil
	default:
		return u, OutcomeUninstalling, nil
	}
	// What went, and how to delete the credentials Secret left in the
	// workload cluster.
	u.Message = fmt.Sprintf("Konnector Agent uninstalled from Cluster %s, whose clusterConfig no longer enables the addon: its HelmChartProxy and HelmReleaseProxies are gone", key)
	var deleted []string
	var delivery string
	for _, obj := range []client.Object{ObjectOrNil(current.ClusterResourceSet), ObjectOrNil(current.ResourceSetSecret)} {
		if obj == nil || obj.GetDeletionTimestamp() != nil {
			continue
		}
		deletes = append(deletes, obj)
		deleted = append(deleted, KindOf(obj)+" "+client.ObjectKeyFromObject(obj).String())
		delivery += string(obj.GetUID())
	}
	if len(deleted) > 0 {
		u.Message += "; deleted " + strings.Join(deleted, ", ")
	}
	ns, name := key.Namespace, key.Name
	u.Message += fmt.Sprintf(". The Secret %s/%s in the workload cluster still holds the Prism Central credentials (a ClusterResourceSet does not delete what it applied): delete it with "+
		"`clusterctl get kubeconfig %s -n %s > %s.kubeconfig && kubectl --kubeconfig %s.kubeconfig delete secret -n %s %s`",
		s.ReleaseNamespace, WorkloadSecretName, name, ns, name, name, s.ReleaseNamespace, WorkloadSecretName)
	u.Event = &Event{Type: corev1.EventTypeWarning, Reason: ReasonRemoved, Message: u.Message, Key: delivery}
	return u, OutcomeUninstalled, deletes
}

// UninstallState is what an uninstall sees of the addon's proxies.
type UninstallState struct {
	// HelmChartProxy is this addon's proxy for the cluster, nil when absent.
	HelmChartProxy *caaphv1.HelmChartProxy
	// HelmReleaseProxies are the ones CAAPH made for that proxy and cluster.
	HelmReleaseProxies []caaphv1.HelmReleaseProxy
}

// OursToUninstall keeps of the objects read for Cluster cluster those an
// uninstall may touch: a HelmChartProxy or ClusterResourceSet of our name
// without our labels is someone else's, with the HelmReleaseProxies made
// from it.
func OursToUninstall(cluster string, read Current) (UninstallState, *addonsv1.ClusterResourceSet) {
	delivery := read.ClusterResourceSet
	if delivery != nil && !IsOurs(delivery.Labels, cluster) {
		delivery = nil
	}
	if hcp := read.HelmChartProxy; hcp != nil && !IsOurs(hcp.Labels, cluster) {
		return UninstallState{}, delivery
	}
	return UninstallState{HelmChartProxy: read.HelmChartProxy, HelmReleaseProxies: read.HelmReleaseProxies}, delivery
}

// NextStep decides the next uninstall step at now. The timeout runs from
// the earliest deletionTimestamp of the proxies; past it, CAAPH's
// finalizers are released only when the Cluster is being deleted, as its
// workload cluster goes with whatever the uninstall left.
func (u UninstallState) NextStep(now time.Time, timeout time.Duration, clusterDeleting bool) UninstallStep {
	if u.HelmChartProxy == nil && len(u.HelmReleaseProxies) == 0 {
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

// StuckReason is CAAPH's word on why the uninstall does not finish: the
// first not-True HelmReleaseReady condition (Helm's uninstall error, reason
// HelmReleaseDeletionFailed), else Ready, of a HelmReleaseProxy, else the
// HelmChartProxy's Ready; "" when CAAPH said nothing.
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

// oneLine collapses whitespace: Helm's errors span lines, answers do not.
func oneLine(message string) string { return strings.Join(strings.Fields(message), " ") }

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

// Remaining names what is still present, in a stable order.
func (u UninstallState) Remaining() string {
	var names []string
	if p := u.HelmChartProxy; p != nil {
		names = append(names, "HelmChartProxy "+p.Namespace+"/"+p.Name)
	}
	return strings.Join(append(names, releaseNames(u.HelmReleaseProxies)...), ", ")
}

// releaseNames names HelmReleaseProxies, sorted.
func releaseNames(releases []caaphv1.HelmReleaseProxy) []string {
	var names []string
	for _, r := range releases {
		names = append(names, "HelmReleaseProxy "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(names)
	return names
}

// TimeoutMessage is the answer when the uninstall did not finish in time.
func TimeoutMessage(release, cluster string, timeout time.Duration, released string) string {
	return fmt.Sprintf("Helm uninstall of %s did not finish within %s; released %s so that deletion can go on. "+
		"The Konnector Agent may still be registered in Prism Central: check Prism Central's list of Kubernetes clusters for %s and unregister it there",
		release, timeout, released, cluster)
}
