package manifests

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The hooks rely on Sync to catch up, so the default install (the top-level
// kustomization.yaml) holds a Sync trigger: the CronJob, which needs nothing
// but Kubernetes.
func TestManifests_DefaultInstallHoldsTheSyncCronJob(t *testing.T) {
	objs := render(t, ".")
	createNamespaces(t, objs)
	cronJob := find(t, objs, "CronJob", "konnector-hooks-sync")
	if err := apply(t.Context(), withoutKoImages(cronJob), strictDryRun...); err != nil {
		t.Fatalf("the API server rejects the CronJob: %v", err)
	}
	if n, without := len(objs), len(render(t, "deploy"))+len(render(t, "knative")); n != without+1 {
		t.Fatalf("the CronJob component adds %d objects, want only the CronJob", n-without)
	}
}

func TestManifests_SyncCronJobRunsTheOneShotModeAsTheServiceAccount(t *testing.T) {
	objs := render(t, ".")
	var cronJob batchv1.CronJob
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "CronJob", "konnector-hooks-sync").Object, &cronJob); err != nil {
		t.Fatal(err)
	}
	sa := find(t, objs, "ServiceAccount", "konnector-hooks")
	cm := find(t, objs, "ConfigMap", "konnector-hooks-settings")
	ksvc := find(t, objs, "Service", "konnector-hooks")
	pod := cronJob.Spec.JobTemplate.Spec.Template.Spec

	if cronJob.Namespace != sa.GetNamespace() || pod.ServiceAccountName != sa.GetName() {
		t.Errorf("the CronJob runs as %s/%s, want ServiceAccount %s", cronJob.Namespace, pod.ServiceAccountName, objectName(sa))
	}
	if cronJob.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q: a slow sync should not be overlapped by the next one", cronJob.Spec.ConcurrencyPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("the CronJob's pod has %d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	serviceImage := nested[[]any](t, ksvc, "spec", "template", "spec", "containers")[0].(map[string]any)["image"]
	if c.Image != serviceImage {
		t.Errorf("the CronJob runs image %q, the Knative Service %q: both must be the same build", c.Image, serviceImage)
	}
	if !slices.Equal(c.Args, []string{"sync"}) || len(c.Command) != 0 {
		t.Errorf("the CronJob's container runs command %v args %v, want the image's entry point with args [sync]", c.Command, c.Args)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.GetName() {
		t.Errorf("the CronJob's envFrom is %+v, want ConfigMap %s", c.EnvFrom, cm.GetName())
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: a failed sync is left to the next schedule", pod.RestartPolicy)
	}
	var timeout string
	for _, e := range c.Env {
		if e.Name == "KONNECTOR_SYNC_TIMEOUT" {
			timeout = e.Value
		}
	}
	deadline := cronJob.Spec.JobTemplate.Spec.ActiveDeadlineSeconds
	d, err := time.ParseDuration(timeout)
	if err != nil || deadline == nil {
		t.Fatalf("the CronJob should set KONNECTOR_SYNC_TIMEOUT (%q: %v) inside activeDeadlineSeconds (%v)", timeout, err, deadline)
	}
	if d >= time.Duration(*deadline)*time.Second {
		t.Errorf("KONNECTOR_SYNC_TIMEOUT %s does not fit in activeDeadlineSeconds %d: the Job would be killed before it reports", timeout, *deadline)
	}
}

func TestManifests_SyncPingSourceComposesWithTheInstall(t *testing.T) {
	// Knative Eventing is not served by the module proxy here, so no
	// PingSource CRD can be installed: test/knative checks the PingSource
	// with a strict structural test and Knative's own Destination validation.
	objs := render(t, "test/manifests/testdata/with-sync-pingsource")
	ping := find(t, objs, "PingSource", "konnector-hooks-sync")
	for _, o := range objs {
		if o.GetKind() == "CronJob" {
			t.Errorf("the install with the PingSource also holds CronJob %s: one trigger, not both", objectName(o))
		}
	}
	// Sync has its own Knative Service, beside the hooks' one.
	find(t, objs, "Service", "konnector-hooks")
	ksvc := find(t, objs, "Service", "konnector-hooks-sync")
	if ping.GetNamespace() != ksvc.GetNamespace() {
		t.Errorf("the PingSource is in namespace %q, the Knative Service in %q: sink.ref names a Service of its own namespace", ping.GetNamespace(), ksvc.GetNamespace())
	}
	if ref := nested[map[string]any](t, ping, "spec", "sink", "ref"); ref["name"] != ksvc.GetName() || ref["kind"] != ksvc.GetKind() || ref["apiVersion"] != ksvc.GetAPIVersion() {
		t.Errorf("the PingSource sends to %v, want Sync's Knative Service %s", ref, objectName(ksvc))
	}
}

func TestManifests_SyncServicePassesStrictServerSideValidation(t *testing.T) {
	objs := render(t, "test/manifests/testdata/with-sync-pingsource")
	createNamespaces(t, objs)
	ksvc := find(t, objs, "Service", "konnector-hooks-sync")
	if err := apply(t.Context(), withoutKoImages(ksvc), strictDryRun...); err != nil {
		t.Fatalf("the API server rejects Sync's Knative Service: %v", err)
	}
	var c corev1.Container
	spec := nested[map[string]any](t, ksvc, "spec", "template", "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec["containers"].([]any)[0].(map[string]any), &c); err != nil {
		t.Fatal(err)
	}
	sa := find(t, objs, "ServiceAccount", "konnector-hooks")
	cm := find(t, objs, "ConfigMap", "konnector-hooks-settings")
	if spec["serviceAccountName"] != sa.GetName() || len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.GetName() {
		t.Errorf("Sync's Service runs as %v with envFrom %+v, want ServiceAccount %s and ConfigMap %s", spec["serviceAccountName"], c.EnvFrom, sa.GetName(), cm.GetName())
	}
}
