package konnector

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// TestDecideDeploy covers every way a deploy of the hooks and Sync ends,
// from what was read: the answer, the Event, the writes and Sync's outcome.
func TestDecideDeploy(t *testing.T) {
	s := testSettings(t)
	block := s
	block.OnInvalidConfig = settings.OnInvalidConfigBlock
	now := metav1.Now()
	initialized := func(c *clusterv1.Cluster) *clusterv1.Cluster {
		c.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
		return c
	}
	cluster := func(edit func(*clusterv1.Cluster)) *clusterv1.Cluster {
		c := initialized(testCluster("c"))
		c.Spec.Topology = *topology(variables(`{` + pc + `,"addons":{"konnectorAgent":{}}}`))
		if edit != nil {
			edit(c)
		}
		return c
	}
	secretKey := types.NamespacedName{Namespace: "ns1", Name: defaultSecret}
	creds := map[types.NamespacedName]*corev1.Secret{secretKey: {
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: defaultSecret},
		Data:       map[string][]byte{"username": []byte("u"), "password": []byte("p")},
	}}
	noPassword := map[types.NamespacedName]*corev1.Secret{secretKey: {
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: defaultSecret},
		Data:       map[string][]byte{"username": []byte("u")},
	}}
	absent := map[types.NamespacedName]*corev1.Secret{secretKey: nil}
	facts := func(c *clusterv1.Cluster, secrets map[types.NamespacedName]*corev1.Secret, current Current) DeployFacts {
		f := DeployFacts{Cluster: c, Current: current, Secrets: secrets}
		f.Config, f.ConfigErr = ReadConfigWith(&c.Spec.Topology, s)
		return f
	}
	// upToDate is what exists after a deploy of cluster(nil) with creds.
	upToDate := func(edit func(d Desired)) Current {
		f := facts(cluster(nil), creds, Current{})
		want := written(DecideDeploy(f, s, DeployRules{}).Writes)
		if edit != nil {
			edit(Desired{HelmChartProxy: want.HelmChartProxy, ClusterResourceSet: want.ClusterResourceSet, ResourceSetSecret: want.ResourceSetSecret})
		}
		return want
	}

	cases := []struct {
		name    string
		facts   DeployFacts
		rules   DeployRules
		s       settings.Settings
		outcome Outcome
		failure bool
		says    string
		// event is the reason of the Event recorded with the answer; "" for none.
		event      string
		writes     []string
		creates    bool
		held       bool
		readSecret bool
	}{
		{name: "a Cluster being deleted is left to BeforeClusterDelete",
			facts:   facts(cluster(func(c *clusterv1.Cluster) { c.DeletionTimestamp = &now }), creds, Current{}),
			outcome: OutcomeLeftToHooks, says: "is being deleted: the Konnector Agent is not deployed"},
		{name: "the addon not enabled: nothing to do",
			facts:   facts(cluster(func(c *clusterv1.Cluster) { c.Spec.Topology = *topology(variables(`{` + pc + `}`)) }), creds, Current{}),
			outcome: OutcomeNotEnabled, says: "is not enabled for Cluster ns1/c"},
		{name: "an invalid configuration: Success and a Warning Event by default",
			facts:   facts(cluster(func(c *clusterv1.Cluster) { c.Spec.Topology = *topology(variables(`{"addons":{"konnectorAgent":{}}}`)) }), creds, Current{}),
			outcome: OutcomeFailed, says: "the Konnector Agent is not deployed on Cluster ns1/c", event: ReasonNotDeployed},
		{name: "an invalid configuration under Block: Failure and the Event",
			facts: facts(cluster(func(c *clusterv1.Cluster) { c.Spec.Topology = *topology(variables(`{"addons":{"konnectorAgent":{}}}`)) }), creds, Current{}),
			s:     block, outcome: OutcomeFailed, failure: true, says: "the Konnector Agent is not deployed on Cluster ns1/c", event: ReasonNotDeployed},
		{name: "the control plane not initialized: a Failure CAPI calls again on, no Event",
			facts:   facts(cluster(func(c *clusterv1.Cluster) { c.Status.Initialization.ControlPlaneInitialized = nil }), creds, Current{}),
			rules:   DeployRules{RequireInitialized: true},
			outcome: OutcomeFailed, failure: true, says: "is not initialized on the management cluster yet"},
		{name: "BeforeClusterUpgrade does not wait for the initialized condition",
			facts:   facts(cluster(func(c *clusterv1.Cluster) { c.Status.Initialization.ControlPlaneInitialized = nil }), creds, Current{}),
			outcome: OutcomeApplied, writes: []string{"HelmChartProxy", "ClusterResourceSet", "Secret"}, creates: true},
		{name: "the credentials Secret not read yet: read it",
			facts:      facts(cluster(nil), nil, Current{}),
			readSecret: true},
		{name: "the credentials Secret absent: not deployed, say which to create",
			facts:   facts(cluster(nil), absent, Current{}),
			outcome: OutcomeFailed, says: "Secret ns1/" + defaultSecret + ": not found", event: ReasonNotDeployed},
		{name: "the credentials Secret without a password",
			facts:   facts(cluster(nil), noPassword, Current{}),
			outcome: OutcomeFailed, says: "has no value for [password]", event: ReasonNotDeployed},
		{name: "nothing yet: create the three objects",
			facts:   facts(cluster(nil), creds, Current{}),
			outcome: OutcomeApplied, writes: []string{"HelmChartProxy", "ClusterResourceSet", "Secret"}, creates: true},
		{name: "all up to date: no write, no Event",
			facts:   facts(cluster(nil), creds, upToDate(nil)),
			outcome: OutcomeUpToDate, says: "Konnector Agent is up to date"},
		{name: "a rotated password: the Secret alone",
			facts:   facts(cluster(nil), creds, upToDate(func(d Desired) { d.ResourceSetSecret.Data[ResourceSetKey] = []byte("old") })),
			outcome: OutcomeApplied, writes: []string{"Secret"}},
		{name: "a chart change under a rollout is held; the rest is written",
			facts: facts(cluster(nil), creds, upToDate(func(d Desired) {
				d.HelmChartProxy.Spec.Version = "0.0.1"
				d.ResourceSetSecret.Data[ResourceSetKey] = []byte("old")
			})),
			rules:   DeployRules{HoldChartChange: true},
			outcome: OutcomeApplied, writes: []string{"Secret"}, held: true},
		{name: "a chart change alone under a rollout: held, nothing written",
			facts:   facts(cluster(nil), creds, upToDate(func(d Desired) { d.HelmChartProxy.Spec.Version = "0.0.1" })),
			rules:   DeployRules{HoldChartChange: true},
			outcome: OutcomeUpToDate, held: true, says: "Konnector Agent is up to date"},
		{name: "a chart change without a rollout is written",
			facts:   facts(cluster(nil), creds, upToDate(func(d Desired) { d.HelmChartProxy.Spec.Version = "0.0.1" })),
			outcome: OutcomeApplied, writes: []string{"HelmChartProxy"}},
		{name: "an object of our name that is not ours: refused, nothing written",
			facts:   facts(cluster(nil), creds, upToDate(func(d Desired) { d.ClusterResourceSet.Labels = nil })),
			outcome: OutcomeFailed, says: "already exists and is not managed by konnector-hooks", event: ReasonNotDeployed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := c.s
			if set.ChartName == "" {
				set = s
			}
			d := DecideDeploy(c.facts, set, c.rules)
			if c.readSecret {
				if d.ReadSecret == nil || *d.ReadSecret != secretKey || len(d.Writes) != 0 || d.Event != nil {
					t.Fatalf("decision %+v: want to read Secret %s first, and nothing else", d, secretKey)
				}
				return
			}
			var writes []string
			for _, w := range d.Writes {
				writes = append(writes, KindOf(w))
			}
			event := ""
			if d.Event != nil {
				event = d.Event.Reason
				if d.Event.Message != d.Message || d.Event.Type != corev1.EventTypeWarning || !d.Event.Count {
					t.Errorf("Event %+v: want a counted Warning with the answer's message", d.Event)
				}
			}
			if d.ReadSecret != nil || d.Outcome != c.outcome || d.Failure != c.failure || !strings.Contains(d.Message, c.says) || event != c.event ||
				strings.Join(writes, ",") != strings.Join(c.writes, ",") || d.Creates != c.creates || d.Held != c.held {
				t.Fatalf("decision: outcome %s, failure %t, event %q, writes %v, creates %t, held %t, read %v\nmessage %q\nwant outcome %s, failure %t, event %q, writes %v, creates %t, held %t, saying %q",
					d.Outcome, d.Failure, event, writes, d.Creates, d.Held, d.ReadSecret, d.Message, c.outcome, c.failure, c.event, c.writes, c.creates, c.held, c.says)
			}
			if len(d.Writes) > 0 {
				for _, w := range d.Writes {
					w.SetResourceVersion("8")
				}
				message, e := d.Applied()
				if !strings.HasPrefix(message, "Konnector Agent applied") || e.Reason != ReasonApplied || e.Message != message || e.Key == "" {
					t.Errorf("after the writes: %q, Event %+v", message, e)
				}
			}
		})
	}
}

