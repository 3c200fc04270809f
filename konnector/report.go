package konnector

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// Reasons of the Events the hooks and Sync record on a Cluster.
const (
	ReasonApplied          = "KonnectorAgentApplied"
	ReasonNotDeployed      = "KonnectorAgentNotDeployed"
	ReasonUninstallStarted = "KonnectorAgentUninstallStarted"
	ReasonUninstallStuck   = "KonnectorAgentUninstallStuck"
	ReasonRemoved          = "KonnectorAgentRemoved"
	ReasonUninstallTimeout = "KonnectorAgentUninstallTimedOut"
	// ReasonInstalled and ReasonInstallFailed are Sync's word on what CAAPH
	// reports of the release once our objects are at the desired state.
	ReasonInstalled     = "KonnectorAgentInstalled"
	ReasonInstallFailed = "KonnectorAgentInstallFailed"
)

// ReportDeploy says what a deploy of want over current did: up to date when
// written is empty, else which objects it wrote, with its Event: Warning
// when the agent is installed otherwise than configured.
func ReportDeploy(want Desired, prismCentral string, s settings.Settings, current Current, written []client.Object) (string, Event) {
	installs := fmt.Sprintf("HelmChartProxy %s installs chart %s %s, registering the cluster in Prism Central %s as %q",
		client.ObjectKeyFromObject(want.HelmChartProxy), s.ChartName, s.ChartVersion, prismCentral, want.RegisteredName)
	warnings := ""
	for _, w := range want.Warnings {
		warnings += "; warning: " + w
	}
	if len(written) == 0 {
		return "Konnector Agent is up to date: " + installs + warnings, Event{}
	}
	var applied []string
	for _, obj := range written {
		applied = append(applied, KindOf(obj)+" "+client.ObjectKeyFromObject(obj).String())
	}
	slices.Sort(applied)
	message := fmt.Sprintf("Konnector Agent applied: %s (wrote %s)%s", installs, strings.Join(applied, ", "), warnings)
	event := Event{Type: corev1.EventTypeNormal, Reason: ReasonApplied, Message: message, Key: changeKey(want, current, written)}
	if len(want.Warnings) > 0 {
		event.Type = corev1.EventTypeWarning
	}
	return message, event
}

// changeKey names one change for its Event: the three objects'
// resourceVersions once written. Racing calls write the same content, and
// an apply that changes nothing keeps the resourceVersion, so they name one
// Event. The key holds no content, so no credential.
func changeKey(want Desired, current Current, written []client.Object) string {
	var versions []string
	for _, p := range current.pairs(want) {
		version := "-"
		if p.have != nil {
			version = p.have.GetResourceVersion()
		}
		for _, w := range written {
			if KindOf(w) == KindOf(p.want) {
				version = w.GetResourceVersion()
			}
		}
		versions = append(versions, version)
	}
	return strings.Join(versions, "/")
}

// ControlPlaneInitialized: status.initialization (v1beta2), else the condition.
func ControlPlaneInitialized(cluster *clusterv1.Cluster) bool {
	if init := cluster.Status.Initialization.ControlPlaneInitialized; init != nil {
		return *init
	}
	return meta.IsStatusConditionTrue(cluster.Status.Conditions, clusterv1.ClusterControlPlaneInitializedCondition)
}

// ClusterNotFound is the problem of a Cluster not on the server (yet),
// which passes by itself: the hooks answer Failure.
func ClusterNotFound(key types.NamespacedName) error {
	return &InputError{
		Field:     "Cluster " + key.String(),
		Problem:   "not found on the management cluster",
		Fix:       "the hook is only answered for Clusters that exist; check the request's cluster.metadata.namespace and name",
		NotFound:  true,
		Transient: true,
	}
}
