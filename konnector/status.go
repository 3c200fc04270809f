package konnector

import (
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

// ClusterStatus is what `konnector-hooks status` says of one Cluster.
type ClusterStatus struct {
	Cluster string `json:"cluster"`
	// Addon is "on", "off", or "invalid: <the problem>".
	Addon string `json:"addon"`
	// Objects are our objects that exist, with what each holds.
	Objects []string `json:"objects"`
	// Release is CAAPH's report, nil when no HelmChartProxy exists.
	Release *Release `json:"release,omitempty"`
	// Events are our latest Events on the Cluster, newest first.
	Events []StatusEvent `json:"events"`
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

// StatusOf says the status of a Cluster from what was read of it: the
// addon's configuration (cfg nil when off, cfgErr when invalid), our
// objects, CAAPH's HelmReleaseProxies and the Cluster's Events, of which it
// keeps our last events ones.
func StatusOf(cluster *clusterv1.Cluster, cfg *clusterconfig.Config, cfgErr error, hcp *caaphv1.HelmChartProxy, crs *addonsv1.ClusterResourceSet, secret bool,
	releases []caaphv1.HelmReleaseProxy, all []corev1.Event, events int) ClusterStatus {
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
		release := ReleaseOf(releases)
		s.Release = &release
	}
	if crs != nil {
		s.Objects = append(s.Objects, "ClusterResourceSet "+crs.Name)
	}
	if secret {
		s.Objects = append(s.Objects, "Secret "+ObjectName(cluster.Name)+" (credentials delivery)")
	}
	for _, e := range all {
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
