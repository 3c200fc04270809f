package handlers

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

// syncScope is what one sync covers: every served Cluster, or one.
type syncScope struct {
	// cluster is empty for every served Cluster.
	cluster types.NamespacedName
}

func (sc syncScope) one() bool { return sc.cluster.Name != "" }

// notReachedGrace is how long a sync past its deadline goes on reading
// pages of Clusters, only to name the ones it did not reach.
const notReachedGrace = 2 * time.Second

// sync gives every Cluster in scope the state the hooks would give it (see
// konnector.SyncView.Next). It reads the Clusters a page at a time and
// finishes each page, with at most KONNECTOR_SYNC_CONCURRENCY Clusters
// written at once, before it reads the next; between pages it keeps only
// its tally and the credentials Secrets it read. One failing Cluster never
// stops the others; Clusters not started before ctx's deadline are reported
// as not reached, and a later run resumes them: the ones finished meanwhile
// are up to date and cost it no write.
func (s *Server) sync(ctx context.Context, target syncScope) SyncReport {
	c, err := s.kube.Open()
	if err != nil {
		return konnector.FailedSync(syncReadFailed(err))
	}
	var tally konnector.SyncTally
	// The credentials Secrets the Clusters with the addon name, each read
	// once, when a page first needs it; the pages' Clusters only read it.
	secrets := map[types.NamespacedName]*corev1.Secret{}
	listCtx, cancel := context.WithoutCancel(ctx), func() {}
	if deadline, ok := ctx.Deadline(); ok {
		listCtx, cancel = context.WithDeadline(listCtx, deadline.Add(notReachedGrace))
	}
	defer cancel()
	// Under a rollout, a change of an existing HelmChartProxy is held while
	// the pages are read, and the Clusters to move are decided once all are.
	// A sync naming one Cluster moves it: it is the operator's own step.
	rollout := &rolloutRun{hold: s.settings.RolloutBatch > 0 && !target.one()}
	add := func(o konnector.ClusterOutcome) {
		// Logged now: the report lists konnector.MaxListed at most.
		if o.Outcome.Listed() {
			s.log.Info("sync cluster", "cluster", o.Cluster, "outcome", o.Outcome, "message", o.Message)
		}
		tally.Add(o)
	}
	scope := kube.FleetScope{
		Cluster:         target.cluster,
		Namespaces:      s.settings.SyncNamespaces,
		ExtensionConfig: s.settings.ExtensionConfig,
		PageSize:        s.settings.SyncPageSize,
	}
	found, err := kube.EachFleetPage(listCtx, c, scope, func(page []kube.FleetMember) error {
		targets := s.pageTargets(ctx, c, page, secrets)
		outcomes := make([]konnector.ClusterOutcome, len(targets))
		held := make([]bool, len(targets))
		var g errgroup.Group
		g.SetLimit(s.settings.SyncConcurrency)
		for i, in := range targets {
			g.Go(func() error {
				outcomes[i], held[i] = s.syncCluster(ctx, c, in, &page[i], rollout)
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
	plan := rollout.plan(s.settings.RolloutBatch)
	for _, o := range s.moveRollout(ctx, c, rollout, plan) {
		add(o)
	}
	if target.one() && found == 0 && err == nil {
		r := konnector.FailedSync(konnector.NotServedMessage(target.cluster.String(), s.settings.SyncNamespaces, s.settings.ExtensionConfig))
		r.NotServed = true
		return r
	}
	report := tally.Report(konnector.ServedNamespaces(s.settings.SyncNamespaces, s.settings.ExtensionConfig))
	report.AddRollout(plan.Report(s.settings.RolloutBatch))
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

// pageTargets decides each Cluster's configuration and reads the
// credentials Secrets its Clusters with the addon name that no earlier page
// read: each Secret once per sync, and none in a namespace without such a
// Cluster. A Secret that could not be read is left out, so that each Cluster
// naming it reads it again and reports what failed.
func (s *Server) pageTargets(ctx context.Context, c client.Client, page []kube.FleetMember, secrets map[types.NamespacedName]*corev1.Secret) []konnector.DeployFacts {
	targets := make([]konnector.DeployFacts, len(page))
	unread := map[types.NamespacedName]bool{}
	for i, m := range page {
		in := konnector.DeployFacts{Cluster: m.Cluster, Current: m.Current, Secrets: secrets}
		in.Config, in.ConfigErr = konnector.ReadConfigWith(&m.Cluster.Spec.Topology, s.settings)
		if in.Config != nil {
			key := types.NamespacedName{Namespace: m.Cluster.Namespace, Name: in.Config.CredentialsSecret}
			if _, read := secrets[key]; !read {
				unread[key] = true
			}
		}
		targets[i] = in
	}
	read, _ := kube.ReadSecrets(ctx, c, slices.Collect(maps.Keys(unread)), s.settings.SyncConcurrency)
	maps.Copy(secrets, read)
	return targets
}

// SyncOnce syncs every served Cluster within KONNECTOR_SYNC_TIMEOUT, for the
// one-shot mode (`konnector-hooks sync`, as the CronJob runs it).
func (s *Server) SyncOnce(ctx context.Context) SyncReport {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, s.settings.SyncTimeout)
	defer cancel()
	report := s.sync(ctx, syncScope{})
	s.logSync(report, "", 1, s.now().Sub(start))
	return report
}

// syncCluster takes one Cluster's sync step. A Cluster whose
// HelmChartProxy change the rollout holds has no outcome yet (held): the
// rollout keeps it until it decides which Clusters move.
func (s *Server) syncCluster(ctx context.Context, c client.Client, in konnector.DeployFacts, m *kube.FleetMember, rollout *rolloutRun) (out konnector.ClusterOutcome, held bool) {
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
		out, held = s.syncEnabled(ctx, c, in, m, rollout)
	case konnector.SyncUninstall:
		out = s.syncDisabled(ctx, c, in)
	}
	if out.Outcome == konnector.OutcomeFailed && ctx.Err() != nil {
		return konnector.NotReached(key), false
	}
	return out, held
}

// syncEnabled is the hooks' deploy path for a Cluster with the addon on,
// from the objects the LISTs read. A Cluster missing one of its objects is
// read by name as the hooks read it, so that an object of our name without
// our labels (which the LISTs do not select) is refused as the hooks refuse
// it.
//
// Once our objects are at the desired state, it reports the release as
// CAAPH's HelmReleaseProxies do: a failed install is the Cluster's outcome,
// with a Warning Event, and a deployed revision gets one Normal Event. A
// HelmChartProxy written by this sync is not reported on: CAAPH has not
// acted on it yet, and the next sync reports it.
func (s *Server) syncEnabled(ctx context.Context, c client.Client, in konnector.DeployFacts, m *kube.FleetMember, rollout *rolloutRun) (out konnector.ClusterOutcome, held bool) {
	key := client.ObjectKeyFromObject(in.Cluster)
	if cur := in.Current; cur.HelmChartProxy == nil || cur.ClusterResourceSet == nil || cur.ResourceSetSecret == nil {
		var err error
		if in, err = s.readDeployFacts(ctx, c, key); err != nil {
			return konnector.ClusterOutcome{Cluster: key.String(), Outcome: konnector.OutcomeFailed, Message: failureFrom(err).message}, false
		}
	}
	out, d := s.syncConverge(ctx, c, in, rollout.hold)
	caaph, reported := m.Current.Released()
	release, report, ok := d.Release(key.String(), caaph, reported)
	if !ok {
		return out, false
	}
	s.recordInstall(ctx, c, in.Cluster, report)
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

// syncConverge is the hooks' deploy path for one Cluster of a sync, hold
// holding a change of its existing HelmChartProxy (DeployRules), and its
// outcome.
func (s *Server) syncConverge(ctx context.Context, c client.Client, in konnector.DeployFacts, hold bool) (konnector.ClusterOutcome, konnector.Deploy) {
	key := client.ObjectKeyFromObject(in.Cluster).String()
	d, err := s.converge(ctx, c, in, konnector.DeployRules{RequireInitialized: true, HoldChartChange: hold}, true)
	if err != nil {
		d = konnector.Deploy{Outcome: konnector.OutcomeFailed, Failure: true, Message: failureFrom(err).message}
	}
	return d.ClusterOutcome(key), d
}

// recordInstall records what konnector.ReportInstall decided of a
// Cluster's release: the Event, then the mark on the HelmChartProxy that it
// was recorded, so that a failed record is made again by the next sync.
func (s *Server) recordInstall(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, report konnector.InstallReport) {
	key := client.ObjectKeyFromObject(cluster)
	if report.EventReason != "" {
		e := konnector.Event{Type: report.EventType, Reason: report.EventReason, Message: report.EventMessage, Key: report.EventKey, Count: report.EventCount}
		if err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, e, s.now()); err != nil {
			s.log.Warn("event not recorded", "cluster", key.String(), "reason", e.Reason, "error", err.Error())
			return
		}
	}
	if report.Mark != "" {
		hcp := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
		if err := kube.Annotate(ctx, c, hcp, konnector.ReportedReleaseAnnotation, report.Mark, konnector.FieldManager); err != nil {
			s.log.Warn("release report not marked", "cluster", key.String(), "error", err.Error())
		}
	}
}
