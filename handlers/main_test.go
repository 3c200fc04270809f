package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"github.com/konnector-hooks/konnector-hooks/addon"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
	"github.com/konnector-hooks/konnector-hooks/test/hookcall"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// mgmt is the one management API server of this package's tests.
var mgmt *managementcluster.Env

func TestMain(m *testing.M) {
	// Fuzz targets need no API server; fuzzing workers run TestMain again.
	flag.Parse()
	if fuzzing() {
		os.Exit(m.Run())
	}
	start := time.Now()
	env, err := managementcluster.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("management API server (envtest) started in %s\n", time.Since(start).Round(time.Millisecond))
	mgmt = env
	code := m.Run()
	// Secret hygiene across the whole suite: every log line the servers wrote.
	if out := logs.String(); strings.Contains(out, sentinelPassword) || strings.Contains(out, base64Std(sentinelPassword)) {
		fmt.Fprintln(os.Stderr, "FAIL: a log line contains the credentials' password")
		code = 1
	} else if !strings.Contains(out, `"msg":"hook call"`) {
		fmt.Fprintln(os.Stderr, "FAIL: the servers logged no hook call, so the log check saw nothing")
		code = 1
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// sentinelPassword is the password of every credentials Secret in these
// tests; no response body and no log line may ever contain it.
const sentinelPassword = "s3ntinel-Pa55word-7f2c"

// logs collects the log output of every Server these tests build.
var logs syncBuffer

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testSettings are the defaults, as the function reads them with no
// KONNECTOR_* variable set, but for pages of syncPageSize objects, so that
// every sync reads more than one page.
func testSettings(t testing.TB) settings.Settings {
	t.Helper()
	s, err := settings.Load()
	if err != nil {
		t.Fatal(err)
	}
	s.SyncPageSize = syncPageSize
	return s
}

const syncPageSize = 2

// requestCounter counts the API requests a server makes, by verb and path.
type requestCounter struct {
	mu    sync.Mutex
	calls []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.calls = append(c.calls, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (c *requestCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// serverOption sets a part of the Server newServer builds.
type serverOption func(*serverParts)

type serverParts struct {
	settings settings.Settings
	now      func() time.Time
	cfg      *rest.Config
	captured **Server
}

func withSettings(edit func(*settings.Settings)) serverOption {
	return func(p *serverParts) { edit(&p.settings) }
}

func withClock(now func() time.Time) serverOption {
	return func(p *serverParts) { p.now = now }
}

func withCounter(c *requestCounter) serverOption {
	return func(p *serverParts) { p.cfg.Wrap(c.wrap) }
}

// captured makes newServer keep the Server it builds in *s.
func captured(s **Server) serverOption { return func(p *serverParts) { p.captured = s } }

// newServer returns the hooks' router against the test API server.
func newServer(t testing.TB, opts ...serverOption) http.Handler {
	t.Helper()
	p := serverParts{settings: testSettings(t), now: time.Now, cfg: rest.CopyConfig(mgmt.Config)}
	for _, o := range opts {
		o(&p)
	}
	opener := kube.NewOpener(func() (*rest.Config, error) { return p.cfg, nil })
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s := New(p.settings, opener, log)
	s.addon = addon.New(p.settings, opener, log, p.now)
	if p.captured != nil {
		*p.captured = s
	}
	return s.Router()
}

// Paths CAPI calls, as discovery announces them.
const (
	pathDiscovery = hookcall.PathDiscovery
	pathACPI      = hookcall.PathACPI
	pathBCU       = hookcall.PathBCU
	pathBCD       = hookcall.PathBCD
)

type hookAnswer = hookcall.Answer

// call sends body the way CAPI's runtime client does (hookcall.Post, with
// ?timeout=10s); an answer that holds the credentials' password fails the
// test.
func call(t testing.TB, h http.Handler, path string, body []byte) hookAnswer {
	t.Helper()
	return noPassword(t, hookcall.Post(t, h, path, "10s", body))
}

// decodeAnswer is hookcall.Decode, and fails the test on an answer that
// holds the credentials' password.
func decodeAnswer(t testing.TB, status int, body []byte) hookAnswer {
	t.Helper()
	return noPassword(t, hookcall.Decode(t, status, body))
}

func noPassword(t testing.TB, a hookAnswer) hookAnswer {
	t.Helper()
	if strings.Contains(a.Raw, sentinelPassword) {
		t.Fatalf("answer contains the credentials' password:\n%s", a.Raw)
	}
	return a
}

// request loads a testdata request and points it at the given cluster.
func request(t testing.TB, file, namespace, name string) []byte {
	t.Helper()
	return hookcall.Request(t, filepath.Join("..", "test", "testdata"), file, namespace, name)
}

// payloadVersions are the Cluster versions CAPI puts in hook requests: v1beta1
// up to CAPI v1.12, v1beta2 from v1.13.
var payloadVersions = []string{"v1beta1", "v1beta2"}

var namespaceCount atomic.Int32

// newNamespace creates a namespace of its own for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", namespaceCount.Add(1))}}
	if err := mgmt.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// Configurations of clusterConfig. The seed's examples show the addons part;
// a Nutanix cluster also carries the Prism Central endpoint.
const (
	pcEndpoint    = `"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}}`
	configBasic   = `{` + pcEndpoint + `,"addons":{"konnectorAgent":{}}}`
	configCustom  = `{` + pcEndpoint + `,"addons":{"konnectorAgent":{"strategy":"HelmAddon","credentials":{"secretRef":{"name":"prism-central-credentials-for-konnector-agent"}}}}}`
	configNoAddon = `{` + pcEndpoint + `,"addons":{}}`
)

type clusterOption func(*clusterv1.Cluster)

func notInitialized(c *clusterv1.Cluster) {
	c.Status.Initialization.ControlPlaneInitialized = ptr.To(false)
}

func withFinalizer(c *clusterv1.Cluster) {
	c.Finalizers = append(c.Finalizers, "test.konnector-hooks/hold")
}

// createCluster creates a ClusterClass-based Cluster with the given
// clusterConfig and, unless told otherwise, an initialized control plane.
func createCluster(t testing.TB, namespace, name, clusterConfig string, opts ...clusterOption) *clusterv1.Cluster {
	t.Helper()
	c := managementcluster.NewCluster(namespace, name, clusterConfig)
	for _, o := range opts {
		o(c)
	}
	if err := managementcluster.CreateCluster(context.Background(), mgmt.Client, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// createCredentials creates the Prism Central credentials Secret.
func createCredentials(t testing.TB, namespace, name string) *corev1.Secret {
	t.Helper()
	s := managementcluster.NewCredentials(namespace, name, "admin", sentinelPassword)
	if err := mgmt.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newAddonCluster creates, in a namespace of its own, the credentials Secret
// and a Cluster "c" with the addon enabled as in the Basic example.
func newAddonCluster(t testing.TB, opts ...clusterOption) (string, *clusterv1.Cluster) {
	t.Helper()
	ns := newNamespace(t)
	createCredentials(t, ns, defaultSecret)
	return ns, createCluster(t, ns, "c", configBasic, opts...)
}

const defaultSecret = "prism-central-credentials-for-konnector-agent"

// objectsIn lists what the hooks may write in a namespace, by kind.
func objectsIn(t testing.TB, namespace string) map[string][]client.Object {
	t.Helper()
	ctx := context.Background()
	out := map[string][]client.Object{}
	lists := map[string]client.ObjectList{
		"HelmChartProxy":     &caaphList{},
		"ClusterResourceSet": &crsList{},
		"Secret":             &corev1.SecretList{},
	}
	for kind, list := range lists {
		if err := mgmt.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/managed-by": "konnector-hooks"}); err != nil {
			t.Fatal(err)
		}
		items, err := metaItems(list)
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = items
	}
	return out
}

func countObjects(objs map[string][]client.Object) int {
	n := 0
	for _, items := range objs {
		n += len(items)
	}
	return n
}

// eventsFor lists the reasons of the Events recorded on a cluster.
// eventsFor are the reasons of the Events on a Cluster.
func eventsFor(t testing.TB, namespace, cluster string) []string {
	t.Helper()
	return eventField(t, namespace, cluster, func(e corev1.Event) string { return e.Reason })
}

// eventTypes are the types (Normal, Warning) of the Events on a Cluster.
func eventTypes(t testing.TB, namespace, cluster string) []string {
	t.Helper()
	return eventField(t, namespace, cluster, func(e corev1.Event) string { return e.Type })
}

func eventField(t testing.TB, namespace, cluster string, field func(corev1.Event) string) []string {
	t.Helper()
	var out []string
	for _, e := range clusterEvents(t, namespace, cluster) {
		out = append(out, field(e))
	}
	return out
}

func clusterEvents(t testing.TB, namespace, cluster string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := mgmt.Client.List(context.Background(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	var events []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == cluster && e.InvolvedObject.Kind == "Cluster" {
			events = append(events, e)
		}
	}
	return events
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

type (
	caaphList = caaphv1.HelmChartProxyList
	crsList   = addonsv1.ClusterResourceSetList
)

func metaItems(list client.ObjectList) ([]client.Object, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(client.Object))
	}
	return out, nil
}
