package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// deployed reads the three objects the deploy path writes for a cluster.
type deployed struct {
	hcp    caaphv1.HelmChartProxy
	crs    addonsv1.ClusterResourceSet
	secret corev1.Secret
}

func readDeployed(t testing.TB, namespace, cluster string) deployed {
	t.Helper()
	var d deployed
	key := types.NamespacedName{Namespace: namespace, Name: "konnector-agent-" + cluster}
	for _, obj := range []client.Object{&d.hcp, &d.crs, &d.secret} {
		if err := mgmt.Client.Get(context.Background(), key, obj); err != nil {
			t.Fatalf("reading %T %s: %v", obj, key, err)
		}
	}
	return d
}

func (d deployed) objects() []client.Object { return []client.Object{&d.hcp, &d.crs, &d.secret} }

func (d deployed) resourceVersions() []string {
	var rvs []string
	for _, obj := range d.objects() {
		rvs = append(rvs, obj.GetResourceVersion())
	}
	return rvs
}

func TestAfterControlPlaneInitialized_DeploysTheSeedExamples(t *testing.T) {
	examples := []struct{ cluster, clusterConfig string }{
		{"my-cluster", configBasic},
		{"custom-credentials-cluster", configCustom},
		{"minimal-cluster", configBasic},
	}
	h := newServer(t)
	for _, version := range payloadVersions {
		for _, ex := range examples {
			t.Run(version+"/"+ex.cluster, func(t *testing.T) {
				ns := newNamespace(t)
				createCredentials(t, ns, defaultSecret)
				cluster := createCluster(t, ns, ex.cluster, ex.clusterConfig)

				a := call(t, h, pathACPI, request(t, "after-control-plane-initialized."+version+".json", ns, ex.cluster))
				if a.HTTPStatus != http.StatusOK || a.Status != "Success" || a.Kind != "AfterControlPlaneInitializedResponse" {
					t.Fatalf("answer: %s", a.Raw)
				}
				if !strings.Contains(a.Message, "HelmChartProxy "+ns+"/konnector-agent-"+ex.cluster) {
					t.Fatalf("message does not name the HelmChartProxy: %s", a.Message)
				}
				if a.RetryAfterSeconds != nil {
					t.Fatalf("AfterControlPlaneInitialized answers carry no retryAfterSeconds: %s", a.Raw)
				}

				d := readDeployed(t, ns, ex.cluster)
				for _, obj := range d.objects() {
					refs := obj.GetOwnerReferences()
					if len(refs) != 1 || refs[0].UID != cluster.UID || refs[0].Kind != "Cluster" {
						t.Errorf("%T owner references %+v, want the Cluster %s", obj, refs, cluster.UID)
					}
					if obj.GetLabels()["app.kubernetes.io/managed-by"] != "konnector-hooks" || obj.GetLabels()["cluster.x-k8s.io/cluster-name"] != ex.cluster {
						t.Errorf("%T labels %v", obj, obj.GetLabels())
					}
					managers := map[string]metav1.ManagedFieldsOperationType{}
					for _, mf := range obj.GetManagedFields() {
						managers[mf.Manager] = mf.Operation
					}
					if managers["konnector-hooks"] != metav1.ManagedFieldsOperationApply {
						t.Errorf("%T is not server-side applied by konnector-hooks: %v", obj, managers)
					}
				}
				if d.hcp.Spec.Version != "1.3.0-rc.0" || d.hcp.Spec.ChartName != "konnector-agent" || !strings.Contains(d.hcp.Spec.ValuesTemplate, "k8sClusterName: "+ex.cluster+"\n") {
					t.Errorf("HelmChartProxy spec %+v", d.hcp.Spec)
				}
				if d.crs.Spec.Strategy != "Reconcile" || d.crs.Spec.Resources[0].Name != d.secret.Name {
					t.Errorf("ClusterResourceSet spec %+v", d.crs.Spec)
				}
				if d.secret.Type != addonsv1.ClusterResourceSetSecretType || !strings.Contains(string(d.secret.Data["konnector-agent.yaml"]), `"name":"konnector-agent"`) {
					t.Errorf("resource-set Secret %s: %s", d.secret.Type, d.secret.Data["konnector-agent.yaml"])
				}
				if reasons := eventsFor(t, ns, ex.cluster); !slices.Equal(reasons, []string{"KonnectorAgentApplied"}) {
					t.Errorf("events %v, want one KonnectorAgentApplied", reasons)
				}
				// The seed's examples give no trust bundle: installed insecure, and said so.
				if !strings.Contains(a.Message, "warning: "+konnector.InsecureFallbackWarning) || !strings.Contains(a.Message, `registering the cluster in Prism Central prism-central.example.com as "`+ex.cluster+`"`) {
					t.Errorf("answer does not say the registered name and the insecure fallback: %s", a.Message)
				}
				if types := eventTypes(t, ns, ex.cluster); !slices.Equal(types, []string{corev1.EventTypeWarning}) {
					t.Errorf("event types %v, want one Warning for the insecure fallback", types)
				}
			})
		}
	}
}

