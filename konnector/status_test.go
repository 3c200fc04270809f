package konnector

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

func TestStatusOf_SaysTheAddonOurObjectsTheReleaseAndOurLatestEvents(t *testing.T) {
	cluster := testCluster("c")
	at := func(minute int) metav1.Time {
		return metav1.NewTime(time.Date(2026, 12, 1, 10, minute, 0, 0, time.UTC))
	}
	event := func(reason string, minute int, count int32) corev1.Event {
		return corev1.Event{Type: corev1.EventTypeNormal, Reason: reason, LastTimestamp: at(minute), Count: count, Message: "m\n  " + reason}
	}
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Name: "konnector-agent-c"}, Spec: caaphv1.HelmChartProxySpec{ChartName: "konnector-agent", Version: "1.4.0"}}
	crs := &addonsv1.ClusterResourceSet{ObjectMeta: metav1.ObjectMeta{Name: "konnector-agent-c"}}
	invalid := &InputError{Field: "clusterConfig.addons.konnectorAgent.strategy", Problem: "unsupported", Fix: "fix it"}
	pending := Release{Phase: ReleasePending, Message: "CAAPH has not created the HelmReleaseProxy yet"}

	cases := []struct {
		name   string
		cfg    *clusterconfig.Config
		cfgErr error
		hcp    *caaphv1.HelmChartProxy
		crs    *addonsv1.ClusterResourceSet
		secret bool
		events []corev1.Event
		want   ClusterStatus
	}{
		{"off, nothing of ours", nil, nil, nil, nil, false, []corev1.Event{{Reason: "TopologyCreate"}},
			ClusterStatus{Cluster: "ns1/c", Addon: "off", Objects: []string{}, Events: []StatusEvent{}}},
		{"invalid configuration: the problem and its fix", nil, invalid, nil, nil, false, nil,
			ClusterStatus{Cluster: "ns1/c", Addon: "invalid: " + invalid.Error(), Objects: []string{}, Events: []StatusEvent{}}},
		{"another error reading the configuration", nil, errors.New("boom"), nil, nil, false, nil,
			ClusterStatus{Cluster: "ns1/c", Addon: "invalid: boom", Objects: []string{}, Events: []StatusEvent{}}},
		{"on and deployed: our objects and the release; our Events newest first, two at most", &clusterconfig.Config{}, nil, hcp, crs, true,
			[]corev1.Event{event(ReasonApplied, 1, 1), {Reason: "TopologyCreate", LastTimestamp: at(9)}, event(ReasonNotDeployed, 5, 0), event(ReasonApplied, 3, 4)},
			ClusterStatus{Cluster: "ns1/c", Addon: "on",
				Objects: []string{"HelmChartProxy konnector-agent-c (chart konnector-agent 1.4.0)", "ClusterResourceSet konnector-agent-c", "Secret konnector-agent-c (credentials delivery)"},
				Release: &pending,
				Events: []StatusEvent{
					{Type: "Normal", Reason: ReasonNotDeployed, Count: 1, Last: at(5).Time, Message: "m " + ReasonNotDeployed},
					{Type: "Normal", Reason: ReasonApplied, Count: 4, Last: at(3).Time, Message: "m " + ReasonApplied},
				}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := StatusObjects{Cluster: cluster, Current: Current{HelmChartProxy: c.hcp, ClusterResourceSet: c.crs}, Events: c.events}
			if c.secret {
				read.Current.ResourceSetSecret = &corev1.Secret{}
			}
			got := StatusOf(read, c.cfg, c.cfgErr, 2)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("StatusOf:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestStatusRollout_SaysWhereEachClusterStandsAndTheNextStep(t *testing.T) {
	s := testSettings(t)
	cfg, err := ReadConfig(topology(variables(`{`+pc+`,"addons":{"konnectorAgent":{}}}`)), s.DefaultCredentialsSecret)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name, version string, minute int) StatusObjects {
		cluster := testCluster(name)
		old := s
		old.ChartVersion = version
		hcp := DesiredObjects(cluster, cfg, Credentials{}, old).HelmChartProxy
		at := metav1.NewTime(time.Date(2026, 12, 1, 10, minute, 0, 0, time.UTC))
		hcp.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "someone", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{}},
			{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply, Time: &at}}
		return StatusObjects{Cluster: cluster, Current: Current{HelmChartProxy: hcp}}
	}
	var clusters []RolloutCluster
	for _, r := range []StatusObjects{read("c", "0.9.0", 5), read("b", "0.9.0", 1), read("a", s.ChartVersion, 9)} {
		c, ok := RolloutClusterOf(r, cfg, s)
		if !ok {
			t.Fatal("a Cluster with the addon on and a HelmChartProxy is part of a rollout")
		}
		clusters = append(clusters, c)
	}
	if _, ok := RolloutClusterOf(StatusObjects{Cluster: testCluster("d")}, cfg, s); ok {
		t.Fatal("a Cluster without a HelmChartProxy is not part of a rollout")
	}
	states, plan := StatusRollout(clusters, 1)
	want := map[string]string{"ns1/a": "at the desired state", "ns1/b": "moves at the next sync", "ns1/c": "waits for a later sync"}
	if !reflect.DeepEqual(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if line := RolloutLine(plan, 1); line != "Rollout: the next sync moves ns1/b (KONNECTOR_ROLLOUT_BATCH=1); 1 more wait" {
		t.Fatalf("line %q", line)
	}
	clusters[2].Release = Release{Phase: ReleaseFailed}
	states, plan = StatusRollout(clusters, 1)
	if states["ns1/b"] != "waits: the rollout is paused by a failed install on ns1/a" ||
		RolloutLine(plan, 1) != "Rollout: paused by a failed install on ns1/a; 2 Clusters wait for their HelmChartProxy change" {
		t.Fatalf("paused: %v %q", states, RolloutLine(plan, 1))
	}
}
