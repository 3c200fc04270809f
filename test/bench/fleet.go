package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	runtimev1 "sigs.k8s.io/cluster-api/api/runtime/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// The fleet section: Sync at 1,000 to 10,000 Clusters, each sync a fresh
// process started as its Knative Service starts it, its peak RSS read from
// /proc (VmHWM), its requests counted by the proxy, its CPU and the API
// server's from /proc/<pid>/stat. Each size has its own API server.

// FleetReport is the fleet section of the report.
type FleetReport struct {
	GeneratedAt string      `json:"generatedAt"`
	Machine     Machine     `json:"machine"`
	PageSize    int         `json:"pageSize"`
	Namespaces  int         `json:"namespaces"`
	Sizes       []FleetSize `json:"sizes"`
	Notes       []string    `json:"notes"`
}

// FleetSize is one fleet size.
type FleetSize struct {
	Clusters int            `json:"clusters"`
	Mix      map[string]int `json:"mix"`
	CreateS  float64        `json:"createSeconds"`
	Runs     []FleetRun     `json:"runs"`
	// ListsAloneMs is the median time of the paged LISTs a sync makes,
	// made alone by the harness in the same run.
	ListsAloneMs float64 `json:"listsAloneMs"`
	// Hooks are BeforeClusterUpgrade no-op calls to a hooks process on the
	// same API server, without and during a sync.
	HooksIdle       Stats `json:"hooksIdle"`
	HooksDuringSync Stats `json:"hooksDuringSync"`
	HooksDuringRuns int   `json:"hooksDuringSyncCalls"`
}

// FleetRun is one sync.
type FleetRun struct {
	Code       string         `json:"code"` // after, after-nolimit, before, naive
	Kind       string         `json:"kind"` // first, noop, rotation
	GoMemLimit string         `json:"goMemLimit"`
	GOGC       string         `json:"gogc"`
	PeakMiB    float64        `json:"peakMiB"`
	WallMs     float64        `json:"wallMs"`
	Requests   int            `json:"requests"`
	Pages      int            `json:"listRequests"`
	FuncCPU    float64        `json:"functionCPUSeconds"`
	APICPU     float64        `json:"apiserverCPUSeconds"`
	EtcdCPU    float64        `json:"etcdCPUSeconds"`
	ByRequest  map[string]int `json:"byRequest"`
	Counts     SyncCounts     `json:"counts"`
	Status     string         `json:"status"`
	Message    string         `json:"message,omitempty"`
	Delivered  *bool          `json:"delivered,omitempty"`
}

// SyncCounts are the counts of a sync's answer.
type SyncCounts struct {
	Checked, UpToDate, Applied, Failed, NotReached, LeftToHooks, NotEnabled int
}

// fleetOptions are the fleet mode's flags.
type fleetOptions struct {
	sizes             []int
	after, before     string
	afterGOGC         string
	afterMemLimit     string
	beforeMemLimit    string
	pageSize          int
	namespaces        int
	repo, out         string
	skipBeforeAbove   int
	skipNaiveAbove    int
	hooksCallsPerSize int
}

const (
	fleetExtensionConfig = "konnector-agent-fleet"
	fleetLabel           = "bench.konnector-hooks/fleet"
	ownSecret            = "team-credentials"
)

// fleetMix decides what Cluster i of the fleet is: out of 20, 15 with the
// addon and the default Secret, 1 naming its own Secret, 2 without the
// addon, 1 being deleted, 1 whose control plane is not initialized.
func fleetMix(i int) string {
	switch i % 20 {
	case 3:
		return "ownSecret"
	case 7, 15:
		return "disabled"
	case 11:
		return "deleting"
	case 19:
		return "uninitialized"
	}
	return "enabled"
}