func TestAfterControlPlaneInitialized_AddonAbsentWritesNothing(t *testing.T) {
	h := newServer(t)
	for _, clusterConfig := range []string{"", configNoAddon, `{"addons":{"konnectorAgent":null}}`} {
		ns := newNamespace(t)
		createCluster(t, ns, "c", clusterConfig)
		a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "c"))
		if a.Status != "Success" || !strings.Contains(a.Message, "not enabled") {
			t.Fatalf("clusterConfig %q: %s", clusterConfig, a.Raw)
		}
		if n := countObjects(objectsIn(t, ns)); n != 0 || len(eventsFor(t, ns, "c")) != 0 {
			t.Fatalf("clusterConfig %q: %d objects and events %v written", clusterConfig, n, eventsFor(t, ns, "c"))
		}
	}
}

// The request's Cluster says the control plane is initialized; the server's
// Cluster says it is not, and the server wins.
func TestAfterControlPlaneInitialized_ControlPlaneNotInitializedIsFailure(t *testing.T) {
	ns, _ := newAddonCluster(t, notInitialized)
	a := call(t, newServer(t), pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if a.HTTPStatus != http.StatusOK || a.Status != "Failure" || !strings.Contains(a.Message, "not initialized") || !strings.Contains(a.Message, "Cluster "+ns+"/c") {
		t.Fatalf("answer: %s", a.Raw)
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d objects written", n)
	}
}

func TestAfterControlPlaneInitialized_DeletingClusterWritesNothing(t *testing.T) {
	ns, cluster := newAddonCluster(t, withFinalizer)
	if err := mgmt.Client.Delete(context.Background(), cluster); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{pathACPI, pathBCU} {
		a := call(t, newServer(t), path, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
		if path == pathBCU {
			a = call(t, newServer(t), path, request(t, "before-cluster-upgrade.v1beta2.json", ns, "c"))
		}
		if a.Status != "Success" || !strings.Contains(a.Message, "being deleted") {
			t.Fatalf("%s: %s", path, a.Raw)
		}
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d objects written for a deleting cluster", n)
	}
}

func TestAfterControlPlaneInitialized_ClusterNotFoundIsFailure(t *testing.T) {
	ns := newNamespace(t)
	for _, path := range []string{pathACPI, pathBCU} {
		file := map[string]string{pathACPI: "after-control-plane-initialized.v1beta1.json", pathBCU: "before-cluster-upgrade.v1beta1.json"}[path]
		a := call(t, newServer(t), path, request(t, file, ns, "ghost"))
		if a.Status != "Failure" || !strings.Contains(a.Message, "Cluster "+ns+"/ghost") || !strings.Contains(a.Message, "not found") {
			t.Fatalf("%s: %s", path, a.Raw)
		}
	}
}

func TestHooks_InvalidInputAnswersByWhoCanFixIt(t *testing.T) {
	withAgent := func(agent string) string { return `{` + pcEndpoint + `,"addons":{"konnectorAgent":` + agent + `}}` }
	cases := []struct {
		name          string
		clusterConfig string
		secret        *corev1.Secret
		says          []string
	}{
		{"unknown strategy", withAgent(`{"strategy":"Manual"}`), nil, []string{"clusterConfig.addons.konnectorAgent.strategy", "HelmAddon"}},
		{"empty secret name", withAgent(`{"credentials":{"secretRef":{"name":""}}}`), nil, []string{"credentials.secretRef.name", "missing or empty"}},
		{"missing Secret", withAgent(`{"credentials":{"secretRef":{"name":"my-pc-credentials"}}}`), nil,
			[]string{"Secret %s/my-pc-credentials", "not found", "create it with keys username and password, or set clusterConfig.addons.konnectorAgent.credentials.secretRef.name"}},
		{"Secret without password", configBasic, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: defaultSecret}, Data: map[string][]byte{"username": []byte("admin")}},
			[]string{"Secret %s/" + defaultSecret, "password"}},
		{"Secret of the wrong type", configBasic, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: defaultSecret}, Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{".dockercfg": []byte("{}")}}, []string{"Secret %s/" + defaultSecret, "kubernetes.io/dockercfg"}},
		{"no Prism Central URL", `{"addons":{"konnectorAgent":{}}}`, nil, []string{"clusterConfig.nutanix.prismCentralEndpoint.url", "is required"}},
		{"http Prism Central URL", `{"nutanix":{"prismCentralEndpoint":{"url":"http://pc.example.com"}},"addons":{"konnectorAgent":{}}}`, nil,
			[]string{"clusterConfig.nutanix.prismCentralEndpoint.url", "https"}},
		{"addon is a list", `{"addons":{"konnectorAgent":[]}}`, nil, []string{"clusterConfig.addons.konnectorAgent", "object"}},
		{"categories not a list", `{` + pcEndpoint + `,"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":"AppType=Kubernetes"}}},"addons":{"konnectorAgent":{}}}`, nil,
			[]string{"clusterConfig.controlPlane.nutanix.machineDetails.additionalCategories", "list"}},
	}
	for _, mode := range []string{settings.OnInvalidConfigContinue, settings.OnInvalidConfigBlock} {
		h := newServer(t, withSettings(func(s *settings.Settings) { s.OnInvalidConfig = mode }))
		for _, version := range payloadVersions {
			for _, c := range cases {
				t.Run(mode+"/"+version+"/"+c.name, func(t *testing.T) {
					ns := newNamespace(t)
					if c.secret != nil {
						c.secret.Namespace = ns
						if err := mgmt.Client.Create(context.Background(), c.secret.DeepCopy()); err != nil {
							t.Fatal(err)
						}
					}
					createCluster(t, ns, "c", c.clusterConfig)
					for _, hook := range []struct{ path, file string }{
						{pathACPI, "after-control-plane-initialized." + version + ".json"},
						{pathBCU, "before-cluster-upgrade." + version + ".json"},
					} {
						a := call(t, h, hook.path, request(t, hook.file, ns, "c"))
						want := map[string]string{settings.OnInvalidConfigContinue: "Success", settings.OnInvalidConfigBlock: "Failure"}[mode]
						if a.HTTPStatus != http.StatusOK || a.Status != want || !strings.Contains(a.Message, "the Konnector Agent is not deployed on Cluster "+ns+"/c") {
							t.Fatalf("%s answer, want %s: %s", hook.path, want, a.Raw)
						}
						if hook.path == pathBCU && (a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != 0) {
							t.Fatalf("BeforeClusterUpgrade must never ask CAPI to wait: %s", a.Raw)
						}
						for _, s := range c.says {
							if s = strings.ReplaceAll(s, "%s", ns); !strings.Contains(a.Message, s) {
								t.Errorf("message %q does not say %q", a.Message, s)
							}
						}
						if n := countObjects(objectsIn(t, ns)); n != 0 {
							t.Fatalf("%d objects written", n)
						}
					}
					// One Warning Event with the answer's words, counted
					// twice: both hooks met the same problem.
					events := clusterEvents(t, ns, "c")
					if len(events) != 1 || events[0].Type != corev1.EventTypeWarning || events[0].Reason != "KonnectorAgentNotDeployed" || events[0].Count != 2 ||
						!strings.Contains(events[0].Message, "not deployed") {
						t.Fatalf("events: %+v", events)
					}
				})
			}
		}
	}
}

