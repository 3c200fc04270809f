package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// servedLabel marks the namespaces that one test's ExtensionConfig selects,
// so that a sync of "every Cluster" sees only that test's Clusters.
const servedLabel = "konnector-hooks.test/served-by"

// syncFixture is one test's ExtensionConfig, the namespaces it selects and a
// router whose Sync serves them.
type syncFixture struct {
	extensionConfig string
	router          http.Handler
}

func newSyncFixture(t testing.TB, opts ...serverOption) *syncFixture {
	t.Helper()
	name := fmt.Sprintf("sync-%d", namespaceCount.Add(1))
	ec := &runtimev1.ExtensionConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: runtimev1.ExtensionConfigSpec{
			ClientConfig:      runtimev1.ClientConfig{URL: "https://konnector-hooks.konnector-hooks.svc.cluster.local"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{servedLabel: name}},
		},
	}
	if err := mgmt.Client.Create(context.Background(), ec); err != nil {
		t.Fatal(err)
	}
	opts = append([]serverOption{withSettings(func(s *settings.Settings) { s.ExtensionConfig = name })}, opts...)
	return &syncFixture{extensionConfig: name, router: newServer(t, opts...)}
}

// servedNamespace creates a namespace that the fixture's ExtensionConfig
// selects, with the default credentials Secret.
func (f *syncFixture) servedNamespace(t testing.TB) string {
	t.Helper()
	ns := newNamespace(t)
	patch := []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, servedLabel, f.extensionConfig))
	if err := mgmt.Client.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	createCredentials(t, ns, defaultSecret)
	return ns
}

// syncAnswer is a decoded Sync answer.
type syncAnswer struct {
	HTTPStatus int
	Status     string                   `json:"status"`
	Message    string                   `json:"message"`
	Counts     SyncCounts               `json:"counts"`
	Clusters   []clusterOutcome         `json:"clusters"`
	Rollout    *konnector.RolloutReport `json:"rollout"`
	Raw        string
}

// outcomeOf returns the listed outcome of a Cluster, "" when not listed.
func (a syncAnswer) outcomeOf(cluster string) clusterOutcome {
	for _, c := range a.Clusters {
		if c.Cluster == cluster {
			return c
		}
	}
	return clusterOutcome{}
}

// trigger is how a sync request is sent.
type trigger int

const (
	// plainPOST is a POST with no body, as curl or a person sends it.
	plainPOST trigger = iota
	// pingBinary is a PingSource's CloudEvent in binary mode: ce-* headers,
	// the data as the body.
	pingBinary
	// pingStructured is a PingSource's CloudEvent in structured mode: the
	// whole event as JSON.
	pingStructured
)

var triggers = map[trigger]string{plainPOST: "plain POST", pingBinary: "PingSource binary mode", pingStructured: "PingSource structured mode"}

// pingSourceEvent are the attributes a PingSource sets on its events.
const (
	pingType   = "dev.knative.sources.ping"
	pingSource = "/apis/v1/namespaces/konnector-hooks/pingsources/konnector-hooks-sync"
	pingData   = `{"trigger":"schedule"}`
)

// syncRequest builds a sync request as the trigger sends it.
func syncRequest(path string, how trigger) *http.Request {
	switch how {
	case pingBinary:
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(pingData))
		r.Header.Set("Ce-Specversion", "1.0")
		r.Header.Set("Ce-Id", "a6b1ff6e-6b51-4a2c-9d5e-2d4c3b1a0f01")
		r.Header.Set("Ce-Type", pingType)
		r.Header.Set("Ce-Source", pingSource)
		r.Header.Set("Ce-Time", "2026-01-01T00:05:00Z")
		r.Header.Set("Content-Type", "application/json")
		return r
	case pingStructured:
		// The sample that README's curl example sends.
		event, err := os.ReadFile(filepath.Join("..", "test", "testdata", "sync.cloudevent.json"))
		if err != nil {
			panic(err)
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(event))
		r.Header.Set("Content-Type", "application/cloudevents+json")
		return r
	}
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Del("Content-Type")
	return r
}

// sync sends a sync request to the fixture's router.
func (f *syncFixture) sync(t testing.TB, path string, how trigger) syncAnswer {
	t.Helper()
	return serveSync(t, f.router, syncRequest(path, how))
}

func serveSync(t testing.TB, h http.Handler, r *http.Request) syncAnswer {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := syncAnswer{HTTPStatus: w.Code, Raw: w.Body.String()}
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("sync answer is not JSON (HTTP %d): %v\n%s", w.Code, err, w.Body)
	}
	for _, secret := range []string{sentinelPassword, rotatedPassword} {
		if strings.Contains(a.Raw, secret) {
			t.Fatalf("sync answer contains a password:\n%s", a.Raw)
		}
	}
	return a
}

const rotatedPassword = "r0tated-Pa55word-91ab"

// resourceSetPassword tells which password the resource-set Secret of a
// Cluster carries to the workload cluster.
func resourceSetPassword(t testing.TB, namespace, cluster string) string {
	t.Helper()
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: namespace, Name: konnector.ObjectName(cluster)}
	if err := mgmt.Client.Get(context.Background(), key, secret); err != nil {
		t.Fatalf("resource-set Secret %s: %v", key, err)
	}
	manifests := secret.Data[konnector.ResourceSetKey]
	for _, p := range []string{sentinelPassword, rotatedPassword} {
		if bytes.Contains(manifests, []byte(base64Std(p))) {
			return p
		}
	}
	t.Fatalf("resource-set Secret %s carries neither known password", key)
	return ""
}

// rotateDefaultSecret gives the default credentials Secret of a namespace
// the rotated password.
func rotateDefaultSecret(t testing.TB, ns string) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := mgmt.Client.Get(context.Background(), key(ns, defaultSecret), secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["password"] = []byte(rotatedPassword)
	if err := mgmt.Client.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
}

// setClusterConfig replaces a Cluster's clusterConfig, as a user editing it.
func setClusterConfig(t testing.TB, namespace, name, clusterConfig string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"topology":{"variables":[{"name":"clusterConfig","value":%s}]}}}`, clusterConfig)
	cluster := &metav1.PartialObjectMetadata{}
	cluster.SetGroupVersionKind(clusterv1.GroupVersion.WithKind("Cluster"))
	cluster.Namespace, cluster.Name = namespace, name
	if err := mgmt.Client.Patch(context.Background(), cluster, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func (a syncAnswer) mustCount(t testing.TB, want SyncCounts) {
	t.Helper()
	if a.Counts != want {
		t.Fatalf("sync counts %+v, want %+v\n%s", a.Counts, want, a.Raw)
	}
}

// The sync report's parts, as konnector words them.
type (
	SyncCounts     = konnector.SyncCounts
	clusterOutcome = konnector.ClusterOutcome
)

const (
	outcomeUpToDate       = konnector.OutcomeUpToDate
	outcomeUninstalling   = konnector.OutcomeUninstalling
	outcomeUninstalled    = konnector.OutcomeUninstalled
	outcomeUninstallStuck = konnector.OutcomeUninstallStuck
	outcomeFailed         = konnector.OutcomeFailed
	outcomeNotReached     = konnector.OutcomeNotReached
)
