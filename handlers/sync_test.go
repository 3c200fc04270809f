package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

func TestSync_ClusterCreatedBeforeInstallationGetsTheAgent(t *testing.T) {
	for how, name := range triggers {
		t.Run(name, func(t *testing.T) {
			f := newSyncFixture(t)
			ns := f.servedNamespace(t)
			createCluster(t, ns, "old", configBasic)

			a := f.sync(t, "/sync", how)
			if a.HTTPStatus != http.StatusOK || a.Status != "Success" {
				t.Fatalf("sync: HTTP %d %s", a.HTTPStatus, a.Raw)
			}
			a.mustCount(t, SyncCounts{Checked: 1, Applied: 1})
			got := a.outcomeOf(ns + "/old")
			if !strings.HasPrefix(got.Message, "Konnector Agent applied: HelmChartProxy "+ns+"/konnector-agent-old") {
				t.Fatalf("the answer should give the hook's message for the cluster: %+v", got)
			}
			if n := countObjects(objectsIn(t, ns)); n != 3 {
				t.Fatalf("%d objects written, want the HelmChartProxy, ClusterResourceSet and Secret", n)
			}
			if !slices.Contains(eventsFor(t, ns, "old"), konnector.ReasonApplied) {
				t.Fatal("no KonnectorAgentApplied Event on the Cluster")
			}
		})
	}
}

func TestSync_NothingToChangeWritesNothingAndCostsFixedRequests(t *testing.T) {
	counter := &requestCounter{}
	f := newSyncFixture(t, withCounter(counter))
	var namespaces []string
	for range 2 {
		ns := f.servedNamespace(t)
		namespaces = append(namespaces, ns)
		for i := range 5 {
			createCluster(t, ns, fmt.Sprintf("c%d", i), configBasic)
		}
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 10, Applied: 10})
	counter.take()

	a := f.sync(t, "/sync", pingBinary)
	a.mustCount(t, SyncCounts{Checked: 10, UpToDate: 10})
	if len(a.Clusters) != 0 {
		t.Fatalf("an up-to-date sync lists no cluster: %s", a.Raw)
	}
	calls := pagesOnce(counter.take())
	slices.Sort(calls)
	// The ExtensionConfig, its Namespaces, the paged LIST of Clusters; per
	// page, one LIST each of our HelmChartProxies, ClusterResourceSets and
	// resource-set Secrets and of CAAPH's HelmReleaseProxies (the 10
	// Clusters make 5 pages of 2); and the default-named Secret of each
	// served namespace with a Cluster with the addon. No request is made per
	// Cluster.
	want := []string{
		"GET /api/v1/namespaces",
		"GET /apis/cluster.x-k8s.io/v1beta2/clusters",
		"GET /apis/runtime.cluster.x-k8s.io/v1beta2/extensionconfigs/" + f.extensionConfig,
	}
	for _, ns := range namespaces {
		want = append(want, "GET /api/v1/namespaces/"+ns+"/secrets/"+defaultSecret)
	}
	for range 5 {
		want = append(want,
			"GET /api/v1/secrets",
			"GET /apis/addons.cluster.x-k8s.io/v1alpha1/helmchartproxies",
			"GET /apis/addons.cluster.x-k8s.io/v1alpha1/helmreleaseproxies",
			"GET /apis/addons.cluster.x-k8s.io/v1beta2/clusterresourcesets")
	}
	slices.Sort(want)
	if !slices.Equal(calls, want) {
		t.Fatalf("requests of a sync with nothing to change:\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestSync_RotationReachesEveryResourceSetSecret(t *testing.T) {
	counter := &requestCounter{}
	f := newSyncFixture(t, withCounter(counter))
	ns := f.servedNamespace(t)
	clusters := []string{"a", "b", "c"}
	for _, name := range clusters {
		createCluster(t, ns, name, configBasic)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 3, Applied: 3})

	rotateDefaultSecret(t, ns)
	counter.take()

	a := f.sync(t, "/sync", pingStructured)
	a.mustCount(t, SyncCounts{Checked: 3, Applied: 3})
	for _, name := range clusters {
		if got := resourceSetPassword(t, ns, name); got != rotatedPassword {
			t.Errorf("resource-set Secret of %s still carries the old password", name)
		}
		if msg := a.outcomeOf(ns + "/" + name).Message; !strings.Contains(msg, "wrote Secret "+ns+"/konnector-agent-"+name) || strings.Contains(msg, "HelmChartProxy "+ns+"/konnector-agent-"+name+",") {
			t.Errorf("the answer for %s should name the resource-set Secret only: %q", name, msg)
		}
	}
	// Per changed cluster: one apply of its resource-set Secret and one Event.
	var perCluster []string
	for _, c := range counter.take() {
		if !strings.HasPrefix(c, "GET ") {
			perCluster = append(perCluster, c)
		}
	}
	if len(perCluster) != 2*len(clusters) {
		t.Fatalf("%d writes for %d rotated clusters, want 2 each:\n%s", len(perCluster), len(clusters), strings.Join(perCluster, "\n"))
	}
}

