package knative

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// repoRoot is the product's repository, where the manifests live.
var repoRoot = filepath.Join("..", "..")

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readStrict decodes a manifest into out, refusing unknown fields.
func readStrict(t *testing.T, path string, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(readFile(t, path)), out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readLoose decodes the fields of a file that out names, ignoring others.
func readLoose(t *testing.T, path string, out any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, path)), out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// knativeService is knative/service.yaml, the hooks' Service.
func knativeService(t *testing.T) *servingv1.Service {
	t.Helper()
	svc := &servingv1.Service{}
	readStrict(t, "knative/service.yaml", svc)
	return svc
}

// syncServiceName is Sync's own Knative Service, which the PingSource calls.
const syncServiceName = "konnector-hooks-sync"

// syncService is Sync's own Knative Service, in the PingSource's component.
func syncService(t *testing.T) *servingv1.Service {
	t.Helper()
	svc := &servingv1.Service{}
	readStrict(t, "knative/sync-pingsource/sync-service.yaml", svc)
	return svc
}

// validate is what Knative's webhook does on a create: default, then validate.
func validate(svc *servingv1.Service) *apis.FieldError {
	ctx := apis.WithinCreate(context.Background())
	svc.SetDefaults(ctx)
	return svc.Validate(ctx)
}

func TestService_PassesKnativeDefaultingAndValidation(t *testing.T) {
	svc := knativeService(t)
	if err := validate(svc); err != nil {
		t.Fatalf("Knative Serving rejects knative/service.yaml: %v", err)
	}
	// Defaulting must not have to invent what the hooks rely on.
	spec := svc.Spec.Template.Spec
	if spec.ContainerConcurrency == nil || *spec.ContainerConcurrency != 20 {
		t.Errorf("containerConcurrency %v, want the 20 the manifest sets", spec.ContainerConcurrency)
	}
	if spec.TimeoutSeconds == nil || *spec.TimeoutSeconds != 40 {
		t.Errorf("timeoutSeconds %v, want the 40 the manifest sets", spec.TimeoutSeconds)
	}
}

func TestService_ValidationCatchesWhatKnativeRefuses(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*servingv1.Service)
		field string
	}{
		{"containerConcurrency over 1000", func(s *servingv1.Service) { s.Spec.Template.Spec.ContainerConcurrency = ptr.To[int64](1001) }, "containerConcurrency"},
		{"timeoutSeconds over 600", func(s *servingv1.Service) { s.Spec.Template.Spec.TimeoutSeconds = ptr.To[int64](601) }, "timeoutSeconds"},
		{"a privileged container", func(s *servingv1.Service) {
			s.Spec.Template.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
		}, "privileged"},
		{"no image", func(s *servingv1.Service) { s.Spec.Template.Spec.Containers[0].Image = "" }, "image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := knativeService(t)
			c.edit(svc)
			err := validate(svc)
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Knative's validation accepted %s (error %v): this check would not catch it", c.name, err)
			}
		})
	}
}

func TestSyncService_PassesKnativeDefaultingAndValidation(t *testing.T) {
	svc := syncService(t)
	if err := validate(svc); err != nil {
		t.Fatalf("Knative Serving rejects the Sync Service: %v", err)
	}
	hooks := knativeService(t)
	spec, hooksSpec := svc.Spec.Template.Spec, hooks.Spec.Template.Spec
	c, hc := spec.Containers[0], hooksSpec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if svc.Name != syncServiceName || svc.Namespace != hooks.Namespace || env["FUNCTION_TARGET"] != "Sync" {
		t.Errorf("Service %s/%s serves FUNCTION_TARGET %q, want %s/%s serving Sync", svc.Namespace, svc.Name, env["FUNCTION_TARGET"], hooks.Namespace, syncServiceName)
	}
	if c.Image != hc.Image || spec.ServiceAccountName != hooksSpec.ServiceAccountName {
		t.Errorf("the Sync Service runs %s as %s, the hooks' %s as %s: want the same image and ServiceAccount", c.Image, spec.ServiceAccountName, hc.Image, hooksSpec.ServiceAccountName)
	}
	// A sync ends by KONNECTOR_SYNC_TIMEOUT and then answers: Knative must
	// not cut the call first.
	timeout, err := time.ParseDuration(env["KONNECTOR_SYNC_TIMEOUT"])
	if err != nil || spec.TimeoutSeconds == nil || timeout >= time.Duration(*spec.TimeoutSeconds)*time.Second {
		t.Errorf("KONNECTOR_SYNC_TIMEOUT %q (%v) does not fit in timeoutSeconds %v", env["KONNECTOR_SYNC_TIMEOUT"], err, spec.TimeoutSeconds)
	}
	if got := svc.Spec.Template.Annotations["autoscaling.knative.dev/max-scale"]; got != "1" {
		t.Errorf("max-scale %q: one sync runs per process, so one pod, not two syncs at once", got)
	}
	// The hooks' pods keep their small limits: no sync runs in them.
	if limit := hc.Resources.Limits.Memory(); limit.Cmp(resource.MustParse("128Mi")) > 0 {
		t.Errorf("the hooks' memory limit is %s, want at most 128Mi", limit)
	}
}
