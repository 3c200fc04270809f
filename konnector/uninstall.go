package konnector

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
)

// UninstallStep is what BeforeClusterDelete does next for a deleting cluster.
type UninstallStep int

const (
	// UninstallDone: nothing of the addon is left; deletion may go on.
	UninstallDone UninstallStep = iota
	// UninstallStart: delete the HelmChartProxy so that CAAPH uninstalls the release.
	UninstallStart
	// UninstallDeleteOrphans: the HelmChartProxy is gone but its
	// HelmReleaseProxies are not being deleted: delete them.
	UninstallDeleteOrphans
	// UninstallWait: CAAPH is uninstalling; ask CAPI to call again.
	UninstallWait
	// UninstallForce: the uninstall timed out; release the CAAPH finalizers.
	UninstallForce
)

// UninstallState is what the hooks see of the addon on a deleting cluster.
type UninstallState struct {
	// HelmChartProxy is this addon's proxy for the cluster, nil when absent.
	HelmChartProxy *caaphv1.HelmChartProxy
	// HelmReleaseProxies are the ones CAAPH made for that proxy and cluster.
	HelmReleaseProxies []caaphv1.HelmReleaseProxy
}

// Empty reports whether nothing of the addon is left.
func (u UninstallState) Empty() bool {
	return u.HelmChartProxy == nil && len(u.HelmReleaseProxies) == 0
}

// NextStep decides the next uninstall step at time now. The uninstall clock
// starts at the earliest deletionTimestamp among the objects, normally the
// HelmChartProxy's.
func (u UninstallState) NextStep(now time.Time, timeout time.Duration) UninstallStep {
	if u.Empty() {
		return UninstallDone
	}
	if u.HelmChartProxy != nil && u.HelmChartProxy.DeletionTimestamp == nil {
		return UninstallStart
	}
	started := u.deletionStarted()
	if started == nil {
		return UninstallDeleteOrphans
	}
	if now.Sub(started.Time) >= timeout {
		return UninstallForce
	}
	if u.HelmChartProxy == nil {
		for i := range u.HelmReleaseProxies {
			if u.HelmReleaseProxies[i].DeletionTimestamp == nil {
				return UninstallDeleteOrphans
			}
		}
	}
	return UninstallWait
}

func (u UninstallState) deletionStarted() *metav1.Time {
	var earliest *metav1.Time
	consider := func(t *metav1.Time) {
		if t != nil && (earliest == nil || t.Before(earliest)) {
			earliest = t
		}
	}
	if u.HelmChartProxy != nil {
		consider(u.HelmChartProxy.DeletionTimestamp)
	}
	for i := range u.HelmReleaseProxies {
		consider(u.HelmReleaseProxies[i].DeletionTimestamp)
	}
	return earliest
}

// Remaining names what is still present, in a stable order, e.g.
// "HelmChartProxy ns/a, HelmReleaseProxy ns/b".
func (u UninstallState) Remaining() string {
	var names []string
	if p := u.HelmChartProxy; p != nil {
		names = append(names, "HelmChartProxy "+p.Namespace+"/"+p.Name)
	}
	var releases []string
	for _, r := range u.HelmReleaseProxies {
		releases = append(releases, "HelmReleaseProxy "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(releases)
	return strings.Join(append(names, releases...), ", ")
}

// WithoutFinalizer returns finalizers without the one to drop, keeping every
// other controller's finalizer.
func WithoutFinalizer(finalizers []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(finalizers), func(f string) bool { return f == drop })
}

// TimeoutMessage is the answer when the uninstall did not finish in time.
func TimeoutMessage(release, cluster string, timeout time.Duration, released string) string {
	return fmt.Sprintf("Helm uninstall of %s did not finish within %s; released %s so that deletion can go on. "+
		"The Konnector Agent may still be registered in Prism Central: check Prism Central's list of Kubernetes clusters for %s and unregister it there",
		release, timeout, released, cluster)
}
