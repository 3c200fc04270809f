package konnector

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestUninstallState_NextStep(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	timeout := 5 * time.Minute
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	hcp := func(deleted *metav1.Time) *caaphv1.HelmChartProxy {
		return &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "konnector-agent-c", DeletionTimestamp: deleted}}
	}
	hrp := func(name string, deleted *metav1.Time) caaphv1.HelmReleaseProxy {
		return caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, DeletionTimestamp: deleted}}
	}
	orphaned := UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}
	cases := []struct {
		name     string
		state    UninstallState
		deleting bool // the Cluster is being deleted
		want     UninstallStep
	}{
		{"nothing left", UninstallState{}, true, UninstallDone},
		{"proxy present", UninstallState{HelmChartProxy: hcp(nil), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, true, UninstallStart},
		{"proxy present, live cluster", UninstallState{HelmChartProxy: hcp(nil)}, false, UninstallStart},
		{"proxy deleting, release not yet", UninstallState{HelmChartProxy: hcp(at(time.Second)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, true, UninstallWait},
		{"proxy deleting, release deleting", UninstallState{HelmChartProxy: hcp(at(time.Minute)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(time.Minute))}}, true, UninstallWait},
		{"proxy gone, release deleting", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(time.Minute))}}, true, UninstallWait},
		{"proxy gone, release orphaned", orphaned, true, UninstallDeleteOrphans},
		{"proxy gone, release orphaned, live cluster", orphaned, false, UninstallDeleteOrphans},
		{"proxy gone, one release deleting one orphaned", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("a", at(time.Minute)), hrp("b", nil)}}, true, UninstallDeleteOrphans},
		{"timeout reached exactly", UninstallState{HelmChartProxy: hcp(at(timeout))}, true, UninstallForce},
		{"timeout passed", UninstallState{HelmChartProxy: hcp(at(time.Hour)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", nil)}}, true, UninstallForce},
		{"timeout counted from the earliest deletion", UninstallState{HelmChartProxy: hcp(at(time.Minute)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(6*time.Minute))}}, true, UninstallForce},
		{"just inside the timeout", UninstallState{HelmChartProxy: hcp(at(timeout - time.Second))}, true, UninstallWait},
		// A live Cluster is never forced: past the timeout it is stuck.
		{"live cluster, timeout reached exactly", UninstallState{HelmChartProxy: hcp(at(timeout))}, false, UninstallStuck},
		{"live cluster, timeout passed", UninstallState{HelmChartProxy: hcp(at(time.Hour)), HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("r", at(time.Hour))}}, false, UninstallStuck},
		{"live cluster, timed out, orphan still deleted first", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{hrp("a", at(time.Hour)), hrp("b", nil)}}, false, UninstallDeleteOrphans},
		{"live cluster, just inside the timeout", UninstallState{HelmChartProxy: hcp(at(timeout - time.Second))}, false, UninstallWait},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.state.NextStep(now, timeout, c.deleting); got != c.want {
				t.Fatalf("NextStep = %d, want %d", got, c.want)
			}
		})
	}
}

