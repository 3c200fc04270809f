package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// Outcomes of one Cluster in a sync, as the report counts them.
const (
	outcomeUpToDate     = "upToDate"
	outcomeApplied      = "applied"
	outcomeUninstalling = "uninstalling"
	outcomeUninstalled  = "uninstalled"
	// outcomeUninstallStuck: the uninstall of a live Cluster's agent is past
	// KONNECTOR_UNINSTALL_TIMEOUT; nothing is forced and the sync waits.
	outcomeUninstallStuck = "uninstallStuck"
	outcomeFailed         = "failed"
	outcomeNotReached     = "notReached"
	outcomeLeftToHooks    = "leftToHooks"
	outcomeNotEnabled     = "notEnabled"
)

// clusterOutcome is what the sync did for one Cluster; message is the answer
// the hooks give for the same step.
type clusterOutcome struct {
	Cluster string `json:"cluster"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// reported tells whether the report lists a Cluster with this outcome: the
// ones that changed, failed or were not reached.
func reported(outcome string) bool {
	switch outcome {
	case outcomeApplied, outcomeUninstalling, outcomeUninstalled, outcomeUninstallStuck, outcomeFailed, outcomeNotReached:
		return true
	}
	return false
}

// sync gives every Cluster in scope the state the hooks would give it (see
// konnector.SyncView.Next), with at most KONNECTOR_SYNC_CONCURRENCY Clusters
// written at once. One failing Cluster never stops the others; Clusters not
// started before ctx's deadline are reported as not reached, and a later run
// resumes them: the ones finished meanwhile are up to date and cost it no
// write.
func (s *Server) sync(ctx context.Context, scope syncScope) SyncReport {
	c, err := s.kube.Open()
	if err != nil {
		return failedSync(failureFrom(err).message)
	}
	read, err := s.readSync(ctx, c, scope)
	var input *konnector.InputError
	switch {
	case errors.As(err, &input):
		return failedSync(input.Error())
	case err != nil:
		return failedSync(err.Error() + " (the next sync reads again; if this persists, check konnector-hooks' access to the management cluster: cluster-wide, Sync reads the ExtensionConfig and lists in every namespace; the namespaced install sets KONNECTOR_SYNC_NAMESPACES to the namespaces it binds, and each of them needs its RoleBinding)")
	}
	if !read.served {
		return SyncReport{Status: statusFailure, Message: s.notServed(scope.cluster), Clusters: []clusterOutcome{}, notServed: true}
	}
	outcomes := make([]clusterOutcome, len(read.targets))
	var g errgroup.Group
	g.SetLimit(s.settings.SyncConcurrency)
	for i, t := range read.targets {
		g.Go(func() error {
			outcomes[i] = s.syncCluster(ctx, c, t)
			return nil
		})
	}
	_ = g.Wait()
	return s.report(outcomes)
}

// SyncOnce syncs every served Cluster within KONNECTOR_SYNC_TIMEOUT, for the
// one-shot mode (`konnector-hooks sync`, as the CronJob runs it).
func (s *Server) SyncOnce(ctx context.Context) SyncReport {
	start := s.now()
	ctx, cancel := context.WithTimeout(ctx, s.settings.SyncTimeout)
	defer cancel()
	report := s.sync(ctx, syncScope{})
	s.logSync(report, "", s.now().Sub(start))
	return report
}

// syncCluster takes one Cluster's sync step.
func (s *Server) syncCluster(ctx context.Context, c client.Client, t *syncTarget) clusterOutcome {
	key := t.key().String()
	if ctx.Err() != nil {
		return notReached(key)
	}
	var out clusterOutcome
	switch t.view().Next() {
	case konnector.SyncLeaveToDelete:
		return leftToDelete(key)
	case konnector.SyncLeaveToInitialize:
		return clusterOutcome{key, outcomeLeftToHooks, fmt.Sprintf("the control plane of Cluster %s is not initialized yet: AfterControlPlaneInitialized deploys the Konnector Agent", key)}
	case konnector.SyncNotEnabled:
		return clusterOutcome{key, outcomeNotEnabled, ""}
	case konnector.SyncConverge:
		out = s.syncEnabled(ctx, c, t)
	case konnector.SyncUninstall:
		out = s.syncDisabled(ctx, c, t)
	}
	if out.Outcome == outcomeFailed && ctx.Err() != nil {
		return notReached(key)
	}
	return out
}

// syncEnabled is the hooks' deploy path for a Cluster with the addon on,
// from the LISTs' inputs; a Cluster missing one of its objects is read by
// name as the hooks read it, so that an object of our name without our
// labels is refused as the hooks refuse it.
func (s *Server) syncEnabled(ctx context.Context, c client.Client, t *syncTarget) clusterOutcome {
	key := t.key()
	in := t.in
	if !t.complete() {
		var err error
		if in, err = s.readDeployInputs(ctx, c, key); err != nil {
			return clusterOutcome{key.String(), outcomeFailed, failureFrom(err).message}
		}
	}
	res := s.converge(ctx, c, in, convergeOptions{requireInitialized: true, recheckBeforeCreate: true})
	switch {
	case res.failure, res.notDeployed:
		return clusterOutcome{key.String(), outcomeFailed, res.message}
	case res.deleting:
		return leftToDelete(key.String())
	case res.changed:
		return clusterOutcome{key.String(), outcomeApplied, res.message}
	}
	return clusterOutcome{key.String(), outcomeUpToDate, res.message}
}

func leftToDelete(key string) clusterOutcome {
	return clusterOutcome{key, outcomeLeftToHooks, fmt.Sprintf("Cluster %s is being deleted: BeforeClusterDelete uninstalls the Konnector Agent", key)}
}

func notReached(key string) clusterOutcome {
	return clusterOutcome{key, outcomeNotReached, fmt.Sprintf("Cluster %s was not reached before the sync's deadline (?timeout= or KONNECTOR_SYNC_TIMEOUT): the next sync resumes it", key)}
}

// SyncReport is Sync's answer: counts by outcome and, for each Cluster that
// changed, failed or was not reached, the hooks' message.
type SyncReport struct {
	Status   string           `json:"status"`
	Message  string           `json:"message"`
	Counts   SyncCounts       `json:"counts"`
	Clusters []clusterOutcome `json:"clusters"`

	// notServed marks a sync of one Cluster that Sync does not serve.
	notServed bool
}

// SyncCounts counts the Clusters a sync checked, by outcome.
type SyncCounts struct {
	Checked      int `json:"checked"`
	UpToDate     int `json:"upToDate"`
	Applied      int `json:"applied"`
	Uninstalling int `json:"uninstalling"`
	Uninstalled  int `json:"uninstalled"`
	// UninstallStuck counts live Clusters whose uninstall is past its timeout.
	UninstallStuck int `json:"uninstallStuck"`
	Failed         int `json:"failed"`
	NotReached     int `json:"notReached"`
	LeftToHooks    int `json:"leftToHooks"`
	NotEnabled     int `json:"notEnabled"`
}

// Succeeded reports whether every Cluster was reached and none failed.
func (r SyncReport) Succeeded() bool { return r.Status == statusSuccess }

const (
	statusSuccess = "Success"
	statusFailure = "Failure"
)

func failedSync(message string) SyncReport {
	return SyncReport{Status: statusFailure, Message: message, Clusters: []clusterOutcome{}}
}

func (s *Server) report(outcomes []clusterOutcome) SyncReport {
	r := SyncReport{Status: statusSuccess, Clusters: []clusterOutcome{}}
	r.Counts.Checked = len(outcomes)
	counters := map[string]*int{
		outcomeUpToDate: &r.Counts.UpToDate, outcomeApplied: &r.Counts.Applied,
		outcomeUninstalling: &r.Counts.Uninstalling, outcomeUninstalled: &r.Counts.Uninstalled,
		outcomeUninstallStuck: &r.Counts.UninstallStuck,
		outcomeFailed:         &r.Counts.Failed, outcomeNotReached: &r.Counts.NotReached,
		outcomeLeftToHooks: &r.Counts.LeftToHooks, outcomeNotEnabled: &r.Counts.NotEnabled,
	}
	for _, o := range outcomes {
		counter, known := counters[o.Outcome]
		if !known {
			// An outcome this report does not count is a bug of ours; it
			// is reported as a failure of that Cluster, never a panic.
			o = clusterOutcome{o.Cluster, outcomeFailed, fmt.Sprintf("internal error: sync outcome %q is not known to the report (%s)", o.Outcome, o.Message)}
			counter = counters[outcomeFailed]
		}
		*counter++
		if reported(o.Outcome) {
			r.Clusters = append(r.Clusters, o)
		}
	}
	n := r.Counts
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{
		{n.UpToDate, "up to date"}, {n.Applied, "applied"}, {n.Uninstalling, "uninstalling"}, {n.Uninstalled, "uninstalled"}, {n.UninstallStuck, "with an uninstall stuck"},
		{n.Failed, "failed"}, {n.NotReached, "not reached"}, {n.LeftToHooks, "left to the lifecycle hooks"}, {n.NotEnabled, "without the addon"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(s.settings.SyncNamespaces) > 0 {
		r.Message = fmt.Sprintf("synced %d Clusters in the namespaces of KONNECTOR_SYNC_NAMESPACES (%s)", n.Checked, strings.Join(s.settings.SyncNamespaces, ", "))
	} else {
		r.Message = fmt.Sprintf("synced %d Clusters in the namespaces ExtensionConfig %s selects", n.Checked, s.settings.ExtensionConfig)
	}
	if len(parts) > 0 {
		r.Message += ": " + strings.Join(parts, ", ")
	}
	if n.UninstallStuck > 0 {
		r.Status = statusFailure
		r.Message += "; an uninstall is stuck: the clusters list gives CAAPH's reason and what to do"
	}
	if n.Failed > 0 {
		r.Status = statusFailure
		r.Message += "; the clusters list says what to fix for each failed one"
	}
	if n.NotReached > 0 {
		r.Status = statusFailure
		r.Message += "; the next sync resumes the ones not reached"
	}
	return r
}