func TestDeploy_Release_ReportsOnlyWhatCAAPHActedOn(t *testing.T) {
	caaph := Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns1/konnector-agent-c-x7k2p", Revision: 2, ChartVersion: "1.0.0"}
	failed := Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns1/konnector-agent-c-x7k2p", ChartVersion: "1.0.0", Message: "boom"}
	chart := &caaphv1.HelmChartProxy{}
	secret := &corev1.Secret{}
	cases := []struct {
		name   string
		d      Deploy
		caaph  Release
		ok     bool
		phase  ReleasePhase
		failed bool
	}{
		{"up to date at CAAPH's version: deployed, an Event once", Deploy{Outcome: OutcomeUpToDate, ChartVersion: "1.0.0"}, caaph, true, ReleaseDeployed, false},
		{"up to date, CAAPH not moved to the desired version yet: pending", Deploy{Outcome: OutcomeUpToDate, ChartVersion: "2.0.0"}, caaph, true, ReleasePending, false},
		{"held: CAAPH's report of the previous version stands", Deploy{Outcome: OutcomeUpToDate, ChartVersion: "2.0.0", Held: true}, failed, true, ReleaseFailed, true},
		{"only the Secret written: reported", Deploy{Outcome: OutcomeApplied, ChartVersion: "1.0.0", Writes: []client.Object{secret}}, failed, true, ReleaseFailed, true},
		{"the HelmChartProxy written by this sync: not yet", Deploy{Outcome: OutcomeApplied, ChartVersion: "2.0.0", Writes: []client.Object{chart, secret}}, failed, false, "", false},
		{"a failed deploy: nothing to report", Deploy{Outcome: OutcomeFailed, Failure: true}, failed, false, "", false},
		{"left to BeforeClusterDelete: nothing", Deploy{Outcome: OutcomeLeftToHooks}, caaph, false, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			release, report, ok := c.d.Release("ns1/c", c.caaph, "")
			if ok != c.ok || release.Phase != c.phase || report.Failed != c.failed {
				t.Fatalf("Release = %+v, %+v, %t; want phase %q, failed %t, ok %t", release, report, ok, c.phase, c.failed, c.ok)
			}
		})
	}
}

// written is what exists once writes are applied, as the server returns
// them (a resourceVersion set).
func written(writes []client.Object) Current {
	var c Current
	for _, w := range writes {
		obj := w.DeepCopyObject().(client.Object)
		obj.SetResourceVersion("7")
		switch o := obj.(type) {
		case *caaphv1.HelmChartProxy:
			c.HelmChartProxy = o
		case *addonsv1.ClusterResourceSet:
			c.ClusterResourceSet = o
		case *corev1.Secret:
			c.ResourceSetSecret = o
		}
	}
	return c
}
