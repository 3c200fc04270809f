package konnector

import (
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// ClusterStatus is what `konnector-hooks status` says of one Cluster.
// Addon is "on", "off" or "invalid: <the problem>"; Release is nil without
// a HelmChartProxy; Rollout is "" when not known; Events are ours, newest
// first.
type ClusterStatus struct {
	Cluster string        `json:"cluster"`
	Addon   string        `json:"addon"`
	Objects []string      `json:"objects"`
	Release *Release      `json:"release,omitempty"`
	Rollout string        `json:"rollout,omitempty"`
	Events  []StatusEvent `json:"events"`
}

// StatusEvent is one of our Events on a Cluster.
type StatusEvent struct {
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Count   int32     `json:"count"`
	Last    time.Time `json:"last"`
	Message string    `json:"message"`
}

// reasons are the reasons of our Events.
var reasons = []string{ReasonApplied, ReasonNotDeployed, ReasonUninstallStarted, ReasonUninstallStuck, ReasonRemoved, ReasonUninstallTimeout, ReasonInstalled, ReasonInstallFailed}

// StatusObjects is what `konnector-hooks status` reads of one Cluster. The
// resource-set Secret is read as metadata only: a status needs no right to
// read a credential.
type StatusObjects struct {
	Cluster *clusterv1.Cluster
	Current Current
	Events  []corev1.Event
}

// StatusOf says the status of a Cluster, with our last events Events.
func StatusOf(read StatusObjects, cfg *clusterconfig.Config, cfgErr error, events int) ClusterStatus {
	cluster, hcp, crs := read.Cluster, read.Current.HelmChartProxy, read.Current.ClusterResourceSet
	s := ClusterStatus{Cluster: cluster.Namespace + "/" + cluster.Name, Addon: "off", Objects: []string{}, Events: []StatusEvent{}}
	var input *InputError
	switch {
	case errors.As(cfgErr, &input):
		s.Addon = "invalid: " + input.Error()
	case cfgErr != nil:
		s.Addon = "invalid: " + cfgErr.Error()
	case cfg != nil:
		s.Addon = "on"
	}
	if hcp != nil {
		s.Objects = append(s.Objects, fmt.Sprintf("HelmChartProxy %s (chart %s %s)", hcp.Name, hcp.Spec.ChartName, hcp.Spec.Version))
		release := ReleaseOf(read.Current.HelmReleaseProxies).Against(hcp.Spec.Version)
		s.Release = &release
	}
	if crs != nil {
		s.Objects = append(s.Objects, "ClusterResourceSet "+crs.Name)
	}
	if read.Current.ResourceSetSecret != nil {
		s.Objects = append(s.Objects, "Secret "+ObjectName(cluster.Name)+" (credentials delivery)")
	}
	for _, e := range read.Events {
		if !slices.Contains(reasons, e.Reason) {
			continue
		}
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		s.Events = append(s.Events, StatusEvent{Type: e.Type, Reason: e.Reason, Count: max(e.Count, 1), Last: last, Message: oneLine(e.Message)})
	}
	slices.SortStableFunc(s.Events, func(a, b StatusEvent) int { return b.Last.Compare(a.Last) })
	s.Events = s.Events[:min(events, len(s.Events))]
	return s
}

// RolloutClusterOf is the RolloutCluster of what status read, under the
// settings Sync runs with; ok is false without a HelmChartProxy or addon.
func RolloutClusterOf(read StatusObjects, cfg *clusterconfig.Config, s settings.Settings) (c RolloutCluster, ok bool) {
	hcp := read.Current.HelmChartProxy
	if hcp == nil || cfg == nil {
		return RolloutCluster{}, false
	}
	want := DesiredObjects(read.Cluster, cfg, Credentials{}, s).HelmChartProxy
	current, err := UpToDate(hcp, want)
	release := ReleaseOf(read.Current.HelmReleaseProxies).Against(hcp.Spec.Version)
	return NewRolloutCluster(client.ObjectKeyFromObject(read.Cluster), hcp, err != nil || !current, release), true
}

// LastApplied is when our field manager last applied an object, from its
// managedFields; zero when it never did.
func LastApplied(fields []metav1.ManagedFieldsEntry) time.Time {
	for _, f := range fields {
		if f.Manager == FieldManager && f.Operation == metav1.ManagedFieldsOperationApply && f.Time != nil {
			return f.Time.Time
		}
	}
	return time.Time{}
}

// StatusRollout says where each Cluster stands in the rollout the next
// sync plans, and that plan.
func StatusRollout(clusters []RolloutCluster, batch int) (map[string]string, Rollout) {
	plan := PlanRollout(clusters, batch)
	states := make(map[string]string, len(clusters))
	for _, c := range clusters {
		name := c.Cluster.String()
		switch {
		case !c.Stale:
			states[name] = "at the desired state"
		case slices.Contains(plan.Move, c.Cluster):
			states[name] = "moves at the next sync"
		case len(plan.PausedBy) > 0:
			states[name] = "waits: the rollout is paused by a failed install on " + nameSome(keyStrings(plan.PausedBy))
		default:
			states[name] = "waits for a later sync"
		}
	}
	return states, plan
}

// RolloutLine words the rollout the next sync plans, for status; "" when
// no HelmChartProxy changes.
func RolloutLine(plan Rollout, batch int) string {
	switch {
	case len(plan.PausedBy) > 0:
		return fmt.Sprintf("Rollout: paused by a failed install on %s; %d Clusters wait for their HelmChartProxy change", nameSome(keyStrings(plan.PausedBy)), plan.Held)
	case len(plan.Move) > 0:
		return fmt.Sprintf("Rollout: the next sync moves %s (%s_ROLLOUT_BATCH=%d); %d more wait", nameSome(keyStrings(plan.Move)), settings.Prefix, batch, plan.Held)
	}
	return ""
}