func TestUninstallState_StuckReasonIsCAAPHsOwnWord(t *testing.T) {
	cond := func(typ, reason, message string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: message}
	}
	release := func(name string, conds ...metav1.Condition) caaphv1.HelmReleaseProxy {
		r := caaphv1.HelmReleaseProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
		r.Status.Conditions = conds
		return r
	}
	proxy := &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	proxy.Status.Conditions = []metav1.Condition{cond("Ready", "HelmReleaseProxiesNotReady", "proxy says")}
	cases := []struct {
		name  string
		state UninstallState
		want  string
	}{
		{"nothing said", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{release("r")}}, ""},
		{"the release's HelmReleaseReady first", UninstallState{HelmChartProxy: proxy, HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			release("r", cond("Ready", "Other", "ready says"), cond("HelmReleaseReady", "HelmReleaseDeletionFailed", "pre-delete hook failed")),
		}}, "HelmReleaseProxy ns/r HelmReleaseDeletionFailed: pre-delete hook failed"},
		{"then the release's Ready", UninstallState{HelmChartProxy: proxy, HelmReleaseProxies: []caaphv1.HelmReleaseProxy{release("r", cond("Ready", "GetKubeconfigFailed", "no kubeconfig"))}}, "HelmReleaseProxy ns/r GetKubeconfigFailed: no kubeconfig"},
		{"then the proxy's Ready", UninstallState{HelmChartProxy: proxy}, "HelmChartProxy ns/p HelmReleaseProxiesNotReady: proxy says"},
		{"in name order", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			release("z", cond("HelmReleaseReady", "HelmReleaseDeletionFailed", "z failed")), release("a", cond("HelmReleaseReady", "HelmReleaseDeletionFailed", "a failed")),
		}}, "HelmReleaseProxy ns/a HelmReleaseDeletionFailed: a failed"},
		{"Helm's multi-line error on one line", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			release("r", cond("HelmReleaseReady", "HelmReleaseDeletionFailed", "1 error occurred:\n\t* pod hook-predelete failed\n\n")),
		}}, "HelmReleaseProxy ns/r HelmReleaseDeletionFailed: 1 error occurred: * pod hook-predelete failed"},
		{"a true condition is no reason", UninstallState{HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			release("r", metav1.Condition{Type: "HelmReleaseReady", Status: metav1.ConditionTrue, Reason: "Deployed", Message: "fine"}),
		}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.state.StuckReason(); got != c.want {
				t.Fatalf("StuckReason() = %q, want %q", got, c.want)
			}
		})
	}
}

func TestUninstallState_RemainingIsSortedAndComplete(t *testing.T) {
	s := UninstallState{
		HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}},
		HelmReleaseProxies: []caaphv1.HelmReleaseProxy{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "z"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}},
		},
	}
	if got, want := s.Remaining(), "HelmChartProxy ns/p, HelmReleaseProxy ns/a, HelmReleaseProxy ns/z"; got != want {
		t.Fatalf("Remaining() = %q, want %q", got, want)
	}
}

func TestTimeoutMessage_SaysWhatToCheck(t *testing.T) {
	m := TimeoutMessage("konnector-agent", "ns/c", 5*time.Minute, "HelmReleaseProxy ns/r")
	for _, want := range []string{"did not finish within 5m0s", "HelmReleaseProxy ns/r", "may still be registered in Prism Central", "ns/c"} {
		if !strings.Contains(m, want) {
			t.Fatalf("message %q lacks %q", m, want)
		}
	}
}

func TestOursToUninstall_TouchesOnlyOurObjects(t *testing.T) {
	meta := func(cluster string) metav1.ObjectMeta {
		om := metav1.ObjectMeta{Namespace: "ns", Name: ObjectName("c")}
		if cluster != "" {
			om.Labels = Labels(cluster)
		}
		return om
	}
	hcp := func(cluster string) *caaphv1.HelmChartProxy {
		return &caaphv1.HelmChartProxy{ObjectMeta: meta(cluster)}
	}
	crs := func(cluster string) *addonsv1.ClusterResourceSet {
		return &addonsv1.ClusterResourceSet{ObjectMeta: meta(cluster)}
	}
	releases := []caaphv1.HelmReleaseProxy{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "konnector-agent-c-x7k2p"}}}
	cases := []struct {
		name         string
		hcp          *caaphv1.HelmChartProxy
		releases     []caaphv1.HelmReleaseProxy
		delivery     *addonsv1.ClusterResourceSet
		wantState    bool
		wantReleases int
		wantDelivery bool
	}{
		{"ours: all of it", hcp("c"), releases, crs("c"), true, 1, true},
		{"a HelmChartProxy without our labels: neither it nor its releases", hcp(""), releases, crs("c"), false, 0, true},
		{"another Cluster's labels are not ours", hcp("d"), releases, crs("d"), false, 0, false},
		{"no HelmChartProxy: the releases an uninstall left", nil, releases, nil, false, 1, false},
		{"nothing read", nil, nil, nil, false, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state, delivery := OursToUninstall("c", Current{HelmChartProxy: c.hcp, HelmReleaseProxies: c.releases, ClusterResourceSet: c.delivery})
			if (state.HelmChartProxy != nil) != c.wantState || len(state.HelmReleaseProxies) != c.wantReleases || (delivery != nil) != c.wantDelivery {
				t.Fatalf("state %+v, delivery %v; want HelmChartProxy %t, %d HelmReleaseProxies, delivery %t",
					state, delivery, c.wantState, c.wantReleases, c.wantDelivery)
			}
		})
	}
}