// What passes without a person (the Cluster not created yet, its control
// plane not initialized) is a Failure under Continue too, so that CAPI calls
// again; it records no Event.
func TestHooks_TransientProblemsAreFailureInBothModes(t *testing.T) {
	for _, mode := range []string{settings.OnInvalidConfigContinue, settings.OnInvalidConfigBlock} {
		h := newServer(t, withSettings(func(s *settings.Settings) { s.OnInvalidConfig = mode }))
		ns, _ := newAddonCluster(t, notInitialized)
		if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c")); a.Status != "Failure" || !strings.Contains(a.Message, "not initialized") {
			t.Fatalf("%s, control plane not initialized: %s", mode, a.Raw)
		}
		if a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "ghost")); a.Status != "Failure" || !strings.Contains(a.Message, "not found") {
			t.Fatalf("%s, Cluster not found: %s", mode, a.Raw)
		}
		if events := eventsFor(t, ns, "c"); len(events) != 0 {
			t.Fatalf("%s: events %v", mode, events)
		}
	}
}

// Whether the addon is on is decided from addons.konnectorAgent alone: a
// malformed field it would read fails only Clusters with the addon on.
func TestHooks_AddonOffIgnoresMalformedFieldsItWouldRead(t *testing.T) {
	h := newServer(t, withSettings(func(s *settings.Settings) { s.OnInvalidConfig = settings.OnInvalidConfigBlock }))
	for _, clusterConfig := range []string{
		`{"controlPlane":{"nutanix":{"machineDetails":{"additionalCategories":"AppType=Kubernetes"}}}}`,
		`{"nutanix":{"prismCentralEndpoint":"pc.example.com"},"addons":{}}`,
		`{"nutanix":[],"addons":{"konnectorAgent":null}}`,
		`{"addons":"none"}`,
	} {
		ns := newNamespace(t)
		createCluster(t, ns, "c", clusterConfig)
		a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
		if a.Status != "Success" || !strings.Contains(a.Message, "not enabled") {
			t.Fatalf("clusterConfig %s: %s", clusterConfig, a.Raw)
		}
	}
}

