package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// TestHardening_BadInputIsAnsweredAndWritesNothing sends every kind of bad
// input through AfterControlPlaneInitialized: each gets the answer SPEC §4 and
// §6 promise, writes nothing, and the server keeps serving.
func TestHardening_BadInputIsAnsweredAndWritesNothing(t *testing.T) {
	type input struct {
		name          string
		clusterConfig string // "" means a Cluster without topology variables
		noTopology    bool
		secret        map[string]string
		secretType    corev1.SecretType
		body          func(ns string) []byte // default: the v1beta2 request
		httpStatus    int
		status        string
		says          string
	}
	withEndpoint := func(url string) string {
		return `{"nutanix":{"prismCentralEndpoint":{"url":` + url + `}},"addons":{"konnectorAgent":{}}}`
	}
	bigAnnotation := func(ns string) []byte {
		return []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest","cluster":{"metadata":{"name":"c","namespace":"` + ns +
			`","annotations":{"big":"` + strings.Repeat("a", 10<<20) + `"}}}}`)
	}
	cases := []input{
		// The addon is on only with addons.konnectorAgent: a clusterConfig
		// that cannot hold it leaves the addon off.
		{name: "clusterConfig is a number", clusterConfig: `42`, status: "Success", says: "not enabled"},
		{name: "addons is null, konnectorAgent absent", clusterConfig: `{"addons":null}`, status: "Success", says: "not enabled"},
		{name: "konnectorAgent is an array", clusterConfig: `{"addons":{"konnectorAgent":[{}]}}`, says: "clusterConfig.addons.konnectorAgent: is a JSON array"},
		{name: "credentials is a string", clusterConfig: `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":"x"}}}`, says: "clusterConfig.addons.konnectorAgent.credentials: is a JSON string"},
		{name: "secretRef name is a number", clusterConfig: `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":7}}}}}`, says: "credentials.secretRef.name: is a JSON number"},
		{name: "secret name empty", clusterConfig: `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":""}}}}}`, says: "missing or empty"},
		{name: "secret name of 300 characters", clusterConfig: `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"` + strings.Repeat("s", 300) + `"}}}}}`, says: "not a valid Secret name"},
		{name: "Secret with empty values", clusterConfig: configBasic, secret: map[string]string{"username": "", "password": ""}, says: "has no value for [username password]"},
		{name: "Secret of the wrong type", clusterConfig: configBasic, secret: map[string]string{"tls.crt": "x", "tls.key": "y"}, secretType: corev1.SecretTypeTLS, says: "has type kubernetes.io/tls"},
		{name: "URL with a path", clusterConfig: withEndpoint(`"https://pc.example.com:9440/prism"`), says: "path, query or fragment"},
		{name: "URL with a query", clusterConfig: withEndpoint(`"https://pc.example.com:9440?a=b"`), says: "path, query or fragment"},
		{name: "URL with user info", clusterConfig: withEndpoint(`"https://admin:secret@pc.example.com"`), says: "user information"},
		{name: "URL without host", clusterConfig: withEndpoint(`"https:///x"`), says: "has no host"},
		{name: "URL is null", clusterConfig: withEndpoint(`null`), says: "is required"},
		{name: "IPv6 URL is fine", clusterConfig: withEndpoint(`"https://[fd00::10]:9440"`), status: "Success", says: "applied"},
		{name: "trust bundle not PEM", clusterConfig: `{"nutanix":{"prismCentralEndpoint":{"url":"https://pc.example.com","additionalTrustBundle":"MIIB..."}},"addons":{"konnectorAgent":{}}}`, says: "additionalTrustBundle: is neither base64 nor PEM"},
		{name: "Cluster without topology variables", noTopology: true, status: "Success", says: "not enabled"},
		{name: "10 MiB annotation", clusterConfig: configBasic, body: bigAnnotation, httpStatus: http.StatusRequestEntityTooLarge, says: "larger than"},
		{name: "unknown kind", clusterConfig: configBasic, body: func(ns string) []byte {
			return []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterClusterUpgradeRequest","cluster":{"metadata":{"name":"c","namespace":"` + ns + `"}}}`)
		}, httpStatus: http.StatusBadRequest, says: `kind "AfterControlPlaneInitializedRequest"`},
		{name: "duplicated JSON keys", clusterConfig: configBasic, body: func(ns string) []byte {
			return []byte(`{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"AfterControlPlaneInitializedRequest","cluster":{"metadata":{"name":"other","namespace":"` + ns + `","name":"c"}}}`)
		}, httpStatus: http.StatusBadRequest, says: `duplicate field "cluster.metadata.name"`},
	}
	// Block answers Failure, so that each case's answer shows the problem
	// was caught; TestHooks_InvalidInputAnswersByWhoCanFixIt covers
	// Continue, which answers the same problems Success.
	h := newServer(t, withSettings(func(s *settings.Settings) { s.OnInvalidConfig = settings.OnInvalidConfigBlock }))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := newNamespace(t)
			secret := managementcluster.NewCredentials(ns, defaultSecret, "admin", sentinelPassword)
			if c.secret != nil {
				secret.Data = map[string][]byte{}
				for k, v := range c.secret {
					secret.Data[k] = []byte(v)
				}
				secret.Type = c.secretType
			}
			if err := mgmt.Client.Create(context.Background(), secret); err != nil {
				t.Fatal(err)
			}
			config := c.clusterConfig
			if c.noTopology {
				config = ""
			}
			createCluster(t, ns, "c", config)
			body := request(t, "after-control-plane-initialized.v1beta2.json", ns, "c")
			if c.body != nil {
				body = c.body(ns)
			}
			wantHTTP, wantStatus := c.httpStatus, c.status
			if wantHTTP == 0 {
				wantHTTP = http.StatusOK
			}
			if wantStatus == "" {
				wantStatus = "Failure"
			}
			a := call(t, h, pathACPI, body)
			if a.HTTPStatus != wantHTTP || a.Status != wantStatus || !strings.Contains(a.Message, c.says) {
				t.Fatalf("got HTTP %d %s\nwant HTTP %d %s saying %q", a.HTTPStatus, a.Raw, wantHTTP, wantStatus, c.says)
			}
			if wantStatus == "Failure" || !strings.Contains(a.Message, "applied") {
				if n := countObjects(objectsIn(t, ns)); n != 0 {
					t.Fatalf("%d objects written", n)
				}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if w.Code != http.StatusOK {
				t.Fatalf("the server stopped serving: /healthz HTTP %d", w.Code)
			}
		})
	}
}

