package knative

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// knativeService is knative/service.yaml as Knative's webhook sees a create:
// defaulted first, then validated.
func knativeService(t *testing.T) *servingv1.Service {
	t.Helper()
	svc := &servingv1.Service{}
	readStrict(t, "knative/service.yaml", svc)
	return svc
}

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