// TestDecideBeforeDelete_AndDecideDisabled cover the answers, Events and
// outcomes of BeforeClusterDelete and of Sync for a disabled addon, step by
// step (the steps themselves: TestUninstallState_NextStep).
func TestDecideBeforeDelete_AndDecideDisabled(t *testing.T) {
	s := testSettings(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	key := types.NamespacedName{Namespace: "ns", Name: "c"}
	live := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	deleting := &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", DeletionTimestamp: at(time.Minute)}}
	ours := func(uid string, deleted *metav1.Time) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ns", Name: ObjectName("c"), UID: types.UID(uid), Labels: Labels("c"), DeletionTimestamp: deleted}
	}
	hcp := &caaphv1.HelmChartProxy{ObjectMeta: ours("hcp-uid", nil)}
	started := UninstallState{HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: ours("hcp-uid", at(time.Minute))}}
	timedOut := UninstallState{HelmChartProxy: &caaphv1.HelmChartProxy{ObjectMeta: ours("hcp-uid", at(time.Hour))}}
	delivery := &addonsv1.ClusterResourceSet{ObjectMeta: ours("crs-uid", nil)}
	secret := &corev1.Secret{ObjectMeta: ours("secret-uid", nil)}

	type want struct {
		step    UninstallStep
		retry   bool
		says    string
		event   string // reason, "" for none
		key     string
		outcome Outcome
		deletes int
	}
	check := func(t *testing.T, u Uninstall, outcome Outcome, deletes []client.Object, w want) {
		t.Helper()
		reason, eventKey := "", ""
		if u.Event != nil {
			reason, eventKey = u.Event.Reason, u.Event.Key
			if u.Event.Message != u.Message {
				t.Errorf("Event message %q, want the answer's", u.Event.Message)
			}
		}
		if u.Step != w.step || u.Retry != w.retry || !strings.Contains(u.Message, w.says) || reason != w.event || eventKey != w.key || outcome != w.outcome || len(deletes) != w.deletes {
			t.Fatalf("step %d, retry %t, Event %q key %q, outcome %s, %d deletes\nmessage %q\nwant step %d, retry %t, Event %q key %q, outcome %s, %d deletes, saying %q",
				u.Step, u.Retry, reason, eventKey, outcome, len(deletes), u.Message, w.step, w.retry, w.event, w.key, w.outcome, w.deletes, w.says)
		}
	}

	t.Run("BeforeClusterDelete", func(t *testing.T) {
		cases := []struct {
			name     string
			cluster  *clusterv1.Cluster
			state    UninstallState
			delivery *addonsv1.ClusterResourceSet
			want     want
		}{
			{"no Cluster", nil, UninstallState{HelmChartProxy: hcp}, delivery, want{says: "Cluster ns/c not found: nothing to uninstall"}},
			{"a live Cluster keeps its agent", live, UninstallState{HelmChartProxy: hcp}, delivery, want{says: "is not being deleted: the Konnector Agent is left in place"}},
			{"start: the HelmChartProxy goes, one Event per proxy", deleting, UninstallState{HelmChartProxy: hcp}, delivery,
				want{step: UninstallStart, retry: true, says: "started Helm uninstall of konnector-agent: deleted HelmChartProxy ns/konnector-agent-c", event: ReasonUninstallStarted, key: "hcp-uid"}},
			{"wait for CAAPH, no Event", deleting, started, delivery,
				want{step: UninstallWait, retry: true, says: "HelmChartProxy ns/konnector-agent-c still present"}},
			{"past the timeout: release the finalizers, and the deletion goes on", deleting, timedOut, delivery,
				want{step: UninstallForce, says: "did not finish within 5m0s; released HelmChartProxy ns/konnector-agent-c", event: ReasonUninstallTimeout, key: "HelmChartProxy ns/konnector-agent-c"}},
			{"done, the agent was deployed: removed", deleting, UninstallState{}, delivery,
				want{says: "Konnector Agent removed from Cluster ns/c", event: ReasonRemoved, key: "crs-uid"}},
			{"done, never deployed: nothing to tell", deleting, UninstallState{}, nil,
				want{says: "nothing left to uninstall"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				check(t, DecideBeforeDelete(key, c.cluster, c.state, c.delivery, now, s), 0, nil, c.want)
			})
		}
	})

	t.Run("Sync, the addon disabled", func(t *testing.T) {
		withDelivery := Current{ClusterResourceSet: delivery, ResourceSetSecret: secret}
		deletingDelivery := Current{ClusterResourceSet: &addonsv1.ClusterResourceSet{ObjectMeta: ours("crs-uid", at(time.Second))}, ResourceSetSecret: secret}
		cases := []struct {
			name    string
			cluster *clusterv1.Cluster
			state   UninstallState
			current Current
			want    want
		}{
			{"the Cluster being deleted meanwhile is left to BeforeClusterDelete", deleting, UninstallState{HelmChartProxy: hcp}, withDelivery,
				want{says: "BeforeClusterDelete uninstalls the Konnector Agent", outcome: OutcomeLeftToHooks}},
			{"the Cluster gone meanwhile, too", nil, UninstallState{HelmChartProxy: hcp}, withDelivery,
				want{says: "BeforeClusterDelete uninstalls", outcome: OutcomeLeftToHooks}},
			{"start", live, UninstallState{HelmChartProxy: hcp}, withDelivery,
				want{step: UninstallStart, retry: true, says: "started Helm uninstall", event: ReasonUninstallStarted, key: "hcp-uid", outcome: OutcomeUninstalling}},
			{"wait", live, started, withDelivery,
				want{step: UninstallWait, retry: true, says: "waiting for Helm uninstall", outcome: OutcomeUninstalling}},
			{"past the timeout a live Cluster is never forced: stuck, and the delivery stays", live, timedOut, withDelivery,
				want{step: UninstallStuck, retry: true, says: "has not finished within 5m0s", event: ReasonUninstallStuck, key: "HelmChartProxy ns/konnector-agent-c", outcome: OutcomeUninstallStuck}},
			{"done: the delivery goes, and the answer says how to delete the workload Secret", live, UninstallState{}, withDelivery,
				want{says: "deleted ClusterResourceSet ns/konnector-agent-c, Secret ns/konnector-agent-c. The Secret ntnx-system/", event: ReasonRemoved, key: "crs-uidsecret-uid", outcome: OutcomeUninstalled, deletes: 2}},
			{"done, the ClusterResourceSet already being deleted: not deleted again", live, UninstallState{}, deletingDelivery,
				want{says: "deleted Secret ns/konnector-agent-c.", event: ReasonRemoved, key: "secret-uid", outcome: OutcomeUninstalled, deletes: 1}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				u, outcome, deletes := DecideDisabled(key, c.cluster, c.state, c.current, now, s)
				check(t, u, outcome, deletes, c.want)
			})
		}
	})
}
