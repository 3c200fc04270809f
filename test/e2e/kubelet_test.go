package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// hookAnnotation marks the chart's hook objects (Helm's helm.sh/hook).
const hookAnnotation = "helm.sh/hook"

// verdict is what the kubelet stand-in does with a chart hook pod.
type verdict string

const (
	// succeed sets the pod's phase Succeeded: the hook ran.
	succeed verdict = "Succeeded"
	// fail sets the pod's phase Failed, as the agent's hook does when Prism
	// Central cannot be reached.
	fail verdict = "Failed"
	// hold leaves the pod Pending, so Helm keeps waiting on it.
	hold verdict = "hold"
)

// kubelet plays the kubelet of a workload cluster for the chart's hook pods
// only: no node runs containers here, and Helm waits on a hook pod until
// its phase is Succeeded or Failed. Every pod carrying Helm's hook
// annotation gets the verdict set for its name (Succeeded by default); the
// other pods (the agent's Deployment has no controller here to make any)
// are left alone.
type kubelet struct {
	client  client.Client
	cluster string
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	verdicts map[string]verdict
	// seen is every hook pod it saw, in order, with what it did.
	seen []hookPodRun
}

// hookPodRun is one hook pod the kubelet saw and what it did with it.
type hookPodRun struct {
	Name, Hook string
	// Seen is when it first saw the pod; Finished when it set its phase
	// (zero while held).
	Seen, Finished time.Time
	Phase          verdict
	uid            types.UID
}

func (r hookPodRun) String() string {
	return fmt.Sprintf("%s (%s) seen %s, %s", r.Name, r.Hook, r.Seen.Format("15:04:05.000"), r.Phase)
}

func startKubelet(c client.Client, cluster string) *kubelet {
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubelet{client: c, cluster: cluster, cancel: cancel, done: make(chan struct{}),
		verdicts: map[string]verdict{}}
	go k.run(ctx)
	return k
}

// set decides what happens to the hook pods of that name from now on.
func (k *kubelet) set(pod string, v verdict) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.verdicts[pod] = v
}

// runs returns the hook pods seen so far, in order.
func (k *kubelet) runs() []hookPodRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]hookPodRun(nil), k.seen...)
}

// runsOf returns the runs of the hook pods of that name.
func (k *kubelet) runsOf(pod string) []hookPodRun {
	var out []hookPodRun
	for _, r := range k.runs() {
		if r.Name == pod {
			out = append(out, r)
		}
	}
	return out
}

// run polls the hook pods every 100ms: a poll rather than a watch keeps the
// stand-in to one request a tick and needs no resync logic when a held pod
// is released.
func (k *kubelet) run(ctx context.Context) {
	defer close(k.done)
	for {
		k.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (k *kubelet) tick(ctx context.Context) {
	pods := &corev1.PodList{}
	if err := k.client.List(ctx, pods); err != nil {
		return // the API server is starting or stopping; try again
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		hook := pod.Annotations[hookAnnotation]
		if hook == "" || pod.DeletionTimestamp != nil {
			continue
		}
		v := k.observe(pod, hook)
		if v == hold || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"phase": string(v)}})
		if err := k.client.Status().Patch(ctx, pod, client.RawPatch(types.MergePatchType, patch)); err != nil {
			continue
		}
		k.finished(pod.UID, v)
	}
}

// observe records a new hook pod and returns its verdict.
func (k *kubelet) observe(pod *corev1.Pod, hook string) verdict {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.verdicts[pod.Name]
	if !ok {
		v = succeed
	}
	known := false
	for _, r := range k.seen {
		if r.uid == pod.UID {
			known = true
		}
	}
	if !known {
		k.seen = append(k.seen, hookPodRun{Name: pod.Name, Hook: strings.TrimSpace(hook), Seen: time.Now(), Phase: hold, uid: pod.UID})
	}
	return v
}

func (k *kubelet) finished(uid types.UID, v verdict) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.seen {
		if k.seen[i].uid == uid {
			k.seen[i].Finished, k.seen[i].Phase = time.Now(), v
		}
	}
}

func (k *kubelet) stop() {
	if k == nil {
		return
	}
	k.cancel()
	<-k.done
}
