package konnector

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// Event is one Event the hooks and Sync record on a Cluster.
type Event struct {
	Type, Reason, Message string
	// Key names the occurrence: one Event object per Cluster, reason and key.
	Key string
	// Count: a repeated record counts up (client-go's correlator does so in
	// a long-lived recorder), so a lasting problem is one Event. Without it
	// a repeat is dropped, so a change is told once however many calls race.
	Count bool
}

// DeployFacts is what a deploy read of one Cluster.
type DeployFacts struct {
	Cluster *clusterv1.Cluster
	// Config is nil when the addon is off; ConfigErr is set when it is invalid.
	Config    *clusterconfig.Config
	ConfigErr error
	Current   Current
	// Secrets are the credentials Secrets read so far, nil where absent.
	Secrets map[types.NamespacedName]*corev1.Secret
}

// DeployRules are what differs between the callers of a deploy.
type DeployRules struct {
	// RequireInitialized: AfterControlPlaneInitialized and Sync deploy only
	// once the server reports the control plane initialized.
	RequireInitialized bool
	// HoldChartChange: a Sync under a rollout leaves a change of an existing
	// HelmChartProxy for the rollout to decide once every page is read.
	HoldChartChange bool
}

// Deploy is the decision of one deploy.
type Deploy struct {
	// ReadSecret names a credentials Secret to read before deciding again.
	ReadSecret *types.NamespacedName
	// Writes are the objects to apply, in the order HelmChartProxy,
	// ClusterResourceSet, Secret; Creates is set when one is new.
	Writes  []client.Object
	Creates bool
	// Failure and Message are the answer (Applied's, once Writes are
	// applied), with Event, if any.
	Failure bool
	Message string
	Event   *Event
	Outcome Outcome
	// Held: a rollout held the change of an existing HelmChartProxy.
	// ChartVersion is the desired one's.
	Held         bool
	ChartVersion string

	want         Desired
	current      Current
	prismCentral string
	settings     settings.Settings
}

// DecideDeploy decides a deploy of AfterControlPlaneInitialized,
// BeforeClusterUpgrade or Sync. A Cluster being deleted is left to
// BeforeClusterDelete; a problem only a person can fix is answered as
// notDeployed says, with a Warning Event that counts while it lasts.
func DecideDeploy(f DeployFacts, s settings.Settings, r DeployRules) Deploy {
	key := client.ObjectKeyFromObject(f.Cluster)
	switch {
	case f.Cluster.DeletionTimestamp != nil:
		return Deploy{Outcome: OutcomeLeftToHooks, Message: fmt.Sprintf("Cluster %s is being deleted: the Konnector Agent is not deployed", key)}
	case f.ConfigErr != nil:
		return notDeployed(key, f.ConfigErr, s)
	case f.Config == nil:
		return Deploy{Outcome: OutcomeNotEnabled, Message: fmt.Sprintf("the Konnector Agent addon is not enabled for Cluster %s (%s): nothing to do", key, NotEnabledReason(s))}
	case r.RequireInitialized && !ControlPlaneInitialized(f.Cluster):
		return Deploy{Outcome: OutcomeFailed, Failure: true, Message: fmt.Sprintf("the control plane of Cluster %s is not initialized on the management cluster yet: the Konnector Agent is deployed once it is (CAPI calls the hook again)", key)}
	}
	secretKey := types.NamespacedName{Namespace: key.Namespace, Name: f.Config.CredentialsSecret}
	secret, read := f.Secrets[secretKey]
	switch {
	case !read:
		return Deploy{ReadSecret: &secretKey}
	case secret == nil:
		return notDeployed(key, MissingSecretError(secretKey.Namespace, secretKey.Name), s)
	}
	creds, err := ReadCredentials(secret)
	if err != nil {
		return notDeployed(key, err, s)
	}
	want := DesiredObjects(f.Cluster, f.Config, creds, s)
	d, err := PlanDeploy(key.Name, f.Current, want)
	if err != nil {
		return notDeployed(key, err, s)
	}
	if r.HoldChartChange {
		d = d.HoldChartChange(f.Current)
	}
	d.prismCentral, d.settings = f.Config.PrismCentral.Host, s
	if len(d.Writes) == 0 {
		d.Outcome = OutcomeUpToDate
		d.Message, _ = ReportDeploy(want, d.prismCentral, s, f.Current, nil)
		return d
	}
	d.Outcome = OutcomeApplied
	return d
}

// Applied is the answer and the Event once the Writes are applied: the
// Event is named by the resourceVersions they left, so a change is told
// once, and only once made.
func (d Deploy) Applied() (string, Event) {
	return ReportDeploy(d.want, d.prismCentral, d.settings, d.current, d.Writes)
}

// ClusterOutcome is the deploy's outcome for Cluster key in a sync.
func (d Deploy) ClusterOutcome(key string) ClusterOutcome {
	if d.Outcome == OutcomeLeftToHooks {
		return LeftToHooks(key, SyncLeaveToDelete)
	}
	return ClusterOutcome{Cluster: key, Outcome: d.Outcome, Message: d.Message}
}

// Release decides what a sync reports of the release once the deploy is
// carried out, from CAAPH's report and the ReportedReleaseAnnotation:
// nothing (ok false) unless our objects are at the desired state and the
// HelmChartProxy was not just written (CAAPH has not acted on it yet). A
// held HelmChartProxy keeps its chart version, so CAAPH's report stands.
func (d Deploy) Release(cluster string, caaph Release, reported string) (release Release, report InstallReport, ok bool) {
	if (d.Outcome != OutcomeUpToDate && d.Outcome != OutcomeApplied) || d.WritesChart() {
		return Release{}, InstallReport{}, false
	}
	release = caaph
	if !d.Held {
		release = release.Against(d.ChartVersion)
	}
	return release, ReportInstall(cluster, release, reported), true
}