func runFleet(ctx context.Context, o fleetOptions) (*FleetReport, error) {
	rep := &FleetReport{GeneratedAt: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo(o.repo), PageSize: o.pageSize, Namespaces: o.namespaces}
	for _, n := range o.sizes {
		// After every sync, what was measured so far is written, so that a
		// run stopped at a long sync keeps the others.
		done := len(rep.Sizes)
		save := func(size FleetSize) {
			rep.Sizes = append(rep.Sizes[:done], size)
			if err := rep.write(o.out); err != nil {
				logf("fleet: writing the report: %v", err)
			}
		}
		size, err := fleetSize(ctx, o, n, save)
		if size != nil {
			rep.Sizes = append(rep.Sizes[:done], *size)
		}
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d Clusters: %v", n, err))
			return rep, err
		}
		if err := rep.write(o.out); err != nil { // what was measured so far
			return rep, err
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	return rep, nil
}

// fleetSize measures one fleet size on its own API server.
func fleetSize(ctx context.Context, o fleetOptions, n int, save func(FleetSize)) (*FleetSize, error) {
	logf("fleet %d: starting an API server", n)
	env, err := managementcluster.Start()
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	dir, err := os.MkdirTemp("", "konnector-hooks-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	proxy, err := startCountingProxy(env.Config)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := proxy.writeKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	fx, err := newFixtures(env.Config, o.repo)
	if err != nil {
		return nil, err
	}
	apiserver, etcd := childrenNamed(os.Getpid(), "kube-apiserver"), childrenNamed(os.Getpid(), "etcd")
	if len(apiserver) != 1 || len(etcd) != 1 {
		return nil, fmt.Errorf("found %d kube-apiserver and %d etcd processes", len(apiserver), len(etcd))
	}
	f := &fleet{o: o, n: n, fx: fx, env: env, cfg: env.Config, kubeconfig: kubeconfig, proxy: proxy, apiserver: apiserver[0], etcd: etcd[0]}
	size := &FleetSize{Clusters: n, Mix: map[string]int{}}
	start := time.Now()
	if err := f.create(ctx, size.Mix); err != nil {
		return size, err
	}
	size.CreateS = time.Since(start).Seconds()

	hooks, err := f.startHooks()
	if err != nil {
		return size, err
	}
	defer hooks.stop()

	run := func(code, kind, memLimit string) error {
		r, err := f.sync(ctx, code, kind, memLimit)
		size.Runs = append(size.Runs, r)
		save(*size)
		return err
	}
	// Ours: the first sync, with hook calls during it.
	size.HooksIdle = f.hookLatency(ctx, nil)
	var first error
	size.HooksDuringSync = f.hookLatency(ctx, func() { first = run("after", "first", o.afterMemLimit) })
	size.HooksDuringRuns = size.HooksDuringSync.N
	if first != nil {
		return size, first
	}
	// No-op syncs beside the same paged LISTs alone, alternated.
	var lists []float64
	for range 3 {
		if err := run("after", "noop", o.afterMemLimit); err != nil {
			return size, err
		}
		ms, err := f.listsAlone(ctx)
		if err != nil {
			return size, err
		}
		lists = append(lists, ms)
	}
	slices.Sort(lists)
	size.ListsAloneMs = lists[len(lists)/2]
	// Then, in order: ours without GOMEMLIMIT, ours after a rotation, the
	// naive sync, and the code before.
	type step struct{ code, kind, memLimit, rotateTo string }
	steps := []step{{"after-nolimit", "noop", "", ""}, {"after", "rotation", o.afterMemLimit, "rotated-after"}}
	if n <= o.skipNaiveAbove {
		steps = append(steps, step{"naive", "noop", o.afterMemLimit, ""}, step{"naive", "rotation", o.afterMemLimit, "rotated-naive"})
	}
	if o.before != "" && n <= o.skipBeforeAbove {
		// The objects are ours; the code before rewrites each one it
		// compares otherwise once (its resource-set manifests are YAML),
		// then is measured as ours.
		steps = append(steps, step{"before", "first", o.beforeMemLimit, ""}, step{"before", "noop", o.beforeMemLimit, ""},
			step{"before", "rotation", o.beforeMemLimit, "rotated-before"})
	}
	for _, st := range steps {
		if st.rotateTo != "" {
			if err := f.rotate(ctx, st.rotateTo); err != nil {
				return size, err
			}
		}
		if err := run(st.code, st.kind, st.memLimit); err != nil {
			return size, err
		}
	}
	return size, nil
}

// fleet is one fleet size's API server and Clusters.
type fleet struct {
	o                fleetOptions
	n                int
	fx               *fixtures
	env              *managementcluster.Env
	cfg              *rest.Config
	kubeconfig       string
	proxy            *countingProxy
	apiserver, etcd  int
	password         string
	hooksBase        string
	hookNS, hookName string
}

func (f *fleet) namespace(i int) string { return fmt.Sprintf("fleet-%d", i%f.o.namespaces) }

// create makes the namespaces (each with the default credentials Secret and
// a team Secret that some Clusters name), the ExtensionConfig that selects
// them, and the Clusters of the mix.
func (f *fleet) create(ctx context.Context, mix map[string]int) error {
	for i := range f.o.namespaces {
		ns := f.namespace(i)
		if err := f.fx.namespace(ctx, ns); err != nil {
			return err
		}
		if err := f.fx.c.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"`+fleetLabel+`":"true"}}}`))); err != nil {
			return err
		}
		if err := f.fx.c.Create(ctx, managementcluster.NewCredentials(ns, ownSecret, "team", "team-password")); err != nil {
			return err
		}
	}
	f.password = "bench-password"
	ec := &runtimev1.ExtensionConfig{
		ObjectMeta: metav1.ObjectMeta{Name: fleetExtensionConfig},
		Spec: runtimev1.ExtensionConfigSpec{
			ClientConfig:      runtimev1.ClientConfig{URL: "https://konnector-hooks.konnector-hooks.svc.cluster.local"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{fleetLabel: "true"}},
		},
	}
	if err := f.fx.c.Create(ctx, ec); err != nil {
		return err
	}
	logf("fleet %d: creating the Clusters", f.n)
	work := make(chan int)
	errs := make(chan error, f.n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if err := f.createCluster(ctx, i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range f.n {
		mix[fleetMix(i)]++
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	// The hook calls go to an enabled Cluster.
	f.hookNS, f.hookName = f.namespace(0), "c-0"
	return nil
}

func (f *fleet) createCluster(ctx context.Context, i int) error {
	ns, name := f.namespace(i), fmt.Sprintf("c-%d", i)
	config := clusterConfig
	switch fleetMix(i) {
	case "ownSecret":
		config = `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}},"addons":{"konnectorAgent":{"credentials":{"secretRef":{"name":"` + ownSecret + `"}}}}}`
	case "disabled":
		config = `{"nutanix":{"prismCentralEndpoint":{"url":"https://prism-central.example.com:9440"}}}`
	}
	cl := managementcluster.NewCluster(ns, name, config)
	switch fleetMix(i) {
	case "uninitialized":
		cl.Status = clusterv1.ClusterStatus{}
		return f.fx.c.Create(ctx, cl)
	case "deleting":
		cl.Finalizers = []string{holdFinalizer}
		if err := managementcluster.CreateCluster(ctx, f.fx.c, cl); err != nil {
			return err
		}
		return f.fx.c.Delete(ctx, cl)
	}
	return managementcluster.CreateCluster(ctx, f.fx.c, cl)
}

// rotate writes a new password into every namespace's default Secret.
func (f *fleet) rotate(ctx context.Context, password string) error {
	for i := range f.o.namespaces {
		secret := &corev1.Secret{}
		if err := f.fx.c.Get(ctx, client.ObjectKey{Namespace: f.namespace(i), Name: credentialsSecret}, secret); err != nil {
			return err
		}
		secret.Data["password"] = []byte(password)
		if err := f.fx.c.Update(ctx, secret); err != nil {
			return err
		}
	}
	f.password = password
	return nil
}

// delivered reports whether every resource-set Secret of a Cluster using
// the default Secret holds the current password.
func (f *fleet) delivered(ctx context.Context) (bool, error) {
	want := []byte(fmt.Sprintf("%q", encodeB64(f.password)))
	held, total := 0, 0
	for i := range f.n {
		if fleetMix(i) == "enabled" {
			total++
		}
	}
	list := &corev1.SecretList{}
	opts := []client.ListOption{client.MatchingLabels(konnector.OurLabels()), client.Limit(500)}
	for {
		if err := f.fx.c.List(ctx, list, opts...); err != nil {
			return false, err
		}
		for _, s := range list.Items {
			data := s.Data[konnector.ResourceSetKey]
			// JSON (ours) or YAML (before): the password's base64 either way.
			if bytes.Contains(data, want) || bytes.Contains(data, []byte("password: "+encodeB64(f.password))) {
				held++
			}
		}
		if list.Continue == "" {
			break
		}
		opts = append(opts[:2], client.Continue(list.Continue))
	}
	return held == total, nil
}

// syncEnv is the environment of a sync process, as the Knative Service
// gives it, against the counting proxy.
func (f *fleet) syncEnv(memLimit, gogc string) []string {
	env := []string{"KUBECONFIG=" + f.kubeconfig, "FUNCTION_TARGET=Sync", "KONNECTOR_EXTENSION_CONFIG=" + fleetExtensionConfig,
		"KONNECTOR_SYNC_TIMEOUT=1h", fmt.Sprintf("KONNECTOR_SYNC_PAGE_SIZE=%d", f.o.pageSize)}
	if memLimit != "" {
		env = append(env, "GOMEMLIMIT="+memLimit)
	}
	if gogc != "" {
		env = append(env, "GOGC="+gogc)
	}
	return env
}

// sync runs one sync in a fresh process and measures it. The naive sync is
// a fresh hooks process called with BeforeClusterUpgrade for each Cluster
// with the addon, 8 at a time (KONNECTOR_SYNC_CONCURRENCY's default), after
// one LIST of the Clusters by the harness.
func (f *fleet) sync(ctx context.Context, code, kind, memLimit string) (FleetRun, error) {
	r := FleetRun{Code: code, Kind: kind, GoMemLimit: memLimit, ByRequest: map[string]int{}}
	if code == "after" {
		r.GOGC = f.o.afterGOGC
	}
	binary := f.o.after
	if code == "before" {
		binary = f.o.before
	}
	env := f.syncEnv(memLimit, r.GOGC)
	if code == "naive" {
		env = append(env, "FUNCTION_TARGET=Hooks")
	}
	logf("fleet %d: %s sync, %s", f.n, code, kind)
	c, base, err := startServer(binary, env)
	if err != nil {
		return r, err
	}
	defer c.stop()
	api0, etcd0 := cpuSeconds(f.apiserver), cpuSeconds(f.etcd)
	f.proxy.reset()
	start := time.Now()
	if code == "naive" {
		err = f.naive(ctx, base, &r)
	} else {
		err = f.postSync(base, &r)
	}
	r.WallMs = ms(time.Since(start))
	reqs := f.proxy.take()
	r.Requests = len(reqs)
	for _, q := range reqs {
		if strings.Contains(q.rawQuery, "limit=") {
			r.Pages++
		}
		r.ByRequest[q.Method+" "+requestKind(q.Path)]++
	}
	r.APICPU, r.EtcdCPU = cpuSeconds(f.apiserver)-api0, cpuSeconds(f.etcd)-etcd0
	if st, serr := readProcStat(c.pid()); serr == nil {
		r.FuncCPU = float64(st.Ticks) / clockTicks
	}
	if m, merr := readMemory(c.pid()); merr == nil {
		r.PeakMiB = m.PeakMiB()
	}
	if err != nil {
		return r, fmt.Errorf("%s %s sync: %w (stderr: %s)", code, kind, err, c.stderr.last(2000))
	}
	if kind != "noop" {
		ok, derr := f.delivered(ctx)
		r.Delivered = &ok
		if derr != nil {
			return r, derr
		}
	}
	logf("fleet %d: %s %s: %.0f ms, %.1f MiB peak, %d requests: %s", f.n, code, kind, r.WallMs, r.PeakMiB, r.Requests, r.Message)
	return r, nil
}

// startServer execs a function binary and waits until it accepts
// connections (Sync answers every path with a sync, so no request is made).
func startServer(binary string, env []string) (*child, string, error) {
	s := server{name: filepath.Base(binary), binary: binary, env: env}
	c, base, err := s.start()
	if err != nil {
		return nil, "", err
	}
	addr := strings.TrimPrefix(base, "http://")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			_ = conn.Close()
			return c, base, nil
		}
		if c.exited() {
			break
		}
	}
	c.stop()
	return nil, "", fmt.Errorf("%s did not listen: %s", binary, c.stderr.last(2000))
}

// postSync posts one sync of every served Cluster, as the PingSource does.
func (f *fleet) postSync(base string, r *FleetRun) error {
	resp, err := (&http.Client{Timeout: time.Hour}).Post(base+"/", "application/json", strings.NewReader(`{"trigger":"bench"}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var report struct {
		Status, Message string
		Counts          SyncCounts
	}
	if err := json.Unmarshal(body, &report); err != nil {
		return fmt.Errorf("sync answer: %w: %.300s", err, body)
	}
	r.Status, r.Message, r.Counts = report.Status, report.Message, report.Counts
	return nil
}