func TestSync_EnableOnARunningClusterInstalls(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	createCluster(t, ns, "c", configNoAddon)
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, NotEnabled: 1})
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d objects written for a cluster without the addon", n)
	}

	setClusterConfig(t, ns, "c", configBasic)
	f.sync(t, "/sync", pingBinary).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	if n := countObjects(objectsIn(t, ns)); n != 3 {
		t.Fatalf("%d objects after enabling the addon, want 3", n)
	}
}

func TestSync_HandDeletedObjectsComeBack(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	createCluster(t, ns, "c", configBasic)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	for _, obj := range []client.Object{&caaphv1.HelmChartProxy{}, &addonsv1.ClusterResourceSet{}, &corev1.Secret{}} {
		obj.SetNamespace(ns)
		obj.SetName("konnector-agent-c")
		if err := mgmt.Client.Delete(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	a := f.sync(t, "/sync/"+ns+"/c", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	msg := a.outcomeOf(ns + "/c").Message
	for _, kind := range []string{"ClusterResourceSet", "HelmChartProxy", "Secret"} {
		if !strings.Contains(msg, kind+" "+ns+"/konnector-agent-c") {
			t.Errorf("the answer should name the restored %s: %q", kind, msg)
		}
	}
	if n := countObjects(objectsIn(t, ns)); n != 3 {
		t.Fatalf("%d objects after the sync, want the 3 restored", n)
	}
}

func TestSync_LeavesForeignObjectsOfOurNameAlone(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	createCluster(t, ns, "c", configBasic)
	foreign := &addonsv1.ClusterResourceSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "konnector-agent-c"},
		Spec: addonsv1.ClusterResourceSetSpec{
			ClusterSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}},
			Resources:       []addonsv1.ResourceRef{{Kind: "ConfigMap", Name: "team-addons"}},
		},
	}
	if err := mgmt.Client.Create(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	a := f.sync(t, "/sync", plainPOST)
	a.mustCount(t, SyncCounts{Checked: 1, Failed: 1})
	if msg := a.outcomeOf(ns + "/c").Message; !strings.Contains(msg, "ClusterResourceSet "+ns+"/konnector-agent-c: already exists and is not managed by konnector-hooks") {
		t.Fatalf("the answer should refuse the foreign ClusterResourceSet: %q", msg)
	}
	if err := mgmt.Client.Get(context.Background(), client.ObjectKeyFromObject(foreign), foreign); err != nil || foreign.Spec.ClusterSelector.MatchLabels["team"] != "other" {
		t.Fatalf("the foreign ClusterResourceSet was changed: %v %+v", err, foreign.Spec.ClusterSelector)
	}
}

