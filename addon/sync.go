package addon

import (
	"context"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// SyncReport is Sync's answer (konnector.SyncReport).
type SyncReport = konnector.SyncReport

// Scope is what one sync covers: every served Cluster, or one; Sync sets
// the rest of it from the settings.
type Scope = kube.FleetScope

// notReachedGrace is how long a sync past its deadline goes on reading
// pages of Clusters, only to name the ones it did not reach.
const notReachedGrace = 2 * time.Second

// Sync gives every Cluster in scope the state the hooks would give it
// (konnector.SyncView.Next), a page at a time, KONNECTOR_SYNC_CONCURRENCY
// Clusters at once; between pages it keeps only its tally and the
// credentials Secrets read. A failing Cluster never stops the others, and
// those not started by ctx's deadline are reported not reached.
func (a *Addon) Sync(ctx context.Context, target Scope) SyncReport {
	c, err := a.kube.Open()
	if err != nil {
		return konnector.FailedSync(syncReadFailed(err))
	}
	var tally konnector.SyncTally
	// Each credentials Secret is read once per sync (readPageConfigs).
	secrets := map[types.NamespacedName]*corev1.Secret{}
	listCtx, cancel := context.WithoutCancel(ctx), func() {}
	if deadline, ok := ctx.Deadline(); ok {
		listCtx, cancel = context.WithDeadline(listCtx, deadline.Add(notReachedGrace))
	}
	defer cancel()
	// A rollout decides once every page is read; a sync of one Cluster is
	// the operator's own step and moves it.
	rollout := &rolloutRun{hold: a.settings.RolloutBatch > 0 && !target.One()}
	add := func(o konnector.ClusterOutcome) {
		// Logged now: the report lists konnector.MaxListed at most.
		if o.Outcome.Listed() {
			a.log.Info("sync cluster", "cluster", o.Cluster, "outcome", o.Outcome, "message", o.Message)
		}
		tally.Add(o)
	}
	scope := target
	scope.Namespaces = a.settings.SyncNamespaces
	scope.ExtensionConfig = a.settings.ExtensionConfig
	scope.PageSize = a.settings.SyncPageSize
	found, err := kube.EachFleetPage(listCtx, c, scope, func(page []konnector.DeployFacts) error {
		a.readPageConfigs(ctx, c, page, secrets)
		outcomes := make([]konnector.ClusterOutcome, len(page))
		held := make([]bool, len(page))
		var g errgroup.Group
		g.SetLimit(a.settings.SyncConcurrency)
		for i, in := range page {
			g.Go(func() error {
				outcomes[i], held[i] = a.syncCluster(ctx, c, in, rollout)
				return nil
			})
		}
		_ = g.Wait()
		for i, o := range outcomes {
			if !held[i] {
				add(o)
			}
		}
		return nil
	})
	plan := rollout.plan(a.settings.RolloutBatch)
	for _, o := range a.moveRollout(ctx, c, rollout, plan) {
		add(o)
	}
	if target.One() && found == 0 && err == nil {
		r := konnector.FailedSync(konnector.NotServedMessage(target.Cluster.String(), a.settings.SyncNamespaces, a.settings.ExtensionConfig))
		r.NotServed = true
		return r
	}
	report := tally.Report(konnector.ServedNamespaces(a.settings.SyncNamespaces, a.settings.ExtensionConfig))
	if report.Rollout = plan.Report(a.settings.RolloutBatch); report.Rollout != nil {
		report.Message += "; " + report.Rollout.Message()
	}
	switch {
	case err != nil && report.Counts.Checked == 0:
		return konnector.FailedSync(syncReadFailed(err))
	case err != nil:
		report.Status = konnector.StatusFailure
		report.Message += "; the Clusters after these were not read: " + syncReadFailed(err)
	}
	return report
}

// syncReadFailed words a failed read of a sync (konnector.Explain).
func syncReadFailed(err error) string {
	return konnector.Explain(err, "the next sync reads again; if this persists, check konnector-hooks' access to the management cluster: cluster-wide, Sync reads the ExtensionConfig and lists in every namespace; the namespaced install sets KONNECTOR_SYNC_NAMESPACES to the namespaces it binds, and each of them needs its RoleBinding")
}

// readPageConfigs reads each Cluster's configuration and the credentials
// Secrets they name that no earlier page read. One that could not be read
// is left out, so each Cluster naming it reads it again and reports why.
func (a *Addon) readPageConfigs(ctx context.Context, c client.Client, page []konnector.DeployFacts, secrets map[types.NamespacedName]*corev1.Secret) {
	unread := map[types.NamespacedName]bool{}
	for i := range page {
		in := &page[i]
		in.Secrets = secrets
		in.Config, in.ConfigErr = konnector.ReadConfigWith(&in.Cluster.Spec.Topology, a.settings)
		if in.Config != nil {
			key := types.NamespacedName{Namespace: in.Cluster.Namespace, Name: in.Config.CredentialsSecret}
			if _, read := secrets[key]; !read {
				unread[key] = true
			}
		}
	}
	read, _ := kube.ReadSecrets(ctx, c, slices.Collect(maps.Keys(unread)), a.settings.SyncConcurrency)
	maps.Copy(secrets, read)
}

// SyncOnce syncs every served Cluster within KONNECTOR_SYNC_TIMEOUT, for the
// one-shot mode (`konnector-hooks sync`, as the CronJob runs it).
func (a *Addon) SyncOnce(ctx context.Context) SyncReport {
	start := a.now()
	ctx, cancel := context.WithTimeout(ctx, a.settings.SyncTimeout)
	defer cancel()
	report := a.Sync(ctx, Scope{})
	a.LogSync(report, "", 1, a.now().Sub(start))
	return report
}

// syncCluster takes one Cluster's sync step; held: the rollout keeps it
// and gives its outcome later.
func (a *Addon) syncCluster(ctx context.Context, c client.Client, in konnector.DeployFacts, rollout *rolloutRun) (out konnector.ClusterOutcome, held bool) {
	key := client.ObjectKeyFromObject(in.Cluster).String()
	if ctx.Err() != nil {
		return konnector.NotReached(key), false
	}
	switch step := in.SyncStep(); step {
	case konnector.SyncLeaveToDelete, konnector.SyncLeaveToInitialize:
		return konnector.LeftToHooks(key, step), false
	case konnector.SyncNotEnabled:
		return konnector.ClusterOutcome{Cluster: key, Outcome: konnector.OutcomeNotEnabled}, false
	case konnector.SyncConverge:
		out, held = a.syncEnabled(ctx, c, in, rollout)
	case konnector.SyncUninstall:
		out = a.syncDisabled(ctx, c, in)
	}
	if out.Outcome == konnector.OutcomeFailed && ctx.Err() != nil {
		return konnector.NotReached(key), false
	}
	return out, held
}

// syncEnabled is the hooks' deploy path from the objects the LISTs read,
// then the release report (konnector.Deploy.Release). A Cluster missing an
// object is read by name, as the hooks read it, so that an object of our
// name without our labels (which the LISTs do not select) is refused.
func (a *Addon) syncEnabled(ctx context.Context, c client.Client, in konnector.DeployFacts, rollout *rolloutRun) (out konnector.ClusterOutcome, held bool) {
	key := client.ObjectKeyFromObject(in.Cluster)
	caaph, reported := in.Current.Released()
	if cur := in.Current; cur.HelmChartProxy == nil || cur.ClusterResourceSet == nil || cur.ResourceSetSecret == nil {
		var err error
		if in, err = a.readDeployFacts(ctx, c, key); err != nil {
			return konnector.ClusterOutcome{Cluster: key.String(), Outcome: konnector.OutcomeFailed, Message: failureFrom(err).Message}, false
		}
	}
	out, d := a.syncConverge(ctx, c, in, rollout.hold)
	release, report, ok := d.Release(key.String(), caaph, reported)
	if !ok {
		return out, false
	}
	a.recordInstall(ctx, c, in.Cluster, report)
	if report.Failed {
		out.Outcome, out.Message = konnector.OutcomeInstallFailed, report.Message
	}
	if d.Held {
		rollout.holdCluster(out, key, in.Current.HelmChartProxy, release)
		return konnector.ClusterOutcome{}, true
	}
	if release.Phase == konnector.ReleaseFailed {
		rollout.pausedBy(key, release)
	}
	return out, false
}

// syncConverge is the hooks' deploy path for one Cluster of a sync.
func (a *Addon) syncConverge(ctx context.Context, c client.Client, in konnector.DeployFacts, hold bool) (konnector.ClusterOutcome, konnector.Deploy) {
	key := client.ObjectKeyFromObject(in.Cluster).String()
	d, err := a.converge(ctx, c, in, konnector.DeployRules{RequireInitialized: true, HoldChartChange: hold}, true)
	if err != nil {
		d = konnector.Deploy{Outcome: konnector.OutcomeFailed, Failure: true, Message: failureFrom(err).Message}
	}
	return d.ClusterOutcome(key), d
}

// recordInstall records the release's Event, then marks the HelmChartProxy,
// so that a record that failed is made again by the next sync.
func (a *Addon) recordInstall(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, report konnector.InstallReport) {
	key := client.ObjectKeyFromObject(cluster)
	if e := report.Event; e != nil && !a.recordEvent(ctx, c, cluster, *e) {
		return
	}
	if report.Mark != "" {
		hcp := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
		if err := kube.Annotate(ctx, c, hcp, konnector.ReportedReleaseAnnotation, report.Mark, konnector.FieldManager); err != nil {
			a.log.Warn("release report not marked", "cluster", key.String(), "error", err.Error())
		}
	}
}

// LogSync writes a sync's line, with the calls its report answered.
func (a *Addon) LogSync(r SyncReport, eventID string, calls int, took time.Duration) {
	a.log.Info("sync call", "function", "Sync", "outcome", r.Status, "cloudEventId", eventID, "calls", calls,
		"checked", r.Counts.Checked, "upToDate", r.Counts.UpToDate, "applied", r.Counts.Applied, "uninstalling", r.Counts.Uninstalling,
		"uninstalled", r.Counts.Uninstalled, "uninstallStuck", r.Counts.UninstallStuck, "failed", r.Counts.Failed, "notReached", r.Counts.NotReached,
		"leftToHooks", r.Counts.LeftToHooks, "notEnabled", r.Counts.NotEnabled,
		"message", r.Message, "durationMs", float64(took.Microseconds())/1000)
}