// naive lists the served Clusters (unpaged, by the harness) and calls
// BeforeClusterUpgrade for each one with the addon.
func (f *fleet) naive(ctx context.Context, base string, r *FleetRun) error {
	var names []client.ObjectKey
	for i := range f.n {
		if m := fleetMix(i); m == "enabled" || m == "ownSecret" {
			names = append(names, client.ObjectKey{Namespace: f.namespace(i), Name: fmt.Sprintf("c-%d", i)})
		}
	}
	list := &clusterv1.ClusterList{}
	if err := f.fx.c.List(ctx, list); err != nil {
		return err
	}
	list = nil
	call := newCaller(base, nil)
	work := make(chan client.ObjectKey)
	var mu sync.Mutex
	var failed int
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range work {
				a, err := call.post(pathBCU, f.fx.request("before-cluster-upgrade.v1beta2.json", k.Namespace, k.Name))
				if err == nil {
					err = expect(a, 0)
				}
				mu.Lock()
				if err != nil {
					failed++
				} else {
					r.Counts.Checked++
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range names {
		work <- k
	}
	close(work)
	wg.Wait()
	r.Counts.Failed = failed
	r.Status = "Success"
	if failed > 0 {
		r.Status = "Failure"
	}
	return nil
}

// listsAlone makes the reads of a sync with nothing to change, alone: the
// served namespaces, then each page of Clusters and the LISTs of our
// objects for it, by the sync's own reader (kube.EachFleetPage), with
// nothing done with what they read.
func (f *fleet) listsAlone(ctx context.Context) (float64, error) {
	c, err := client.New(f.cfg, client.Options{Scheme: kube.Scheme, Mapper: kube.RESTMapper()})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	scope := kube.FleetScope{ExtensionConfig: fleetExtensionConfig, PageSize: int64(f.o.pageSize)}
	if _, err := kube.EachFleetPage(ctx, c, scope, func([]konnector.DeployFacts) error { return nil }); err != nil {
		return 0, err
	}
	return ms(time.Since(start)), nil
}

func pages(ctx context.Context, c client.Client, newList func() client.ObjectList, size int, opts ...client.ListOption) error {
	next := ""
	for {
		l := newList()
		if err := c.List(ctx, l, append(opts, client.Limit(int64(size)), client.Continue(next))...); err != nil {
			return err
		}
		if next = l.GetContinue(); next == "" {
			return nil
		}
	}
}

// startHooks starts a hooks process (FUNCTION_TARGET=Hooks) for the hook
// latency, straight to the API server, and deploys the addon on the
// Cluster it calls.
func (f *fleet) startHooks() (*child, error) {
	direct := filepath.Join(filepath.Dir(f.kubeconfig), "direct-kubeconfig")
	if err := f.env.WriteKubeconfig(direct); err != nil {
		return nil, err
	}
	c, base, err := startServer(f.o.after, []string{"KUBECONFIG=" + direct, "FUNCTION_TARGET=Hooks"})
	if err != nil {
		return nil, err
	}
	f.hooksBase = base
	a, err := newCaller(base, nil).post(pathBCU, f.fx.request("before-cluster-upgrade.v1beta2.json", f.hookNS, f.hookName))
	if err == nil {
		err = expect(a, 0)
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("deploying the hook latency Cluster: %w", err)
	}
	return c, nil
}

// hookLatency times BeforeClusterUpgrade no-op calls, one at a time: while
// during runs when it is set, else a fixed number.
func (f *fleet) hookLatency(ctx context.Context, during func()) Stats {
	call := newCaller(f.hooksBase, nil)
	body := f.fx.request("before-cluster-upgrade.v1beta2.json", f.hookNS, f.hookName)
	var sample []time.Duration
	one := func() {
		start := time.Now()
		if a, err := call.post(pathBCU, body); err == nil && expect(a, 0) == nil {
			sample = append(sample, time.Since(start))
		}
	}
	if during == nil {
		for range f.o.hooksCallsPerSize {
			one()
		}
		return summarize(sample)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		during()
	}()
	for {
		select {
		case <-done:
			return summarize(sample)
		case <-ctx.Done():
			return summarize(sample)
		default:
			one()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// requestKind names what a request reads or writes: the resource, and
// whether it names one object, without namespace or name.
func requestKind(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// /api/v1/... or /apis/<group>/<version>/...
	rest := parts[2:]
	if parts[0] == "apis" && len(parts) > 3 {
		rest = parts[3:]
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:]
	}
	switch len(rest) {
	case 0:
		return path
	case 1:
		return rest[0]
	}
	return rest[0] + " by name"
}