// Under KONNECTOR_UNINSTALL_ALL (the removal of konnector-hooks) the hooks
// deploy nothing, and say why: Sync uninstalls the agents.
func TestHooks_UninstallAllDeploysNothing(t *testing.T) {
	h := newServer(t, withSettings(func(s *settings.Settings) { s.UninstallAll = true }))
	ns, _ := newAddonCluster(t)
	for path, body := range map[string]string{pathACPI: "after-control-plane-initialized.v1beta2.json", pathBCU: "before-cluster-upgrade.v1beta2.json"} {
		a := call(t, h, path, request(t, body, ns, "c"))
		if a.Status != "Success" || !strings.Contains(a.Message, "KONNECTOR_UNINSTALL_ALL") {
			t.Fatalf("%s: %s", path, a.Raw)
		}
	}
	var proxies caaphv1.HelmChartProxyList
	if err := mgmt.Client.List(t.Context(), &proxies, client.InNamespace(ns)); err != nil || len(proxies.Items) != 0 {
		t.Fatalf("HelmChartProxies written under KONNECTOR_UNINSTALL_ALL: %d, %v", len(proxies.Items), err)
	}
	if events := eventsFor(t, ns, "c"); len(events) != 0 {
		t.Fatalf("events %v", events)
	}
}

func TestAfterControlPlaneInitialized_SecondCallChangesNothing(t *testing.T) {
	counter := &requestCounter{}
	h := newServer(t, withCounter(counter))
	ns, _ := newAddonCluster(t)

	first := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	firstRequests := counter.take()
	before := readDeployed(t, ns, "c").resourceVersions()
	second := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta1.json", ns, "c"))
	secondRequests := counter.take()
	after := readDeployed(t, ns, "c").resourceVersions()

	if first.Status != "Success" || second.Status != "Success" || !strings.Contains(second.Message, "up to date") {
		t.Fatalf("answers:\n%s\n%s", first.Raw, second.Raw)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("resourceVersions changed by a repeated call: %v -> %v", before, after)
	}
	if reasons := eventsFor(t, ns, "c"); len(reasons) != 1 {
		t.Fatalf("events %v: a no-op call recorded an event", reasons)
	}
	t.Logf("API requests, new cluster (%d): %v", len(firstRequests), verbs(firstRequests))
	t.Logf("API requests, repeated call (%d): %v", len(secondRequests), verbs(secondRequests))
	for _, r := range append(firstRequests, secondRequests...) {
		if strings.HasSuffix(r, " /api") || strings.HasSuffix(r, " /apis") || strings.Contains(r, "/openapi") {
			t.Fatalf("discovery request %q", r)
		}
	}
	// New cluster: 5 reads in parallel (Cluster, the three objects, the
	// credentials Secret), the LIST of a previous uninstall's release
	// proxies (the HelmChartProxy is absent), 3 applies, then 1 event.
	// Repeated call: the 5 reads.
	if len(firstRequests) != 10 || len(secondRequests) != 5 {
		t.Fatalf("requests: new cluster %d (want 10), repeated call %d (want 5)", len(firstRequests), len(secondRequests))
	}
}

