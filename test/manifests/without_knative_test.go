package manifests

import (
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// withoutKnative composes the install with deploy/without-knative.
const withoutKnative = "test/manifests/testdata/without-knative"

func TestManifests_WithoutKnativePassesStrictServerSideValidation(t *testing.T) {
	want := slices.DeleteFunc(slices.Clone(defaultInstall), func(o string) bool { return strings.HasPrefix(o, "serving.knative.dev/") })
	want = append(want,
		"cert-manager.io/v1 Issuer konnector-hooks/konnector-hooks-selfsigned",
		"cert-manager.io/v1 Certificate konnector-hooks/konnector-hooks-ca",
		"cert-manager.io/v1 Issuer konnector-hooks/konnector-hooks-ca",
		"cert-manager.io/v1 Certificate konnector-hooks/konnector-hooks-tls",
		"apps/v1 Deployment konnector-hooks/konnector-hooks",
		"v1 Service konnector-hooks/konnector-hooks",
		"policy/v1 PodDisruptionBudget konnector-hooks/konnector-hooks",
	)
	passesStrictValidation(t, withoutKnative, want)
}

// The Deployment runs the function as the Knative Service does, serving TLS
// itself with the Certificate's Secret, and CAPI calls it through the
// Service with that Certificate's CA.
func TestManifests_WithoutKnativeServesTheFunctionAsTheKnativeServiceDoes(t *testing.T) {
	knative := render(t, ".")
	objs := render(t, withoutKnative)
	var deployment appsv1.Deployment
	var service corev1.Service
	var pdb policyv1.PodDisruptionBudget
	var cronJob batchv1.CronJob
	convert(t, find(t, objs, "Deployment", "konnector-hooks"), &deployment)
	convert(t, findAPI(t, objs, "v1", "Service", "konnector-hooks"), &service)
	convert(t, find(t, objs, "PodDisruptionBudget", "konnector-hooks"), &pdb)
	convert(t, find(t, objs, "CronJob", "konnector-hooks-sync"), &cronJob)
	var knativeCronJob batchv1.CronJob
	convert(t, find(t, knative, "CronJob", "konnector-hooks-sync"), &knativeCronJob)
	if !reflect.DeepEqual(cronJob, knativeCronJob) {
		t.Errorf("the component changes the Sync CronJob")
	}

	ksvc := find(t, knative, "Service", "konnector-hooks")
	var ksvcPod corev1.PodSpec
	convert(t, &unstructured.Unstructured{Object: nested[map[string]any](t, ksvc, "spec", "template", "spec")}, &ksvcPod)
	pod := deployment.Spec.Template.Spec
	fn, kfn := pod.Containers[0], ksvcPod.Containers[0]
	if *deployment.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *deployment.Spec.Replicas)
	}
	if pod.ServiceAccountName != ksvcPod.ServiceAccountName || fn.Image != kfn.Image {
		t.Errorf("the Deployment runs %s as %s, the Knative Service %s as %s", fn.Image, pod.ServiceAccountName, kfn.Image, ksvcPod.ServiceAccountName)
	}
	for what, pair := range map[string][2]any{
		"securityContext": {fn.SecurityContext, kfn.SecurityContext},
		"resources":       {fn.Resources, kfn.Resources},
		"envFrom":         {fn.EnvFrom, kfn.EnvFrom},
		"readiness path":  {fn.ReadinessProbe.HTTPGet.Path, kfn.ReadinessProbe.HTTPGet.Path},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("the Deployment's %s %v differs from the Knative Service's %v", what, pair[0], pair[1])
		}
	}
	for _, v := range ksvcPod.Volumes {
		if !slices.ContainsFunc(pod.Volumes, func(w corev1.Volume) bool { return reflect.DeepEqual(v, w) }) {
			t.Errorf("the Deployment lacks the Knative Service's volume %s", v.Name)
		}
	}
	if fn.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("the readiness probe speaks %s to a function that serves TLS", fn.ReadinessProbe.HTTPGet.Scheme)
	}

	// TLS: the files named by the settings are the Certificate's Secret.
	env := map[string]string{}
	for _, e := range fn.Env {
		env[e.Name] = e.Value
	}
	certificate := find(t, objs, "Certificate", "konnector-hooks-tls")
	secretName := nested[string](t, certificate, "spec", "secretName")
	mountedFrom := map[string]string{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			mountedFrom[v.Name] = v.Secret.SecretName
		}
	}
	for _, variable := range []string{"KONNECTOR_TLS_CERT_FILE", "KONNECTOR_TLS_KEY_FILE"} {
		file := env[variable]
		i := slices.IndexFunc(fn.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path.Dir(file) })
		if i < 0 || mountedFrom[fn.VolumeMounts[i].Name] != secretName {
			t.Errorf("%s=%q is not a file of the Secret %s that Certificate %s writes", variable, file, secretName, certificate.GetName())
		}
	}
	if env["PORT"] != "8443" || fn.Ports[0].ContainerPort != 8443 {
		t.Errorf("the function listens on PORT %q, the container port is %d", env["PORT"], fn.Ports[0].ContainerPort)
	}

	// The Service and the PodDisruptionBudget select the function's pods,
	// and not the Sync CronJob's.
	podLabels := labels.Set(deployment.Spec.Template.Labels)
	syncLabels := labels.Set(cronJob.Spec.JobTemplate.Spec.Template.Labels)
	if selector := labels.SelectorFromSet(service.Spec.Selector); !selector.Matches(podLabels) || selector.Matches(syncLabels) {
		t.Errorf("the Service selects %v: want the function's pods %v, not Sync's %v", service.Spec.Selector, podLabels, syncLabels)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, deployment.Spec.Selector.MatchLabels) {
		t.Errorf("the PodDisruptionBudget keeps %v of %v, want 1 of the Deployment's pods", pdb.Spec.MinAvailable, pdb.Spec.Selector)
	}

	// CAPI calls https://<service>.<namespace>.svc:<port>, a name of the
	// Certificate, and trusts the CA of its Secret.
	extensionConfig := find(t, objs, "ExtensionConfig", "konnector-agent")
	ref := nested[map[string]any](t, extensionConfig, "spec", "clientConfig", "service")
	if _, url := nested[map[string]any](t, extensionConfig, "spec", "clientConfig")["url"]; url || ref["name"] != service.Name || ref["namespace"] != service.Namespace {
		t.Errorf("the ExtensionConfig calls %v, want only the Service %s/%s", nested[map[string]any](t, extensionConfig, "spec", "clientConfig"), service.Namespace, service.Name)
	}
	if port, _ := ref["port"].(int64); port != int64(service.Spec.Ports[0].Port) || service.Spec.Ports[0].TargetPort.String() != fn.Ports[0].Name {
		t.Errorf("the ExtensionConfig calls port %v, the Service serves %d on %s", ref["port"], service.Spec.Ports[0].Port, service.Spec.Ports[0].TargetPort.String())
	}
	dnsNames := nested[[]any](t, certificate, "spec", "dnsNames")
	if !slices.Contains(dnsNames, any(service.Name+"."+service.Namespace+".svc")) {
		t.Errorf("the Certificate names %v, not %s.%s.svc, which CAPI calls", dnsNames, service.Name, service.Namespace)
	}
	if ca := extensionConfig.GetAnnotations()["runtime.cluster.x-k8s.io/inject-ca-from-secret"]; ca != certificate.GetNamespace()+"/"+secretName {
		t.Errorf("CAPI trusts the CA of %q, want the Certificate's Secret %s/%s", ca, certificate.GetNamespace(), secretName)
	}
	// A renewal keeps the CA: the serving Certificate is issued by a CA
	// Issuer whose key pair is the CA Certificate's Secret.
	issuer := find(t, objs, "Issuer", nested[string](t, certificate, "spec", "issuerRef", "name"))
	caCertificate := find(t, objs, "Certificate", "konnector-hooks-ca")
	if nested[string](t, issuer, "spec", "ca", "secretName") != nested[string](t, caCertificate, "spec", "secretName") || !nested[bool](t, caCertificate, "spec", "isCA") {
		t.Errorf("the serving Certificate is not issued by the CA of Certificate %s", caCertificate.GetName())
	}
}

// findAPI is find for a kind that two API groups share (Service).
func findAPI(t testing.TB, objs []*unstructured.Unstructured, apiVersion, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var matching []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetAPIVersion() == apiVersion {
			matching = append(matching, o)
		}
	}
	return find(t, matching, kind, name)
}

func convert(t testing.TB, obj *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}
