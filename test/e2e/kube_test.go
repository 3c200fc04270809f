package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// get reads an object; found is false when it does not exist.
func get(ctx context.Context, apiVersion, kind, namespace, name string) (obj *unstructured.Unstructured, found bool, err error) {
	obj = &unstructured.Unstructured{}
	obj.SetAPIVersion(apiVersion)
	obj.SetKind(kind)
	err = mgmt.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s %s/%s: %w", kind, namespace, name, err)
	}
	return obj, true, nil
}

// mustGet reads an object that must exist.
func mustGet(t *testing.T, apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	obj, found, err := get(t.Context(), apiVersion, kind, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s %s/%s not found", kind, namespace, name)
	}
	return obj
}

func mustCreate(t *testing.T, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		if err := mgmt.client.Create(t.Context(), obj); err != nil {
			t.Fatalf("creating %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

// mergePatch applies a JSON merge patch to an object, or to its status
// subresource.
func mergePatch(t *testing.T, obj *unstructured.Unstructured, status bool, patch map[string]any) {
	t.Helper()
	data, err := json.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	p := client.RawPatch(types.MergePatchType, data)
	if status {
		err = mgmt.client.Status().Patch(t.Context(), obj, p)
	} else {
		err = mgmt.client.Patch(t.Context(), obj, p)
	}
	if err != nil {
		t.Fatalf("patching %s %s/%s with %s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), data, err)
	}
}

// eventually polls check until it reports done, failing the test with the
// last state it reported after the timeout. It fails at once when the CAPI
// or CAAPH manager or a function has exited.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (done bool, state string, err error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for {
		done, s, err := check()
		switch {
		case err != nil:
			state = "error: " + err.Error()
		case done:
			return
		default:
			state = s
		}
		for _, p := range []*process{mgmt.manager, mgmt.caaph} {
			if exited, err := p.exited(); exited {
				t.Fatalf("waiting for %s: the %s exited (%v): see %s", what, p.name, err, p.log)
			}
		}
		for _, f := range functions {
			if err := f.checkAlive(); err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s; last seen: %s", what, timeout, state)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// condition returns the status and message of a v1beta2 condition
// (status.conditions) of an object.
func condition(obj *unstructured.Unstructured, conditionType string) (status, reason, message string, found bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != conditionType {
			continue
		}
		status, _ = m["status"].(string)
		reason, _ = m["reason"].(string)
		message, _ = m["message"].(string)
		return status, reason, message, true
	}
	return "", "", "", false
}

// extensionDiscovered reports whether CAPI's discovery of an ExtensionConfig
// succeeded and is stored: its Discovered condition is True and it lists
// handlers. Both are needed because CAPI's patch helper writes the
// conditions and the rest of the status in two requests, conditions first.
func extensionDiscovered(ctx context.Context, name string) (bool, string, error) {
	ec, found, err := get(ctx, runtimeAPIVersion, "ExtensionConfig", "", name)
	if err != nil || !found {
		return false, "ExtensionConfig not found", err
	}
	status, reason, message, found := condition(ec, "Discovered")
	if !found {
		return false, "no Discovered condition yet", nil
	}
	handlers, _, _ := unstructured.NestedSlice(ec.Object, "status", "handlers")
	return status == "True" && len(handlers) > 0, fmt.Sprintf("Discovered=%s reason %s: %s; %d handlers", status, reason, message, len(handlers)), nil
}

// event is one Event on an object, as recorded.
type event struct {
	Type, Reason, Message string
	Count                 int64
}

func (e event) String() string { return e.Type + " " + e.Reason + ": " + e.Message }

// objectEvents lists the Events on an object.
func objectEvents(t *testing.T, namespace, kind, name string) []event {
	t.Helper()
	list := &corev1.EventList{}
	if err := mgmt.client.List(t.Context(), list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var out []event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, event{Type: e.Type, Reason: e.Reason, Message: e.Message, Count: int64(e.Count)})
		}
	}
	return out
}

// events lists the Events on an object as "<type> <reason>: <message>".
func events(t *testing.T, namespace, kind, name string) []string {
	t.Helper()
	var out []string
	for _, e := range objectEvents(t, namespace, kind, name) {
		out = append(out, e.String())
	}
	return out
}

// onlyEvent returns the one Event of the reason on the Cluster, failing the
// test when there is not exactly one: the hooks record a lasting problem as
// one Event whose count grows.
func (c *testCluster) onlyEvent(t *testing.T, reason string) event {
	t.Helper()
	var found []event
	for _, e := range objectEvents(t, c.namespace, "Cluster", c.cluster) {
		if e.Reason == reason {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s Event on Cluster %s, got %d: %v", reason, c.key(), len(found), found)
	}
	return found[0]
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
