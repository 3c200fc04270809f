package manifests

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

func TestFence_AllowsWhatTheHooksAndTheSyncUninstallWrite(t *testing.T) {
	ctx := t.Context()
	sa := installServiceAccount(t, "deploy")
	ns := newNamespace(t, "fence-allowed-")
	// Deletes of ClusterResourceSets and Secrets are not in the hooks' RBAC
	// yet (the Sync uninstall brings them): grant them here.
	widenRBAC(t, sa, ns)
	c := sa.client(t)
	defaults := defaultSettings(t)

	// A name short enough to be kept whole, and one that is cut and hashed.
	for _, name := range []string{"short", strings.Repeat("long-cluster-name-", 3) + "end"} {
		cluster := managementcluster.NewCluster(ns, name, clusterConfig)
		if err := managementcluster.CreateCluster(ctx, admin, cluster); err != nil {
			t.Fatal(err)
		}
		cfg, err := konnector.ReadConfig(&cluster.Spec.Topology, defaults.DefaultCredentialsSecret)
		if err != nil || cfg == nil {
			t.Fatalf("reading clusterConfig of %s: %v, %v", name, cfg, err)
		}
		creds := konnector.Credentials{Username: []byte("admin"), Password: []byte("not-a-real-password")}
		desired := konnector.DesiredObjects(cluster, cfg, creds, defaults)
		objs := []client.Object{desired.ResourceSetSecret, desired.ClusterResourceSet, desired.HelmChartProxy}
		// Twice: a create, then an update of the existing objects.
		for _, round := range []string{"create", "update"} {
			for _, obj := range objs {
				if err := kube.Apply(ctx, c, obj.DeepCopyObject().(client.Object), konnector.FieldManager); err != nil {
					t.Fatalf("cluster %s, %s: %v", name, round, err)
				}
			}
		}

		hcp := &caaphv1.HelmChartProxy{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(desired.HelmChartProxy), hcp); err != nil {
			t.Fatal(err)
		}
		hcp.Finalizers = []string{caaphv1.HelmChartProxyFinalizer}
		if err := admin.Update(ctx, hcp); err != nil {
			t.Fatal(err)
		}
		release := newReleaseProxy(ns, name, hcp.Name)
		release.Name = hcp.Name[:min(len(hcp.Name), 50)] + "-abcde"
		create(t, release)

		steps := []struct {
			what string
			do   func() error
		}{
			{"mark the release Sync reported on the HelmChartProxy", func() error {
				return kube.Annotate(ctx, c, client.ObjectKeyFromObject(hcp), konnector.ReportedReleaseAnnotation, "deployed/1/1.4.1", konnector.FieldManager)
			}},
			{"release CAAPH's finalizer of the HelmReleaseProxy", func() error {
				changed := release.DeepCopy()
				changed.Finalizers = nil
				return c.Patch(ctx, changed, client.MergeFromWithOptions(release, client.MergeFromWithOptimisticLock{}))
			}},
			{"delete the HelmReleaseProxy", func() error { return c.Delete(ctx, release.DeepCopy()) }},
			{"delete the HelmChartProxy", func() error { return c.Delete(ctx, hcp.DeepCopy()) }},
			{"release CAAPH's finalizer of the HelmChartProxy", func() error {
				current := &caaphv1.HelmChartProxy{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(hcp), current); err != nil {
					return err
				}
				changed := current.DeepCopy()
				changed.Finalizers = nil
				return c.Patch(ctx, changed, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{}))
			}},
			{"delete the ClusterResourceSet (Sync uninstall)", func() error { return c.Delete(ctx, desired.ClusterResourceSet.DeepCopy()) }},
			{"delete the resource-set Secret (Sync uninstall)", func() error { return c.Delete(ctx, desired.ResourceSetSecret.DeepCopy()) }},
		}
		for _, step := range steps {
			if err := step.do(); err != nil {
				t.Fatalf("cluster %s: %s as %s: %v", name, step.what, sa.user, err)
			}
		}
		for _, obj := range append(objs, release) {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)); !apierrors.IsNotFound(err) {
				t.Errorf("cluster %s: %T %s should be gone: %v", name, obj, objectName(obj), err)
			}
		}

		// Events about the Cluster in its namespace, as the hooks record
		// them (core/v1), and through events.k8s.io/v1, which the widened
		// RBAC grants here.
		// A lasting problem is one Event whose count grows: its second record
		// is an update of the Event.
		lasting := konnector.Event{Type: corev1.EventTypeWarning, Reason: "KonnectorAgentNotDeployed", Message: "not deployed", Key: "not deployed", Count: true}
		for range 2 {
			if err := kube.RecordEvent(ctx, c, cluster, konnector.FieldManager, lasting, time.Now()); err != nil {
				t.Fatalf("cluster %s: a core/v1 Event about it: %v", name, err)
			}
		}
		counted := &corev1.Event{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: kube.EventName(cluster, lasting.Reason, lasting.Key)}, counted); err != nil || counted.Count != 2 {
			t.Fatalf("cluster %s: the lasting problem's Event: count %d, %v", name, counted.Count, err)
		}
		event := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: name + "-"},
			EventTime:  metav1.NowMicro(), ReportingController: konnector.FieldManager, ReportingInstance: konnector.FieldManager,
			Action: "Applied", Reason: "KonnectorAgentApplied", Note: "applied", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Namespace: ns, Name: name, UID: cluster.UID},
		}
		if err := c.Create(ctx, event); err != nil {
			t.Fatalf("cluster %s: an events.k8s.io/v1 Event about it: %v", name, err)
		}
	}
}
