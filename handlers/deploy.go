package handlers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// deployInputs is what the deploy path reads before deciding anything.
type deployInputs struct {
	cluster *clusterv1.Cluster
	// config is nil when the addon is not enabled; configErr is set when the
	// configuration is invalid.
	config    *clusterconfig.Config
	configErr error
	// current is what exists of the addon's objects.
	current konnector.Current
	// secrets are the credentials Secrets read already, nil where absent;
	// one the configuration names that is not among them is read by name.
	// The hooks read the default-named one with the rest, before the Cluster
	// says which Secret it uses, because most Clusters use it: that saves a
	// round trip, for one wasted read on the others. Sync reads each Secret
	// its Clusters name once.
	secrets map[types.NamespacedName]*corev1.Secret
}

// readDeployInputs reads what the deploy path decides from (kube.ReadAddon)
// and the Cluster's configuration.
func (s *Server) readDeployInputs(ctx context.Context, c client.Client, key types.NamespacedName) (*deployInputs, error) {
	read, err := kube.ReadAddon(ctx, c, key, s.settings.DefaultCredentialsSecret)
	if err != nil {
		return nil, err
	}
	if read.Cluster == nil {
		return nil, konnector.ClusterNotFound(key)
	}
	in := &deployInputs{cluster: read.Cluster, current: read.Current, secrets: map[types.NamespacedName]*corev1.Secret{
		{Namespace: key.Namespace, Name: s.settings.DefaultCredentialsSecret}: read.DefaultSecret,
	}}
	in.config, in.configErr = konnector.ReadConfigWith(&in.cluster.Spec.Topology, s.settings)
	return in, nil
}

// deploy is the one apply path of AfterControlPlaneInitialized and
// BeforeClusterUpgrade: it brings the addon's objects to the desired state
// and writes only what differs from it.
func (s *Server) deploy(ctx context.Context, key types.NamespacedName, requireInitialized bool) result {
	c, err := s.kube.Open()
	if err != nil {
		return failureFrom(err)
	}
	in, err := s.readDeployInputs(ctx, c, key)
	if err != nil {
		return failureFrom(err)
	}
	return s.converge(ctx, c, in, convergeOptions{requireInitialized: requireInitialized})
}

// convergeOptions are the differences between the callers of converge.
type convergeOptions struct {
	// requireInitialized: AfterControlPlaneInitialized and Sync deploy only
	// once the server reports the control plane initialized.
	requireInitialized bool
	// recheckBeforeCreate: Sync decides on a LIST snapshot, so before a
	// write that creates an object it reads the Cluster again, and leaves a
	// Cluster whose deletion began meanwhile to BeforeClusterDelete; else it
	// could give back a HelmChartProxy that BeforeClusterDelete removed.
	recheckBeforeCreate bool
	// holdChartChange: a Sync under a rollout (KONNECTOR_ROLLOUT_BATCH)
	// writes everything but a change of an existing HelmChartProxy, and
	// decides which of those to move once every page is read.
	holdChartChange bool
}