func TestSync_DeletingAndUninitializedClustersAreLeftToTheHooks(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	deleting := createCluster(t, ns, "deleting", configBasic, withFinalizer)
	deleteCluster(t, deleting)
	createCluster(t, ns, "starting", configBasic, notInitialized)

	a := f.sync(t, "/sync", pingBinary)
	a.mustCount(t, SyncCounts{Checked: 2, LeftToHooks: 2})
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d objects written for deleting or uninitialized clusters", n)
	}
	if ev := append(eventsFor(t, ns, "deleting"), eventsFor(t, ns, "starting")...); len(ev) != 0 {
		t.Fatalf("Events recorded: %v", ev)
	}
}

func TestSync_AFailingClusterIsReportedWhileTheOthersProceed(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	missing := `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"not-there"}}}}}`
	createCluster(t, ns, "a", configBasic)
	createCluster(t, ns, "broken", missing)
	createCluster(t, ns, "z", configBasic)

	a := f.sync(t, "/sync", pingStructured)
	a.mustCount(t, SyncCounts{Checked: 3, Applied: 2, Failed: 1})
	if a.HTTPStatus != http.StatusOK || a.Status != "Failure" {
		t.Fatalf("a sync with a failed cluster answers HTTP 200 Failure: %d %s", a.HTTPStatus, a.Raw)
	}
	got := a.outcomeOf(ns + "/broken")
	if got.Outcome != outcomeFailed || !strings.Contains(got.Message, "Secret "+ns+"/not-there") || !strings.Contains(got.Message, "create it") {
		t.Fatalf("the failed cluster's entry should name the missing Secret and the fix: %+v", got)
	}
	for _, name := range []string{"a", "z"} {
		resourceSetPassword(t, ns, name)
	}
}

func TestSync_NonDefaultSecretCostsOneGet(t *testing.T) {
	counter := &requestCounter{}
	f := newSyncFixture(t, withCounter(counter))
	ns := f.servedNamespace(t)
	createCredentials(t, ns, "own-credentials")
	createCluster(t, ns, "c", `{`+pcEndpoint+`,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"own-credentials"}}}}}`)
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, Applied: 1})
	counter.take()
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 1, UpToDate: 1})
	if calls := pagesOnce(counter.take()); !slices.Contains(calls, "GET /api/v1/namespaces/"+ns+"/secrets/own-credentials") || len(calls) != 8 {
		// The default-named Secret is not read: no Cluster uses it.
		t.Fatalf("want the 7 reads of a one-page sync and one GET of the cluster's own Secret, got:\n%s", strings.Join(calls, "\n"))
	}
}

func TestSync_NamingAClusterOutsideTheSelectedNamespacesChangesNothing(t *testing.T) {
	f := newSyncFixture(t)
	f.servedNamespace(t)
	outside := newNamespace(t)
	createCredentials(t, outside, defaultSecret)
	createCluster(t, outside, "c", configBasic)

	for how, name := range triggers {
		a := f.sync(t, "/sync/"+outside+"/c", how)
		if a.HTTPStatus != http.StatusNotFound || a.Status != "Failure" || !strings.Contains(a.Message, "ExtensionConfig "+f.extensionConfig+" selects") {
			t.Fatalf("%s: a sync of a cluster outside the selected namespaces: HTTP %d %s", name, a.HTTPStatus, a.Raw)
		}
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{})
	if n := countObjects(objectsIn(t, outside)); n != 0 {
		t.Fatalf("%d objects written outside the selected namespaces", n)
	}
}

func TestSync_WithoutItsExtensionConfigChangesNothing(t *testing.T) {
	ns := newNamespace(t)
	createCredentials(t, ns, defaultSecret)
	createCluster(t, ns, "c", configBasic)
	h := newServer(t, withSettings(func(s *settings.Settings) { s.ExtensionConfig = "not-installed" }))
	a := serveSync(t, h, syncRequest("/sync", plainPOST))
	if a.Status != "Failure" || !strings.Contains(a.Message, "ExtensionConfig not-installed") || !strings.Contains(a.Message, "KONNECTOR_EXTENSION_CONFIG") {
		t.Fatalf("answer %s", a.Raw)
	}
	if n := countObjects(objectsIn(t, ns)); n != 0 {
		t.Fatalf("%d objects written without an ExtensionConfig", n)
	}
}