// The request body only points at a Cluster: variables, control plane state
// and namespace in the body are never trusted.
func TestHardening_ForgedRequestBodiesDoNotOverrideTheServer(t *testing.T) {
	h := newServer(t)
	ns, _ := newAddonCluster(t)

	// The body carries other variables (another Secret, another endpoint);
	// the server's win.
	var req map[string]any
	if err := json.Unmarshal(request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"), &req); err != nil {
		t.Fatal(err)
	}
	cluster := req["cluster"].(map[string]any)
	cluster["spec"].(map[string]any)["topology"].(map[string]any)["variables"] = []any{map[string]any{"name": "clusterConfig", "value": map[string]any{
		"nutanix": map[string]any{"prismCentralEndpoint": map[string]any{"url": "https://attacker.example.com"}},
		"addons":  map[string]any{"konnectorAgent": map[string]any{"credentials": map[string]any{"secretRef": map[string]any{"name": "stolen"}}}},
	}}}
	forged, _ := json.Marshal(req)
	if a := call(t, h, pathACPI, forged); a.Status != "Success" {
		t.Fatal(a.Raw)
	}
	d := readDeployed(t, ns, "c")
	if strings.Contains(d.hcp.Spec.ValuesTemplate, "attacker") || !strings.Contains(d.hcp.Spec.ValuesTemplate, "prism-central.example.com") {
		t.Fatalf("values follow the request body, not the server:\n%s", d.hcp.Spec.ValuesTemplate)
	}

	// A body naming a Cluster in a namespace where it does not exist writes
	// nothing there.
	other := newNamespace(t)
	if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", other, "c")); a.Status != "Failure" || !strings.Contains(a.Message, "not found") {
		t.Fatal(a.Raw)
	}
	if n := countObjects(objectsIn(t, other)); n != 0 {
		t.Fatalf("%d objects written in the other namespace", n)
	}
}

// Replays of old requests after a cluster is gone change nothing.
func TestHardening_ReplaysAfterDeletionChangeNothing(t *testing.T) {
	ctx := context.Background()
	h := newServer(t)
	ns, cluster := newAddonCluster(t, withFinalizer)
	acpi := request(t, "after-control-plane-initialized.v1beta1.json", ns, "c")
	bcd := request(t, "before-cluster-delete.v1beta1.json", ns, "c")
	call(t, h, pathACPI, acpi)
	if err := mgmt.Client.Delete(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	expectAnswer(t, call(t, h, pathBCD, bcd), 5, "started")
	expectAnswer(t, call(t, h, pathBCD, bcd), 0, "removed")
	dropFinalizers(t, cluster)
	// The Cluster is gone; its objects would be garbage-collected (envtest
	// has no collector, so the test removes them as it would).
	for _, obj := range objectsIn(t, ns) {
		for _, o := range obj {
			if err := mgmt.Client.Delete(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}

	if a := call(t, h, pathACPI, acpi); a.Status != "Failure" || !strings.Contains(a.Message, "not found") {
		t.Fatalf("replayed AfterControlPlaneInitialized: %s", a.Raw)
	}
	expectAnswer(t, call(t, h, pathBCD, bcd), 0, "not found")
	if a := call(t, h, pathBCU, request(t, "before-cluster-upgrade.v1beta2.json", ns, "c")); a.Status != "Failure" {
		t.Fatalf("replayed BeforeClusterUpgrade: %s", a.Raw)
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("replays wrote %d objects", n)
	}
}

// Interleaved hooks for one live cluster, with forged deletes among them,
// end in exactly the desired state.
func TestHardening_InterleavedHooksForOneClusterConverge(t *testing.T) {
	h := newServer(t)
	ns, _ := newAddonCluster(t)
	bodies := map[string][]byte{
		pathACPI: request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"),
		pathBCU:  request(t, "before-cluster-upgrade.v1beta1.json", ns, "c"),
		pathBCD:  request(t, "before-cluster-delete.v1beta2.json", ns, "c"),
	}
	paths := []string{pathACPI, pathBCU, pathBCD}
	var wg sync.WaitGroup
	answers := make([]hookAnswer, 30)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = call(t, h, paths[i%3], bodies[paths[i%3]])
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != "Success" {
			t.Errorf("call %d (%s): %s", i, paths[i%3], a.Raw)
		}
	}
	d := readDeployed(t, ns, "c")
	if d.hcp.DeletionTimestamp != nil {
		t.Fatal("a forged BeforeClusterDelete started an uninstall on a live cluster")
	}
	for kind, items := range objectsIn(t, ns) {
		if len(items) != 1 {
			t.Errorf("%d %s, want 1", len(items), kind)
		}
	}
	if a := call(t, h, pathACPI, bodies[pathACPI]); !strings.Contains(a.Message, "up to date") {
		t.Fatalf("state after the interleaving is not the desired one: %s", a.Raw)
	}
}
