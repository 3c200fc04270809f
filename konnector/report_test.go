package konnector

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

func TestReportDeploy_SaysWhatWasWrittenAndNamesTheChange(t *testing.T) {
	s := testSettings(t)
	cluster := testCluster("c")
	secure := &clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440, Insecure: true}}
	want := DesiredObjects(cluster, secure, Credentials{}, s)
	warned := DesiredObjects(cluster, &clusterconfig.Config{PrismCentral: clusterconfig.Endpoint{Host: "pc", Port: 9440}}, Credentials{}, s)
	// written gives the desired objects the resourceVersions the server
	// gave them on apply.
	written := func(d Desired, versions ...string) []client.Object {
		objs := []client.Object{d.HelmChartProxy.DeepCopy(), d.ClusterResourceSet.DeepCopy(), d.ResourceSetSecret.DeepCopy()}
		for i, v := range versions {
			objs[i].SetResourceVersion(v)
		}
		return objs[:len(versions)]
	}
	existing := Current{ResourceSetSecret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "7"}}}
	cases := []struct {
		name               string
		want               Desired
		current            Current
		written            []client.Object
		says               []string
		eventType, eventOn string
	}{
		{"nothing written: up to date, no Event", want, existing, nil,
			[]string{"Konnector Agent is up to date: HelmChartProxy ns1/konnector-agent-c installs chart", `as "c"`}, "", ""},
		{"objects created: which, and an Event named by the new versions", want, Current{}, written(want, "11", "12", "13"),
			[]string{"Konnector Agent applied", "(wrote ClusterResourceSet ns1/konnector-agent-c, HelmChartProxy ns1/konnector-agent-c, Secret ns1/konnector-agent-c)"}, corev1.EventTypeNormal, "11/12/13"},
		{"one object written: the others keep their versions in the Event's name", want, existing, written(want, "21"),
			[]string{"(wrote HelmChartProxy ns1/konnector-agent-c)"}, corev1.EventTypeNormal, "21/-/7"},
		{"installed otherwise than configured: a Warning Event", warned, Current{}, written(warned, "31"),
			[]string{"; warning: " + InsecureFallbackWarning}, corev1.EventTypeWarning, "31/-/-"},
		{"up to date with a warning: said in the answer", warned, existing, nil,
			[]string{"is up to date", "; warning: " + InsecureFallbackWarning}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			message, event := ReportDeploy(c.want, "pc", s, c.current, c.written)
			for _, part := range c.says {
				if !strings.Contains(message, part) {
					t.Errorf("message %q does not say %q", message, part)
				}
			}
			if event.Type != c.eventType || event.Key != c.eventOn {
				t.Errorf("Event %q named %q, want %q named %q", event.Type, event.Key, c.eventType, c.eventOn)
			}
		})
	}
}

func TestControlPlaneInitialized_StatusFirstThenTheCondition(t *testing.T) {
	yes, no := true, false
	condition := func(status metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: clusterv1.ClusterControlPlaneInitializedCondition, Status: status}}
	}
	for name, c := range map[string]struct {
		status clusterv1.ClusterStatus
		want   bool
	}{
		"nothing reported":                   {clusterv1.ClusterStatus{}, false},
		"initialization true":                {clusterv1.ClusterStatus{Initialization: clusterv1.ClusterInitializationStatus{ControlPlaneInitialized: &yes}}, true},
		"initialization false wins":          {clusterv1.ClusterStatus{Initialization: clusterv1.ClusterInitializationStatus{ControlPlaneInitialized: &no}, Conditions: condition(metav1.ConditionTrue)}, false},
		"condition true (no initialization)": {clusterv1.ClusterStatus{Conditions: condition(metav1.ConditionTrue)}, true},
		"condition false":                    {clusterv1.ClusterStatus{Conditions: condition(metav1.ConditionFalse)}, false},
	} {
		if got := ControlPlaneInitialized(&clusterv1.Cluster{Status: c.status}); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}
