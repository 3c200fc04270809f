package konnector

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestPlanRollout_MovesABatchLeastMovedFirstAndPausesOnAFailedInstall(t *testing.T) {
	at := func(minute int) time.Time { return time.Date(2026, 12, 1, 10, minute, 0, 0, time.UTC) }
	deployed, failed, pending := Release{Phase: ReleaseDeployed}, Release{Phase: ReleaseFailed}, Release{Phase: ReleasePending}
	stale := func(cluster string, minute int, r Release) RolloutCluster {
		return RolloutCluster{Cluster: key(cluster), Stale: true, Generation: 1, Since: at(minute), Release: r}
	}
	// written is a stale Cluster whose HelmChartProxy spec was written
	// generation times, last at minute.
	written := func(cluster string, generation int64, minute int) RolloutCluster {
		return RolloutCluster{Cluster: key(cluster), Stale: true, Generation: generation, Since: at(minute), Release: deployed}
	}
	current := func(cluster string, r Release) RolloutCluster {
		return RolloutCluster{Cluster: key(cluster), Release: r}
	}

	cases := []struct {
		name     string
		clusters []RolloutCluster
		batch    int
		want     Rollout
	}{
		{"nothing stale: no rollout, whatever fails", []RolloutCluster{current("ns/a", failed), current("ns/b", deployed)}, 2, Rollout{}},
		{"a batch, oldest change first", []RolloutCluster{stale("ns/c", 3, deployed), stale("ns/a", 5, deployed), stale("ns/b", 1, failed), current("ns/d", deployed)}, 2,
			Rollout{Move: keys("ns/b", "ns/c"), Held: 1}},
		{"same time: by name", []RolloutCluster{stale("ns/b", 1, deployed), stale("ns/a", 1, deployed)}, 1,
			Rollout{Move: keys("ns/a"), Held: 1}},
		// managedFields times have one-second resolution: a Cluster created
		// and one moved by the previous batch in the same second read the
		// same time. The one never moved goes first, whatever the names.
		{"same second: the Cluster never moved before the one already moved", []RolloutCluster{written("ns/a", 2, 1), written("ns/c", 1, 1)}, 1,
			Rollout{Move: keys("ns/c"), Held: 1}},
		{"fewer writes first, even when written later", []RolloutCluster{written("ns/a", 3, 1), written("ns/b", 2, 9), written("ns/c", 2, 4)}, 2,
			Rollout{Move: keys("ns/c", "ns/b"), Held: 1}},
		{"same writes and same second: by name", []RolloutCluster{written("ns/b", 2, 1), written("ns/a", 2, 1), written("ns/c", 1, 1)}, 2,
			Rollout{Move: keys("ns/c", "ns/a"), Held: 1}},
		{"by name across namespaces", []RolloutCluster{written("z/a", 1, 1), written("a/z", 1, 1)}, 1,
			Rollout{Move: keys("a/z"), Held: 1}},
		{"batch larger than what is stale", []RolloutCluster{stale("ns/a", 1, deployed)}, 5, Rollout{Move: keys("ns/a")}},
		{"a moved Cluster failed: paused, nothing moves", []RolloutCluster{stale("ns/a", 1, deployed), stale("ns/b", 2, deployed), current("ns/z", failed), current("ns/y", failed), current("ns/x", pending)}, 2,
			Rollout{Held: 2, PausedBy: keys("ns/y", "ns/z")}},
		{"a moved Cluster still pending: the rollout goes on", []RolloutCluster{stale("ns/a", 1, deployed), current("ns/x", pending)}, 1,
			Rollout{Move: keys("ns/a")}},
		{"a stale Cluster's own failure does not pause", []RolloutCluster{stale("ns/a", 1, failed), stale("ns/b", 2, deployed)}, 1,
			Rollout{Move: keys("ns/a"), Held: 1}},
		{"batch 0: all at once, never paused", []RolloutCluster{stale("ns/a", 1, deployed), stale("ns/b", 2, deployed), current("ns/z", failed)}, 0,
			Rollout{Move: keys("ns/a", "ns/b")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PlanRollout(c.clusters, c.batch); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("PlanRollout:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestRolloutReport_SaysWhatMovedAndWhyItPaused(t *testing.T) {
	if r := (Rollout{}).Report(5); r != nil {
		t.Fatalf("nothing moved or held: %+v", r)
	}
	moving := Rollout{Move: keys("ns/a", "ns/b"), Held: 3}.Report(2)
	if moving.Paused || moving.Message() != "rollout of a HelmChartProxy change: 2 Clusters moved by this sync (KONNECTOR_ROLLOUT_BATCH=2), 3 wait for the next syncs" {
		t.Fatalf("moving: %+v %q", moving, moving.Message())
	}
	paused := Rollout{Held: 4, PausedBy: keys("ns/a", "ns/b", "ns/c", "ns/d", "ns/e", "ns/f", "ns/g")}.Report(2)
	msg := paused.Message()
	for _, s := range []string{"paused", "ns/a, ns/b, ns/c, ns/d, ns/e and 2 more", "4 Clusters wait", "KONNECTOR_ROLLOUT_BATCH=0"} {
		if !paused.Paused || !strings.Contains(msg, s) {
			t.Errorf("paused: %q does not say %q", msg, s)
		}
	}
}

func TestHeldAndLeft_TheOutcomesOfAHeldCluster(t *testing.T) {
	upToDate := ClusterOutcome{Cluster: "ns/a", Outcome: OutcomeUpToDate, Message: "up to date"}
	applied := ClusterOutcome{Cluster: "ns/a", Outcome: OutcomeApplied, Message: "wrote the Secret"}
	installFailed := ClusterOutcome{Cluster: "ns/a", Outcome: OutcomeInstallFailed, Message: "CAAPH reports chart 1.0.0 failed"}
	paused := Rollout{PausedBy: keys("ns/b"), Held: 1}
	cases := []struct {
		name    string
		out     ClusterOutcome
		r       Rollout
		outcome Outcome
		says    string
	}{
		{"up to date otherwise: held", upToDate, Rollout{Held: 1}, OutcomeRolloutHeld, "waits for the rollout"},
		{"the credentials written: still held for the chart", applied, Rollout{Held: 1}, OutcomeRolloutHeld, "waits for the rollout"},
		{"a failed install of the previous chart stays the outcome", installFailed, Rollout{Held: 1}, OutcomeInstallFailed, "failed"},
		{"held under a paused rollout: says it is paused", upToDate, paused, OutcomeRolloutHeld, "the rollout is paused"},
		{"a failed install under a paused rollout stays", installFailed, paused, OutcomeInstallFailed, "failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.r.Left(Held(c.out))
			if got.Cluster != "ns/a" || got.Outcome != c.outcome || !strings.Contains(got.Message, c.says) {
				t.Fatalf("outcome %+v, want %s saying %q", got, c.outcome, c.says)
			}
		})
	}
}

// key and keys read Clusters named <namespace>/<name>.
func key(s string) types.NamespacedName {
	k, ok := ParseKey(s)
	if !ok {
		panic("not <namespace>/<name>: " + s)
	}
	return k
}

func keys(names ...string) []types.NamespacedName {
	out := make([]types.NamespacedName, len(names))
	for i, n := range names {
		out[i] = key(n)
	}
	return out
}