func TestSync_RefusesWhatItCannotProcess(t *testing.T) {
	f := newSyncFixture(t)
	badEvent := syncRequest("/sync", pingBinary)
	badEvent.Header.Del("Ce-Source")
	get := syncRequest("/sync", plainPOST)
	get.Method = http.MethodGet
	cases := []struct {
		name   string
		r      *http.Request
		status int
		says   string
	}{
		{"a CloudEvent without ce-source", badEvent, http.StatusBadRequest, "not a valid CloudEvent"},
		{"a structured CloudEvent that is not JSON", func() *http.Request {
			r := syncRequest("/sync", pingStructured)
			r.Body = http.NoBody
			return r
		}(), http.StatusBadRequest, "not a valid CloudEvent"},
		{"GET", get, http.StatusMethodNotAllowed, "POST"},
		{"a path with one segment", syncRequest("/sync/only-namespace", plainPOST), http.StatusNotFound, "/sync/<namespace>/<cluster>"},
		{"a bad timeout", syncRequest("/sync?timeout=soon", plainPOST), http.StatusBadRequest, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := serveSync(t, f.router, c.r)
			if a.HTTPStatus != c.status || a.Status != "Failure" || !strings.Contains(a.Message, c.says) {
				t.Fatalf("HTTP %d %s, want %d with %q", a.HTTPStatus, a.Raw, c.status, c.says)
			}
		})
	}
}

func TestSync_TwoSyncsAtOnceRecordEachChangeOnce(t *testing.T) {
	f := newSyncFixture(t)
	ns := f.servedNamespace(t)
	for i := range 6 {
		createCluster(t, ns, fmt.Sprintf("c%d", i), configBasic)
	}
	var wg sync.WaitGroup
	answers := make([]syncAnswer, 2)
	for i := range answers {
		wg.Go(func() { answers[i] = f.sync(t, "/sync", triggers2[i]) })
	}
	wg.Wait()
	for _, a := range answers {
		if a.Counts.Failed != 0 || a.Counts.Checked != 6 {
			t.Fatalf("a concurrent sync failed: %s", a.Raw)
		}
	}
	for i := range 6 {
		name := fmt.Sprintf("c%d", i)
		if events := eventsFor(t, ns, name); !slices.Equal(events, []string{"KonnectorAgentApplied"}) {
			t.Fatalf("Cluster %s after two concurrent syncs: events %v, want one KonnectorAgentApplied", name, events)
		}
		if got := resourceSetPassword(t, ns, name); got != sentinelPassword {
			t.Fatalf("Cluster %s: resource-set password %q", name, got)
		}
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 6, UpToDate: 6})
}

var triggers2 = []trigger{pingBinary, pingStructured}

func TestSync_DeadlineNamesTheClustersNotReached(t *testing.T) {
	// While hold is set, every write but those for c0 waits for the call's
	// deadline, as writes to an API server too slow for the sync would.
	var hold atomic.Bool
	slowWrites := func(p *serverParts) {
		p.cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripper(func(r *http.Request) (*http.Response, error) {
				if hold.Load() && r.Method == http.MethodPatch && !strings.HasSuffix(r.URL.Path, "/konnector-agent-c0") {
					<-r.Context().Done()
					return nil, r.Context().Err()
				}
				return rt.RoundTrip(r)
			})
		})
	}
	f := newSyncFixture(t, slowWrites, withSettings(func(s *settings.Settings) { s.SyncConcurrency = 1 }))
	ns := f.servedNamespace(t)
	for i := range 4 {
		createCluster(t, ns, fmt.Sprintf("c%d", i), configBasic)
	}

	hold.Store(true)
	a := f.sync(t, "/sync?timeout=3s", pingBinary)
	a.mustCount(t, SyncCounts{Checked: 4, Applied: 1, NotReached: 3})
	if a.Status != "Failure" {
		t.Fatalf("a sync that did not reach every cluster answers Failure: %s", a.Raw)
	}
	for _, name := range []string{"c1", "c2", "c3"} {
		if got := a.outcomeOf(ns + "/" + name); got.Outcome != outcomeNotReached || !strings.Contains(got.Message, "not reached before the sync's deadline") || !strings.Contains(got.Message, "the next sync resumes it") {
			t.Errorf("cluster %s: %+v", name, got)
		}
	}

	// The next sync, in time, resumes them; c0 is up to date and costs no write.
	hold.Store(false)
	a = f.sync(t, "/sync", pingBinary)
	a.mustCount(t, SyncCounts{Checked: 4, UpToDate: 1, Applied: 3})
}