// converge decides and applies from what was read: it is the part of the
// deploy path that does not depend on how the inputs were read.
func (s *Server) converge(ctx context.Context, c client.Client, in *deployInputs, opts convergeOptions) result {
	cluster := in.cluster
	key := client.ObjectKeyFromObject(cluster)
	switch {
	case cluster.DeletionTimestamp != nil:
		return clusterDeleting(key)
	case in.configErr != nil:
		return s.notDeployed(ctx, c, cluster, in.configErr)
	case in.config == nil:
		return success(fmt.Sprintf("the Konnector Agent addon is not enabled for Cluster %s (%s): nothing to do", key, konnector.NotEnabledReason(s.settings)))
	case opts.requireInitialized && !konnector.ControlPlaneInitialized(cluster):
		return failure(fmt.Sprintf("the control plane of Cluster %s is not initialized on the management cluster yet: the Konnector Agent is deployed once it is (CAPI calls the hook again)", key))
	}
	creds, err := s.readCredentials(ctx, c, in)
	if err != nil {
		return s.notDeployed(ctx, c, cluster, err)
	}
	// Read as metadata only, our objects are compared by hash, which does
	// not need the rendered values: they are rendered for a write alone.
	want := konnector.DesiredUnrendered(cluster, in.config, creds, s.settings)
	if !in.current.MetadataOnly {
		want.RenderValues()
	}
	plan, err := konnector.PlanDeploy(cluster.Name, in.current, want)
	if err != nil {
		return s.notDeployed(ctx, c, cluster, err)
	}
	held := false
	if opts.holdChartChange {
		plan, held = plan.HoldChartChange(in.current)
	}
	version := want.HelmChartProxy.Spec.Version
	if len(plan.Writes) == 0 {
		res := success(konnector.ReportDeploy(want, in.config.PrismCentral.Host, s.settings, in.current, nil).Message)
		res.held, res.chartVersion = held, version
		return res
	}
	want.RenderValues()
	if opts.recheckBeforeCreate && plan.Creates {
		now, err := kube.ReadCluster(ctx, c, key)
		switch {
		case err != nil:
			return failureFrom(err)
		case now == nil || now.DeletionTimestamp != nil:
			return clusterDeleting(key)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, obj := range plan.Writes {
		g.Go(func() error { return kube.Apply(gctx, c, obj, konnector.FieldManager) })
	}
	if err := g.Wait(); err != nil {
		return failureFrom(err)
	}
	// The Event follows the writes, so that it only ever tells of a change
	// that was made, once (the change is named after the writes).
	report := konnector.ReportDeploy(want, in.config.PrismCentral.Host, s.settings, in.current, plan.Writes)
	s.recordEvent(ctx, c, cluster, kube.Event{Type: report.EventType, Reason: konnector.ReasonApplied, Message: report.Message, Key: report.EventKey})
	res := success(report.Message)
	res.changed, res.held, res.chartWritten, res.chartVersion = true, held, plan.WritesChart(), version
	return res
}

// clusterDeleting is the deploy path's answer for a Cluster being deleted.
func clusterDeleting(key types.NamespacedName) result {
	res := success(fmt.Sprintf("Cluster %s is being deleted: the Konnector Agent is not deployed", key))
	res.deleting = true
	return res
}

// notDeployed answers a deploy stopped by err, as konnector.AnswerFor
// decides: a problem only a person can fix is said in the answer and in a
// Warning Event, one per problem whose count grows while it lasts.
func (s *Server) notDeployed(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, err error) result {
	answer := konnector.AnswerFor(err, s.settings.BlockOnInvalidConfig())
	if !answer.NotDeployed {
		return failureFrom(err)
	}
	message := fmt.Sprintf("the Konnector Agent is not deployed on Cluster %s: %s", client.ObjectKeyFromObject(cluster), err)
	s.recordEvent(ctx, c, cluster, kube.Event{Type: corev1.EventTypeWarning, Reason: konnector.ReasonNotDeployed, Message: message, Key: message, Count: true})
	res := success(message)
	if answer.Failure {
		res = failure(message)
	}
	res.notDeployed = true
	return res
}

// readCredentials checks the Prism Central credentials Secret the
// configuration names, reading it unless it was read already.
func (s *Server) readCredentials(ctx context.Context, c client.Client, in *deployInputs) (konnector.Credentials, error) {
	key := types.NamespacedName{Namespace: in.cluster.Namespace, Name: in.config.CredentialsSecret}
	secret, read := in.secrets[key]
	if !read {
		var err error
		if secret, err = kube.ReadSecret(ctx, c, key); err != nil {
			return konnector.Credentials{}, err
		}
	}
	if secret == nil {
		return konnector.Credentials{}, konnector.MissingSecretError(key.Namespace, key.Name)
	}
	return konnector.ReadCredentials(secret)
}

// failureFrom is the Failure answer of err (konnector.Explain).
func failureFrom(err error) result {
	return failure(konnector.Explain(err, "CAPI retries the hook; if this persists, check konnector-hooks' access to the management cluster"))
}

// recordEvent records an Event on the Cluster. An event is a courtesy: a
// failure to record it is logged and does not fail the hook.
func (s *Server) recordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, e kube.Event) {
	if err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, e, s.now()); err != nil {
		s.log.Warn("event not recorded", "cluster", client.ObjectKeyFromObject(cluster).String(), "reason", e.Reason, "error", err.Error())
	}
}

func objectKey(obj client.Object) string { return client.ObjectKeyFromObject(obj).String() }