func verbs(requests []string) map[string]int {
	out := map[string]int{}
	for _, r := range requests {
		out[strings.SplitN(r, " ", 2)[0]]++
	}
	return out
}

func TestAfterControlPlaneInitialized_ConcurrentCallsRecordTheChangeOnce(t *testing.T) {
	h := newServer(t)
	ns, _ := newAddonCluster(t)
	var wg sync.WaitGroup
	answers := make([]hookAnswer, 20)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file := []string{"after-control-plane-initialized.v1beta1.json", "after-control-plane-initialized.v1beta2.json"}[i%2]
			answers[i] = call(t, h, pathACPI, request(t, file, ns, "c"))
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != "Success" {
			t.Errorf("call %d: %s", i, a.Raw)
		}
	}
	// What a race can break: the change told more than once, or a write
	// lost (the objects not holding the desired state).
	events := clusterEvents(t, ns, "c")
	if len(events) != 1 || events[0].Reason != "KonnectorAgentApplied" || events[0].Count != 1 {
		t.Fatalf("20 concurrent calls for one change recorded %d Events, want one KonnectorAgentApplied: %+v", len(events), events)
	}
	if got := resourceSetPassword(t, ns, "c"); got != sentinelPassword {
		t.Fatalf("resource-set Secret password after the race: %q", got)
	}
	if a := call(t, h, pathBCU, request(t, "before-cluster-upgrade.v1beta2.json", ns, "c")); !strings.Contains(a.Message, "up to date") {
		t.Fatalf("after the race the objects are not up to date: %s", a.Raw)
	}
}

func TestAfterControlPlaneInitialized_RestoresHandEditedObjects(t *testing.T) {
	ctx := context.Background()
	h := newServer(t)
	ns, _ := newAddonCluster(t)
	call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	want := readDeployed(t, ns, "c")

	edited := want.hcp.DeepCopy()
	edited.Spec.Version = "0.0.1"
	edited.Spec.ValuesTemplate = "hand: edited\n"
	if err := mgmt.Client.Update(ctx, edited); err != nil {
		t.Fatal(err)
	}
	if err := mgmt.Client.Delete(ctx, want.crs.DeepCopy()); err != nil {
		t.Fatal(err)
	}

	a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if a.Status != "Success" || !strings.Contains(a.Message, "wrote ClusterResourceSet "+ns+"/konnector-agent-c, HelmChartProxy "+ns+"/konnector-agent-c)") {
		t.Fatalf("answer: %s", a.Raw)
	}
	got := readDeployed(t, ns, "c")
	if got.hcp.Spec.Version != want.hcp.Spec.Version || got.hcp.Spec.ValuesTemplate != want.hcp.Spec.ValuesTemplate {
		t.Fatalf("HelmChartProxy not restored: %+v", got.hcp.Spec)
	}
}