// Sync reads credentials only where it serves Clusters with the addon: the
// default-named Secret of a namespace the ExtensionConfig does not select,
// or of a served one without such a Cluster, is never read.
func TestSync_ReadsDefaultSecretsOnlyInServedNamespacesWithTheAddon(t *testing.T) {
	var mu sync.Mutex
	var secretReads []string
	record := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/secrets") {
				mu.Lock()
				secretReads = append(secretReads, r.URL.Path+"?"+r.URL.RawQuery)
				mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	}
	f := newSyncFixture(t, func(p *serverParts) { p.cfg.Wrap(record) })
	served := f.servedNamespace(t)
	createCluster(t, served, "c", configBasic)
	withoutAddon := f.servedNamespace(t)
	createCluster(t, withoutAddon, "c", configNoAddon)
	unserved := newNamespace(t)
	createCredentials(t, unserved, defaultSecret)
	createCluster(t, unserved, "c", configBasic)

	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 2, Applied: 1, NotEnabled: 1})
	// The resource-set Secrets are listed by our labels; any other Secret
	// read is by name, in the served namespace with the addon only.
	mu.Lock()
	defer mu.Unlock()
	ours := "labelSelector=" + url.QueryEscape("app.kubernetes.io/managed-by=konnector-hooks,app.kubernetes.io/name=konnector-agent")
	for _, r := range secretReads {
		listed := strings.Contains(r, "/secrets?"+ours+url.QueryEscape(",")) && !strings.HasPrefix(r, "/api/v1/namespaces/"+unserved+"/")
		if !listed && !strings.HasPrefix(r, "/api/v1/namespaces/"+served+"/secrets/") {
			t.Errorf("a sync read %s; it serves Clusters with the addon in %s only", r, served)
		}
	}
	if !slices.Contains(secretReads, "/api/v1/namespaces/"+served+"/secrets/"+defaultSecret+"?") {
		t.Fatalf("the served namespace's credentials were not read: %v", secretReads)
	}
}

// pagesOnce counts the paged LIST of Clusters once: a sync reads it in
// pages of syncPageSize (so the tests cross page boundaries), each the same
// request path again. Any other request repeated stays.
func pagesOnce(calls []string) []string {
	const clusters = "GET /apis/cluster.x-k8s.io/v1beta2/clusters"
	var out []string
	for _, c := range calls {
		if c != clusters || !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func TestSync_ASecretManyClustersNameIsReadOncePerSync(t *testing.T) {
	counter := &requestCounter{}
	f := newSyncFixture(t, withCounter(counter))
	ns := f.servedNamespace(t)
	createCredentials(t, ns, "team-credentials")
	for i := range 5 {
		createCluster(t, ns, fmt.Sprintf("c%d", i), `{`+pcEndpoint+`,"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"team-credentials"}}}}}`)
	}
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 5, Applied: 5})
	counter.take()
	f.sync(t, "/sync", plainPOST).mustCount(t, SyncCounts{Checked: 5, UpToDate: 5})
	reads := 0
	for _, c := range counter.take() {
		if c == "GET /api/v1/namespaces/"+ns+"/secrets/team-credentials" {
			reads++
		}
	}
	if reads != 1 {
		t.Fatalf("the Secret 5 Clusters name was read %d times in one sync, want once", reads)
	}
}
