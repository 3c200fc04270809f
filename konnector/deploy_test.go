package konnector

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"

	"github.com/konnector-hooks/konnector-hooks/settings"
)

// deployFixture gives the desired objects of Cluster c with the addon on,
// and what exists as the API server returns it: what was written, edited
// where a case says so (a deletion timestamp, other labels, an old value).
func deployFixture(t *testing.T) (desired func() Desired, have func(edit func(d Desired)) Current) {
	s := testSettings(t)
	cfg, err := ReadConfig(topology(variables(`{`+pc+`,"addons":{"konnectorAgent":{}}}`)), s.DefaultCredentialsSecret)
	if err != nil {
		t.Fatal(err)
	}
	desired = func() Desired {
		return DesiredObjects(testCluster("c"), cfg, Credentials{Username: []byte("u"), Password: []byte("p")}, s)
	}
	have = func(edit func(d Desired)) Current {
		d := desired()
		if edit != nil {
			edit(d)
		}
		return Current{HelmChartProxy: d.HelmChartProxy, ClusterResourceSet: d.ClusterResourceSet, ResourceSetSecret: d.ResourceSetSecret}
	}
	return desired, have
}

func TestPlanDeploy_WritesWhatDiffersAndRefusesForeignOrDeletingObjects(t *testing.T) {
	desired, have := deployFixture(t)
	now := metav1.Now()
	release := caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "konnector-agent-c-x7k2p", DeletionTimestamp: &now}}
	cases := []struct {
		name    string
		current Current
		writes  []string // kinds written, in order
		creates bool
		refused string // part of the InputError's text
	}{
		{"nothing yet: create all", Current{}, []string{"HelmChartProxy", "ClusterResourceSet", "Secret"}, true, ""},
		{"all up to date", have(nil), nil, false, ""},
		{"a stale password", have(func(d Desired) { d.ResourceSetSecret.Data[ResourceSetKey] = []byte("old") }), []string{"Secret"}, false, ""},
		{"the ClusterResourceSet missing", Current{HelmChartProxy: have(nil).HelmChartProxy, ResourceSetSecret: have(nil).ResourceSetSecret}, []string{"ClusterResourceSet"}, true, ""},
		{"a HelmChartProxy of our name, not ours", have(func(d Desired) { d.HelmChartProxy.Labels = nil }), nil, false,
			"HelmChartProxy ns1/konnector-agent-c: already exists and is not managed by konnector-hooks"},
		{"a Secret of our name for another cluster", have(func(d Desired) { d.ResourceSetSecret.Labels["cluster.x-k8s.io/cluster-name"] = "other" }), nil, false,
			"Secret ns1/konnector-agent-c: already exists and is not managed"},
		{"our HelmChartProxy being deleted, even if up to date", have(func(d Desired) { d.HelmChartProxy.DeletionTimestamp = &now }), nil, false,
			"HelmChartProxy ns1/konnector-agent-c: is being deleted"},
		{"our ClusterResourceSet being deleted", have(func(d Desired) { d.ClusterResourceSet.DeletionTimestamp = &now }), nil, false,
			"ClusterResourceSet ns1/konnector-agent-c: is being deleted"},
		{"the previous uninstall's release proxies left", Current{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{release}}, nil, false,
			"HelmChartProxy ns1/konnector-agent-c: is not created while the previous uninstall of the agent is under way ([HelmReleaseProxy ns1/konnector-agent-c-x7k2p] still present)"},
		{"a hand edit of the chart version is written back", have(func(d Desired) { d.HelmChartProxy.Spec.Version = "0.0.1" }), []string{"HelmChartProxy"}, false, ""},
		{"other managers' labels and annotations: no matter", have(func(d Desired) {
			d.HelmChartProxy.Labels["team"] = "a"
			d.ResourceSetSecret.Annotations = map[string]string{"konnector-hooks/desired-hash": "left by an earlier version"}
		}), nil, false, ""},
		{"release proxies of our present HelmChartProxy: no matter", func() Current { c := have(nil); c.HelmReleaseProxies = []caaphv1.HelmReleaseProxy{release}; return c }(), nil, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := PlanDeploy("c", c.current, desired())
			if c.refused != "" {
				var input *InputError
				if !errors.As(err, &input) || !strings.Contains(err.Error(), c.refused) || input.Fix == "" || input.Transient {
					t.Fatalf("PlanDeploy = %v, %v; want an *InputError saying %q with a fix", plan, err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, obj := range plan.Writes {
				kinds = append(kinds, KindOf(obj))
			}
			if fmt.Sprint(kinds) != fmt.Sprint(c.writes) || plan.Creates != c.creates {
				t.Fatalf("writes %v creates %v, want %v creates %v", kinds, plan.Creates, c.writes, c.creates)
			}
		})
	}
}

func TestNotDeployed_APersonsFixIsSuccessUnlessBlockAndWhatPassesIsFailure(t *testing.T) {
	person := &InputError{Field: "Secret ns/x", Problem: "not found", Fix: "create it"}
	passing := &InputError{Field: "Cluster ns/c", Problem: "not found", Fix: "wait", Transient: true}
	cases := []struct {
		name                 string
		err                  error
		block                bool
		failure, notDeployed bool
	}{
		{"a person fixes it, Continue", person, false, false, true},
		{"a person fixes it, Block", person, true, true, true},
		{"wrapped, Continue", fmt.Errorf("reading: %w", person), false, false, true},
		{"passes by itself, Continue", passing, false, true, false},
		{"passes by itself, Block", passing, true, true, false},
		{"an API error, Continue", errors.New("connection refused"), false, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := settings.Settings{OnInvalidConfig: settings.OnInvalidConfigContinue}
			if c.block {
				s.OnInvalidConfig = settings.OnInvalidConfigBlock
			}
			// NotDeployed: a person must act, told by a KonnectorAgentNotDeployed Event.
			d := notDeployed(types.NamespacedName{Namespace: "ns", Name: "c"}, c.err, s)
			notDeployed := d.Event != nil && d.Event.Reason == ReasonNotDeployed
			if d.Failure != c.failure || notDeployed != c.notDeployed || d.Outcome != OutcomeFailed {
				t.Fatalf("notDeployed = Failure %t, NotDeployed %t, outcome %v; want Failure %t, NotDeployed %t, failed",
					d.Failure, notDeployed, d.Outcome, c.failure, c.notDeployed)
			}
		})
	}
}

