package handlers

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

// readDeployFacts reads what the deploy path decides from (kube.ReadAddon)
// and the Cluster's configuration. The default-named credentials Secret is
// read with the rest, before the Cluster says which Secret it uses, because
// most Clusters use it: that saves a round trip, for one wasted read on the
// others.
func (s *Server) readDeployFacts(ctx context.Context, c client.Client, key types.NamespacedName) (konnector.DeployFacts, error) {
	read, err := kube.ReadAddon(ctx, c, key, s.settings.DefaultCredentialsSecret)
	if err != nil {
		return konnector.DeployFacts{}, err
	}
	if read.Cluster == nil {
		return konnector.DeployFacts{}, konnector.ClusterNotFound(key)
	}
	f := konnector.DeployFacts{Cluster: read.Cluster, Current: read.Current, Secrets: map[types.NamespacedName]*corev1.Secret{
		{Namespace: key.Namespace, Name: s.settings.DefaultCredentialsSecret}: read.DefaultSecret,
	}}
	f.Config, f.ConfigErr = konnector.ReadConfigWith(&f.Cluster.Spec.Topology, s.settings)
	return f, nil
}

// deploy is the one apply path of AfterControlPlaneInitialized and
// BeforeClusterUpgrade: it brings the addon's objects to the desired state
// and writes only what differs from it.
func (s *Server) deploy(ctx context.Context, key types.NamespacedName, requireInitialized bool) result {
	c, err := s.kube.Open()
	if err != nil {
		return failureFrom(err)
	}
	f, err := s.readDeployFacts(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
	d, err := s.converge(ctx, c, f, konnector.DeployRules{RequireInitialized: requireInitialized}, false)
	if err != nil {
		return failureFrom(err)
	}
	return result{failure: d.Failure, message: d.Message}
}

// decide is konnector.DecideDeploy, with the credentials Secret it asks for
// read by name.
func (s *Server) decide(ctx context.Context, c client.Client, f konnector.DeployFacts, rules konnector.DeployRules) (konnector.Deploy, error) {
	d := konnector.DecideDeploy(f, s.settings, rules)
	if key := d.ReadSecret; key != nil {
		secret, err := kube.ReadSecret(ctx, c, *key)
		if err != nil {
			return d, err
		}
		f.Secrets = map[types.NamespacedName]*corev1.Secret{*key: secret}
		d = konnector.DecideDeploy(f, s.settings, rules)
	}
	return d, nil
}

// converge decides (konnector.DecideDeploy) and carries the decision out:
// it reads the credentials Secret the decision asks for, applies its writes
// and records its Event. An error is an API error of a read or a write.
//
// recheck is Sync's: it decides on a LIST snapshot, so before a write that
// creates an object it reads the Cluster again, and leaves a Cluster whose
// deletion began meanwhile to BeforeClusterDelete; else it could give back
// a HelmChartProxy that BeforeClusterDelete removed.
func (s *Server) converge(ctx context.Context, c client.Client, f konnector.DeployFacts, rules konnector.DeployRules, recheck bool) (konnector.Deploy, error) {
	d, err := s.decide(ctx, c, f, rules)
	if err != nil || len(d.Writes) == 0 {
		if err == nil && d.Event != nil {
			s.recordEvent(ctx, c, f.Cluster, *d.Event)
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
	s.recordEvent(ctx, c, f.Cluster, event)
	return d, nil
}

// failureFrom is the Failure answer of err (konnector.Explain).
func failureFrom(err error) result {
	return failure(konnector.Explain(err, konnector.HookRetry))
}

// recordEvent records an Event on the Cluster. An event is a courtesy: a
// failure to record it is logged and does not fail the hook.
func (s *Server) recordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, e konnector.Event) {
	if err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, e, s.now()); err != nil {
		s.log.Warn("event not recorded", "cluster", client.ObjectKeyFromObject(cluster).String(), "reason", e.Reason, "error", err.Error())
	}
}

func objectKey(obj client.Object) string { return client.ObjectKeyFromObject(obj).String() }