func TestAfterControlPlaneInitialized_LeavesForeignObjectsAlone(t *testing.T) {
	ns, _ := newAddonCluster(t)
	foreign := &caaphv1.HelmChartProxy{
		ObjectMeta: metav1.ObjectMeta{Name: "konnector-agent-c", Namespace: ns},
		Spec:       caaphv1.HelmChartProxySpec{ChartName: "other", RepoURL: "https://other.example.com", ClusterSelector: metav1.LabelSelector{}},
	}
	if err := mgmt.Client.Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	a := call(t, newServer(t), pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c"))
	if a.Status != "Success" || !strings.Contains(a.Message, "not deployed") || !strings.Contains(a.Message, "HelmChartProxy "+ns+"/konnector-agent-c: already exists and is not managed by konnector-hooks") {
		t.Fatalf("answer: %s", a.Raw)
	}
	if reasons := eventsFor(t, ns, "c"); !slices.Equal(reasons, []string{konnector.ReasonNotDeployed}) {
		t.Fatalf("events %v, want one %s", reasons, konnector.ReasonNotDeployed)
	}
	var got caaphv1.HelmChartProxy
	if err := mgmt.Client.Get(context.Background(), client.ObjectKeyFromObject(foreign), &got); err != nil || got.Spec.ChartName != "other" {
		t.Fatalf("foreign HelmChartProxy changed: %+v %v", got.Spec, err)
	}
}

func TestBeforeClusterUpgrade_AppliesChangedSettingsAndCredentials(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	creds := createCredentials(t, ns, defaultSecret)
	createCluster(t, ns, "c", configBasic)
	if a := call(t, newServer(t), pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "c")); a.Status != "Success" {
		t.Fatal(a.Raw)
	}

	creds.Data["password"] = []byte(sentinelPassword + "-rotated")
	if err := mgmt.Client.Update(ctx, creds); err != nil {
		t.Fatal(err)
	}
	upgraded := newServer(t, withSettings(func(s *settings.Settings) {
		s.ChartVersion = "1.4.0"
		s.ChartRepository = "oci://registry.example.com/charts"
	}))
	for _, version := range payloadVersions {
		a := call(t, upgraded, pathBCU, request(t, "before-cluster-upgrade."+version+".json", ns, "c"))
		if a.HTTPStatus != http.StatusOK || a.Status != "Success" || a.RetryAfterSeconds == nil || *a.RetryAfterSeconds != 0 || a.Kind != "BeforeClusterUpgradeResponse" {
			t.Fatalf("%s answer: %s", version, a.Raw)
		}
	}
	d := readDeployed(t, ns, "c")
	if d.hcp.Spec.Version != "1.4.0" || d.hcp.Spec.RepoURL != "oci://registry.example.com/charts" {
		t.Fatalf("HelmChartProxy after upgrade: %+v", d.hcp.Spec)
	}
	if !strings.Contains(string(d.secret.Data["konnector-agent.yaml"]), encodedPassword(sentinelPassword+"-rotated")) {
		t.Fatalf("rotated credentials not delivered")
	}
	if reasons := eventsFor(t, ns, "c"); !slices.Equal(reasons, []string{"KonnectorAgentApplied", "KonnectorAgentApplied"}) {
		t.Fatalf("events %v: want one per change", reasons)
	}
}