func TestDeploy_HoldChartChangeHoldsOnlyAnUpdateOfTheHelmChartProxy(t *testing.T) {
	desired, have := deployFixture(t)
	cases := []struct {
		name        string
		current     Current
		writes      []string
		held, chart bool
	}{
		{"a new Cluster: its HelmChartProxy is created, never held", Current{}, []string{"HelmChartProxy", "ClusterResourceSet", "Secret"}, false, true},
		{"a new chart version and a rotated password: the password goes", have(func(d Desired) {
			d.HelmChartProxy.Spec.Version = "0.9.0"
			d.ResourceSetSecret.Data[ResourceSetKey] = []byte("old")
		}), []string{"Secret"}, true, false},
		{"only the credentials delivery changes: nothing held", have(func(d Desired) { d.ResourceSetSecret.Data[ResourceSetKey] = []byte("old") }), []string{"Secret"}, false, false},
		{"all up to date", have(nil), nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := PlanDeploy("c", c.current, desired())
			if err != nil {
				t.Fatal(err)
			}
			held := plan.HoldChartChange(c.current)
			isHeld := held.Held
			var kinds []string
			for _, obj := range held.Writes {
				kinds = append(kinds, KindOf(obj))
			}
			if fmt.Sprint(kinds) != fmt.Sprint(c.writes) || isHeld != c.held || held.WritesChart() != c.chart || held.Creates != plan.Creates {
				t.Fatalf("writes %v held %v chart %v; want %v held %v chart %v", kinds, isHeld, held.WritesChart(), c.writes, c.held, c.chart)
			}
		})
	}
}
