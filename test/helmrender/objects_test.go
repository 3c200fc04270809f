package helmrender

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// find returns the rendered object of that kind and name, or nil.
func (r *release) find(kind, name string) *unstructured.Unstructured {
	for _, u := range r.objects {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

// typed converts a rendered object into a typed one.
func typed[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("reading rendered %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}

func (r *release) deployment(name string) (*appsv1.Deployment, error) {
	u := r.find("Deployment", name)
	if u == nil {
		return nil, fmt.Errorf("no Deployment %s rendered", name)
	}
	return typed[appsv1.Deployment](u)
}

func (r *release) configMap(name string) (*corev1.ConfigMap, error) {
	u := r.find("ConfigMap", name)
	if u == nil {
		return nil, fmt.Errorf("no ConfigMap %s rendered", name)
	}
	return typed[corev1.ConfigMap](u)
}

func (r *release) pod(name string) (*corev1.Pod, error) {
	u := r.find("Pod", name)
	if u == nil {
		return nil, fmt.Errorf("no Pod %s rendered", name)
	}
	return typed[corev1.Pod](u)
}

// flags reads container args of the form --name=value or --name into a map
// from flag to its values (an empty value for a bare flag).
func flags(args []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		out[name] = append(out[name], value)
	}
	return out
}

// mountsSecret reports whether the pod mounts the named Secret into every
// container listed.
func mountsSecret(spec corev1.PodSpec, secret string, containers ...corev1.Container) bool {
	volume := ""
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret {
			volume = v.Name
		}
	}
	if volume == "" {
		return false
	}
	for _, c := range containers {
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.Name == volume
		}
		if !mounted {
			return false
		}
	}
	return true
}
