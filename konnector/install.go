package konnector

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// ReportedReleaseAnnotation is, on our HelmChartProxy, the release state
// Sync last recorded an Event for: one KonnectorAgentInstalled per deployed
// revision, without an Event request per Cluster and sync.
const ReportedReleaseAnnotation = "konnector-hooks/reported-release"

// InstallReport is what Sync says and records of the release of a Cluster
// whose HelmChartProxy is at the desired state. Mark is the new
// ReportedReleaseAnnotation, "" when it stays.
type InstallReport struct {
	Failed  bool
	Message string
	Event   *Event
	Mark    string
}

// ReportInstall decides what Sync reports of release r: a failed install on
// every sync while it lasts, its Warning Event counting up; a deployed
// revision one Normal Event; a pending one nothing.
func ReportInstall(cluster string, r Release, reported string) InstallReport {
	var out InstallReport
	switch r.Phase {
	case ReleaseFailed:
		key := "failed/" + r.ChartVersion
		message := fmt.Sprintf("the Konnector Agent did not install on Cluster %s: CAAPH's HelmReleaseProxy %s reports chart %s failed: %s; "+
			"fix the cause (the chart version KONNECTOR_CHART_VERSION, the values, or Prism Central's reachability from the workload cluster): CAAPH retries, and the next sync reports the outcome",
			cluster, r.HelmReleaseProxy, r.ChartVersion, r.Message)
		out = InstallReport{Failed: true, Message: message,
			Event: &Event{Type: corev1.EventTypeWarning, Reason: ReasonInstallFailed, Message: message, Key: key, Count: true}}
		if reported != key {
			out.Mark = key
		}
	case ReleaseDeployed:
		key := "deployed/" + strconv.Itoa(r.Revision) + "/" + r.ChartVersion
		if reported != key {
			out = InstallReport{Mark: key, Event: &Event{Type: corev1.EventTypeNormal, Reason: ReasonInstalled, Key: key,
				Message: fmt.Sprintf("Konnector Agent installed on Cluster %s: chart %s, Helm revision %d (HelmReleaseProxy %s)", cluster, r.ChartVersion, r.Revision, r.HelmReleaseProxy)}}
		}
	}
	return out
}