func TestRender_ShowsTheObjectsRedactedAndWritesNothing(t *testing.T) {
	counter := &requestCounter{}
	var srv *Server
	newServer(t, withCounter(counter), captured(&srv))
	ns, _ := newAddonCluster(t)

	out, err := srv.addon.Render(t.Context(), ns+"/c")
	body := string(out)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	for _, want := range []string{"kind: HelmChartProxy", "kind: ClusterResourceSet", "kind: Secret", "name: konnector-agent-c", encodedPassword("REDACTED"), "k8sClusterName: c\n", `# Registered in Prism Central as "c"`, "# warning: " + konnector.InsecureFallbackWarning} {
		if !strings.Contains(body, want) {
			t.Errorf("render lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, sentinelPassword) || strings.Contains(body, encodedPassword(sentinelPassword)) {
		t.Fatalf("render shows the password")
	}
	for _, r := range counter.take() {
		if !strings.HasPrefix(r, "GET ") {
			t.Fatalf("render made a write request: %s", r)
		}
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("render wrote %d objects", n)
	}

	var input *konnector.InputError
	if _, err := srv.addon.Render(t.Context(), ns+"/ghost"); !errors.As(err, &input) || !input.NotFound {
		t.Errorf("render of a missing Cluster: %v, want a not-found input error", err)
	}
	if _, err := srv.addon.Render(t.Context(), ns); err == nil || !strings.Contains(err.Error(), "<namespace>/<cluster>") {
		t.Errorf("render of %q: %v, want an error that asks for <namespace>/<cluster>", ns, err)
	}
}

// encodedPassword is how a password appears in the resource-set manifests.
func encodedPassword(p string) string {
	return fmt.Sprintf(`"password":%q`, base64Std(p)) // the manifests are JSON, as CAPI reads them
}

// configNutanix is the clusterConfig of a cluster built from Nutanix's
// ClusterClasses (facts: the real clusterConfig), with a base64 trust bundle.
const configNutanix = `{"nutanix":{"prismCentralEndpoint":{"url":"https://pc.example.com:9440","insecure":false,
  "additionalTrustBundle":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJzekNDQVZtZ0F3SUJBZ0lVUTJ4bFlXND0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
  "credentials":{"secretRef":{"name":"c-pc-creds"}}}},
 "controlPlane":{"nutanix":{"machineDetails":{"vcpus":4,"additionalCategories":[{"key":"AppType","value":"Kubernetes"}]}}},
 "addons":{"cni":{"provider":"Cilium"},"konnectorAgent":{"enableKubeconfigUpload":true}}}`

func TestAfterControlPlaneInitialized_TheClusterConfigNutanixClustersCarry(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	createCredentials(t, ns, defaultSecret)
	createCluster(t, ns, "nutanix-cluster", configNutanix, func(c *clusterv1.Cluster) {
		c.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: "cp.example.com", Port: 6443}
		c.Spec.Topology.Variables = append(c.Spec.Topology.Variables, clusterv1.ClusterVariable{Name: "workerConfig",
			Value: apiextensionsv1.JSON{Raw: []byte(`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"Team","value":"blue"},{"key":"AppType","value":"Kubernetes"}]}}}`)}})
		c.Spec.Topology.Workers.MachineDeployments = []clusterv1.MachineDeploymentTopology{{Name: "md-0", Class: "worker",
			Variables: clusterv1.MachineDeploymentVariables{Overrides: []clusterv1.ClusterVariable{{Name: "workerConfig",
				Value: apiextensionsv1.JSON{Raw: []byte(`{"nutanix":{"machineDetails":{"additionalCategories":[{"key":"Zone","value":"a"}]}}}`)}}}}}}
	})
	a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, "nutanix-cluster"))
	if a.Status != "Success" || strings.Contains(a.Message, "warning") {
		t.Fatalf("answer: %s", a.Raw)
	}
	values := readDeployed(t, ns, "nutanix-cluster").hcp.Spec.ValuesTemplate
	for _, want := range []string{
		"insecure: false\n", "additionalTrustBundle: LS0tLS1CRUdJTi", "categoryMappings: AppType=Kubernetes,Team=blue,Zone=a\n",
		"kubeconfigUpload:\n  controlPlaneEndpoint: https://cp.example.com:6443\n  enabled: true\n", "k8sDistribution: NKP\n",
	} {
		if !strings.Contains(values, want) {
			t.Errorf("values lack %q:\n%s", want, values)
		}
	}
	if types := eventTypes(t, ns, "nutanix-cluster"); !slices.Equal(types, []string{corev1.EventTypeNormal}) {
		t.Errorf("event types %v, want one Normal", types)
	}
}

func TestAfterControlPlaneInitialized_LongNamesRegisterWithin40Characters(t *testing.T) {
	h := newServer(t)
	ns := newNamespace(t)
	createCredentials(t, ns, defaultSecret)
	name := strings.Repeat("production-", 5) + "east"
	createCluster(t, ns, name, configBasic)
	a := call(t, h, pathACPI, request(t, "after-control-plane-initialized.v1beta2.json", ns, name))
	registered := konnector.RegisteredName(name)
	if a.Status != "Success" || len(registered) != 40 || !strings.Contains(a.Message, `as "`+registered+`"`) {
		t.Fatalf("answer does not give the registered name %q: %s", registered, a.Raw)
	}
	var hcp caaphv1.HelmChartProxy
	if err := mgmt.Client.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: konnector.ObjectName(name)}, &hcp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hcp.Spec.ValuesTemplate, "k8sClusterName: "+registered+"\n") {
		t.Fatalf("values do not register %q:\n%s", registered, hcp.Spec.ValuesTemplate)
	}
}
