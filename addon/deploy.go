package addon

import (
	"context"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// readDeployFacts reads what a deploy decides from (kube.ReadAddon, with
// the default-named credentials Secret) and the Cluster's configuration.
func (a *Addon) readDeployFacts(ctx context.Context, c client.Client, key types.NamespacedName) (konnector.DeployFacts, error) {
	f, err := kube.ReadAddon(ctx, c, key, a.settings.DefaultCredentialsSecret)
	if err != nil {
		return konnector.DeployFacts{}, err
	}
	if f.Cluster == nil {
		return konnector.DeployFacts{}, konnector.ClusterNotFound(key)
	}
	f.Config, f.ConfigErr = konnector.ReadConfigWith(&f.Cluster.Spec.Topology, a.settings)
	return f, nil
}

// Deploy is the one apply path of AfterControlPlaneInitialized and
// BeforeClusterUpgrade: it writes only what differs from the desired state.
func (a *Addon) Deploy(ctx context.Context, key types.NamespacedName, requireInitialized bool) Answer {
	c, err := a.kube.Open()
	if err != nil {
		return failureFrom(err)
	}
	f, err := a.readDeployFacts(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
	d, err := a.converge(ctx, c, f, konnector.DeployRules{RequireInitialized: requireInitialized}, false)
	if err != nil {
		return failureFrom(err)
	}
	return Answer{Failure: d.Failure, Message: d.Message}
}

// decide is konnector.DecideDeploy, with the credentials Secret it asks for
// read by name.
func (a *Addon) decide(ctx context.Context, c client.Client, f konnector.DeployFacts, rules konnector.DeployRules) (konnector.Deploy, error) {
	d := konnector.DecideDeploy(f, a.settings, rules)
	if key := d.ReadSecret; key != nil {
		secret, err := kube.ReadSecret(ctx, c, *key)
		if err != nil {
			return d, err
		}
		f.Secrets = map[types.NamespacedName]*corev1.Secret{*key: secret}
		d = konnector.DecideDeploy(f, a.settings, rules)
	}
	return d, nil
}

// converge decides and carries the decision out: the writes, then the
// Event. An error is an API error.
//
// recheck is Sync's, which decides on a LIST snapshot: before creating an
// object it reads the Cluster again and leaves one whose deletion began to
// BeforeClusterDelete, whose removed HelmChartProxy it would give back.
func (a *Addon) converge(ctx context.Context, c client.Client, f konnector.DeployFacts, rules konnector.DeployRules, recheck bool) (konnector.Deploy, error) {
	d, err := a.decide(ctx, c, f, rules)
	if err != nil || len(d.Writes) == 0 {
		if err == nil && d.Event != nil {
			a.recordEvent(ctx, c, f.Cluster, *d.Event)
		}
		return d, err
	}
	if recheck && d.Creates {
		now, err := kube.ReadCluster(ctx, c, client.ObjectKeyFromObject(f.Cluster))
		switch {
		case err != nil:
			return d, err
		case now == nil || now.DeletionTimestamp != nil:
			return konnector.Deploy{Outcome: konnector.OutcomeLeftToHooks}, nil
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, obj := range d.Writes {
		g.Go(func() error { return kube.Apply(gctx, c, obj, konnector.FieldManager) })
	}
	if err := g.Wait(); err != nil {
		return d, err
	}
	var event konnector.Event
	d.Message, event = d.Applied()
	a.recordEvent(ctx, c, f.Cluster, event)
	return d, nil
}

// recordEvent records an Event on the Cluster and reports whether it did.
// An Event is a courtesy: a failure is logged and fails no hook.
func (a *Addon) recordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, e konnector.Event) bool {
	err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, e, a.now())
	if err != nil {
		a.log.Warn("event not recorded", "cluster", client.ObjectKeyFromObject(cluster).String(), "reason", e.Reason, "error", err.Error())
	}
	return err == nil
}
