package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// Event reasons recorded on the Cluster.
const (
	reasonApplied          = "KonnectorAgentApplied"
	reasonUninstallStarted = "KonnectorAgentUninstallStarted"
	reasonRemoved          = "KonnectorAgentRemoved"
	reasonUninstallTimeout = "KonnectorAgentUninstallTimedOut"
)

// deployInputs is what the deploy path reads before deciding anything.
type deployInputs struct {
	cluster *clusterv1.Cluster
	// config is nil when the addon is not enabled; configErr is set when the
	// configuration is invalid.
	config    *konnector.Config
	configErr error
	// current holds the addon's objects as they are now, nil where absent,
	// in the order of desiredList.
	current []client.Object
	// defaultSecret is the Secret named by KONNECTOR_DEFAULT_CREDENTIALS_SECRET
	// in the Cluster's namespace, nil when absent. It is read with the rest,
	// before the Cluster says which Secret it uses, because most Clusters use
	// it: that saves a round trip, for one wasted read on the others.
	defaultSecret *corev1.Secret
}

// readDeployInputs reads the Cluster, the addon's current objects and the
// default credentials Secret in one round of parallel requests: their names
// follow from the request and the settings.
func (s *Server) readDeployInputs(ctx context.Context, c client.Client, key types.NamespacedName) (*deployInputs, error) {
	name := types.NamespacedName{Namespace: key.Namespace, Name: konnector.ObjectName(key.Name)}
	in := &deployInputs{
		cluster:       &clusterv1.Cluster{},
		current:       []client.Object{&caaphv1.HelmChartProxy{}, &addonsv1.ClusterResourceSet{}, &corev1.Secret{}},
		defaultSecret: &corev1.Secret{},
	}
	var clusterFound bool
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		clusterFound, err = get(gctx, c, key, in.cluster)
		return err
	})
	g.Go(func() error {
		found, err := get(gctx, c, types.NamespacedName{Namespace: key.Namespace, Name: s.settings.DefaultCredentialsSecret}, in.defaultSecret)
		if !found {
			in.defaultSecret = nil
		}
		return err
	})
	for i, obj := range in.current {
		g.Go(func() error {
			found, err := get(gctx, c, name, obj)
			if !found {
				in.current[i] = nil
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !clusterFound {
		return nil, clusterNotFound(key)
	}
	in.config, in.configErr = konnector.ReadConfig(&in.cluster.Spec.Topology, s.settings.DefaultCredentialsSecret)
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
	return s.converge(ctx, c, in, requireInitialized)
}

// converge decides and applies from what was read: it is the part of the
// deploy path that does not depend on how the inputs were read.
func (s *Server) converge(ctx context.Context, c client.Client, in *deployInputs, requireInitialized bool) result {
	cluster := in.cluster
	key := client.ObjectKeyFromObject(cluster)
	switch {
	case cluster.DeletionTimestamp != nil:
		return success(fmt.Sprintf("Cluster %s is being deleted: the Konnector Agent is not deployed", key))
	case in.configErr != nil:
		return failureFrom(in.configErr)
	case in.config == nil:
		return success(fmt.Sprintf("the Konnector Agent addon is not enabled for Cluster %s (no clusterConfig.addons.konnectorAgent): nothing to do", key))
	case requireInitialized && !controlPlaneInitialized(cluster):
		return failure(fmt.Sprintf("the control plane of Cluster %s is not initialized on the management cluster yet: the Konnector Agent is deployed once it is (CAPI calls the hook again)", key))
	}
	creds, err := s.readCredentials(ctx, c, in)
	if err != nil {
		return failureFrom(err)
	}
	want := konnector.DesiredObjects(cluster, in.config, creds, s.settings)
	desired := desiredList(want)

	var stale []client.Object
	for i, want := range desired {
		have := in.current[i]
		if have == nil {
			stale = append(stale, want)
			continue
		}
		if !konnector.IsOurs(have.GetLabels(), cluster.Name) {
			return failure(fmt.Sprintf("%s %s already exists and is not managed by konnector-hooks (labels %s=%s, cluster-name=%s missing): delete or rename it so that the Konnector Agent can be deployed",
				kindName(want), objectKey(want), "app.kubernetes.io/managed-by", konnector.FieldManager, cluster.Name))
		}
		upToDate, err := kube.UpToDate(have, want)
		if err != nil {
			return failureFrom(fmt.Errorf("comparing %s %s: %w", kindName(want), objectKey(want), err))
		}
		if !upToDate {
			stale = append(stale, want)
		}
	}

	installs := fmt.Sprintf("HelmChartProxy %s installs chart %s %s, registering the cluster in Prism Central %s as %q",
		objectKey(desired[0]), s.settings.ChartName, s.settings.ChartVersion, in.config.PrismCentral.Host, want.RegisteredName)
	warnings := ""
	for _, w := range want.Warnings {
		warnings += "; warning: " + w
	}
	if len(stale) == 0 {
		return success("Konnector Agent is up to date: " + installs + warnings)
	}
	var applied []string
	for _, obj := range stale {
		applied = append(applied, kindName(obj)+" "+objectKey(obj))
	}
	slices.Sort(applied)
	message := fmt.Sprintf("Konnector Agent applied: %s (wrote %s)%s", installs, strings.Join(applied, ", "), warnings)
	// One Event per change; a Warning one when the agent is installed
	// otherwise than configured, so that it stands out in kubectl describe.
	eventType := corev1.EventTypeNormal
	if len(want.Warnings) > 0 {
		eventType = corev1.EventTypeWarning
	}

	// The Event goes in the same round as the applies, so that a new cluster
	// costs one round of reads and one of writes. A failed apply cancels the
	// round, the answer is Failure and CAPI calls again; should the Event
	// have been recorded already, the next call's Event says what was written.
	g, gctx := errgroup.WithContext(ctx)
	for _, obj := range stale {
		g.Go(func() error { return kube.Apply(gctx, c, obj, konnector.FieldManager) })
	}
	g.Go(func() error {
		s.recordEvent(gctx, c, cluster, eventType, reasonApplied, message)
		return nil
	})
	if err := g.Wait(); err != nil {
		return failureFrom(err)
	}
	res := success(message)
	res.changed = true
	return res
}

// desiredList orders the desired objects as deployInputs.current.
func desiredList(d konnector.Desired) []client.Object {
	return []client.Object{d.HelmChartProxy, d.ClusterResourceSet, d.ResourceSetSecret}
}

// readCredentials checks the Prism Central credentials Secret the
// configuration names, reading it unless it is the default one, read already.
func (s *Server) readCredentials(ctx context.Context, c client.Client, in *deployInputs) (konnector.Credentials, error) {
	namespace, name := in.cluster.Namespace, in.config.CredentialsSecret
	secret := in.defaultSecret
	if name != s.settings.DefaultCredentialsSecret {
		secret = &corev1.Secret{}
		found, err := get(ctx, c, types.NamespacedName{Namespace: namespace, Name: name}, secret)
		if err != nil {
			return konnector.Credentials{}, err
		}
		if !found {
			secret = nil
		}
	}
	if secret == nil {
		return konnector.Credentials{}, konnector.MissingSecretError(namespace, name)
	}
	return konnector.ReadCredentials(secret)
}

func controlPlaneInitialized(cluster *clusterv1.Cluster) bool {
	if init := cluster.Status.Initialization.ControlPlaneInitialized; init != nil {
		return *init
	}
	return meta.IsStatusConditionTrue(cluster.Status.Conditions, clusterv1.ClusterControlPlaneInitializedCondition)
}

// get reads obj and reports whether it exists; only other errors are errors.
func get(ctx context.Context, c client.Client, key types.NamespacedName, obj client.Object) (bool, error) {
	err := c.Get(ctx, key, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("reading %s %s: %w", kindName(obj), key, err)
	}
}

func clusterNotFound(key types.NamespacedName) error {
	return &konnector.InputError{
		Field:    "Cluster " + key.String(),
		Problem:  "not found on the management cluster",
		Fix:      "the hook is only answered for Clusters that exist; check the request's cluster.metadata.namespace and name",
		NotFound: true,
	}
}

// failureFrom turns an error into the Failure answer: input errors say what
// to fix; other errors are API errors that a retry may resolve.
func failureFrom(err error) result {
	var input *konnector.InputError
	if errors.As(err, &input) {
		return failure(input.Error())
	}
	return failure(err.Error() + " (CAPI retries the hook; if this persists, check konnector-hooks' access to the management cluster)")
}

// recordEvent records an Event on the Cluster. An event is a courtesy: a
// failure to record it is logged and does not fail the hook.
func (s *Server) recordEvent(ctx context.Context, c client.Client, cluster *clusterv1.Cluster, eventType, reason, message string) {
	if err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, eventType, reason, message, s.now()); err != nil {
		s.log.Warn("event not recorded", "cluster", client.ObjectKeyFromObject(cluster).String(), "reason", reason, "error", err.Error())
	}
}

func objectKey(obj client.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// kindName names the kind of a typed object from the scheme: TypeMeta may be empty.
func kindName(obj client.Object) string {
	gvks, _, err := kube.Scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return fmt.Sprintf("%T", obj)
	}
	return gvks[0].Kind
}
