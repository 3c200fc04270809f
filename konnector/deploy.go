package konnector

import (
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	addonsv1 "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Current is what exists of this addon's objects for one Cluster; nil
// where absent. HelmReleaseProxies are those CAAPH made from our
// HelmChartProxy: left by an uninstall, they hold the release name in the
// workload cluster until CAAPH has uninstalled it.
type Current struct {
	HelmChartProxy     *caaphv1.HelmChartProxy
	ClusterResourceSet *addonsv1.ClusterResourceSet
	ResourceSetSecret  *corev1.Secret
	HelmReleaseProxies []caaphv1.HelmReleaseProxy
}

// Released is CAAPH's report of the release and our HelmChartProxy's
// ReportedReleaseAnnotation.
func (c Current) Released() (caaph Release, reported string) {
	if c.HelmChartProxy != nil {
		reported = c.HelmChartProxy.Annotations[ReportedReleaseAnnotation]
	}
	return ReleaseOf(c.HelmReleaseProxies), reported
}

// pair is one desired object and what exists of it.
type pair struct {
	want client.Object
	have client.Object // nil when absent
}

func (c Current) pairs(d Desired) []pair {
	return []pair{
		{d.HelmChartProxy, ObjectOrNil(c.HelmChartProxy)},
		{d.ClusterResourceSet, ObjectOrNil(c.ClusterResourceSet)},
		{d.ResourceSetSecret, ObjectOrNil(c.ResourceSetSecret)},
	}
}

// ObjectOrNil keeps an absent object a nil interface.
func ObjectOrNil[P interface {
	comparable
	client.Object
}](obj P) client.Object {
	var zero P
	if obj == zero {
		return nil
	}
	return obj
}

// PlanDeploy decides what a deploy writes over the current objects: the
// Writes and Creates of a Deploy of desired. It refuses, with an *InputError, an
// object of our name that is not ours (never taken over), one of ours being
// deleted, and an uninstall still under way, whose `helm uninstall` a new
// HelmChartProxy would race.
func PlanDeploy(cluster string, current Current, desired Desired) (Deploy, error) {
	plan := Deploy{ChartVersion: desired.HelmChartProxy.Spec.Version, want: desired, current: current}
	pairs := current.pairs(desired)
	for _, p := range pairs {
		if p.have != nil && !IsOurs(p.have.GetLabels(), cluster) {
			return Deploy{}, foreignObject(p.want, cluster)
		}
	}
	for _, p := range pairs {
		if p.have != nil && p.have.GetDeletionTimestamp() != nil {
			return Deploy{}, beingDeleted(p.want)
		}
	}
	if current.HelmChartProxy == nil && len(current.HelmReleaseProxies) > 0 {
		return Deploy{}, uninstallPending(desired.HelmChartProxy, current.HelmReleaseProxies)
	}
	for _, p := range pairs {
		if p.have == nil {
			plan.Writes = append(plan.Writes, p.want)
			plan.Creates = true
			continue
		}
		upToDate, err := UpToDate(p.have, p.want)
		if err != nil {
			return Deploy{}, fmt.Errorf("comparing %s %s: %w", KindOf(p.want), client.ObjectKeyFromObject(p.want), err)
		}
		if !upToDate {
			plan.Writes = append(plan.Writes, p.want)
		}
	}
	return plan, nil
}

func foreignObject(obj client.Object, cluster string) error {
	return &InputError{
		Field: fmt.Sprintf("%s %s", KindOf(obj), client.ObjectKeyFromObject(obj)),
		Problem: fmt.Sprintf("already exists and is not managed by konnector-hooks (labels %s=%s, %s=%s missing)",
			labelManagedBy, FieldManager, clusterv1.ClusterNameLabel, cluster),
		Fix: "delete or rename it so that the Konnector Agent can be deployed",
	}
}

func beingDeleted(obj client.Object) error {
	return &InputError{
		Field:   fmt.Sprintf("%s %s", KindOf(obj), client.ObjectKeyFromObject(obj)),
		Problem: "is being deleted (an uninstall of the Konnector Agent is under way)",
		Fix:     "nothing to do: once it is gone, the next sync deploys the agent again; if it stays, see Troubleshooting in konnector-hooks' README",
	}
}

func uninstallPending(proxy client.Object, releases []caaphv1.HelmReleaseProxy) error {
	return &InputError{
		Field:   fmt.Sprintf("HelmChartProxy %s", client.ObjectKeyFromObject(proxy)),
		Problem: fmt.Sprintf("is not created while the previous uninstall of the agent is under way (%v still present)", releaseNames(releases)),
		Fix:     "nothing to do: once CAAPH has uninstalled the release and they are gone, the next sync deploys the agent; if they stay, see Troubleshooting in konnector-hooks' README",
	}
}

// KindOf names the kind of obj, for messages: its TypeMeta's, else its Go
// type's name (a typed object read by a client has no TypeMeta).
func KindOf(obj client.Object) string {
	if kind := obj.GetObjectKind().GroupVersionKind().Kind; kind != "" {
		return kind
	}
	return reflect.TypeOf(obj).Elem().Name()
}

// HoldChartChange is the plan less its update of an existing
// HelmChartProxy, which a rollout decides on, Held set when it had one; a
// new Cluster's HelmChartProxy and the credentials delivery are never held.
func (d Deploy) HoldChartChange(current Current) Deploy {
	writes := d.Writes
	d.Writes = nil
	for _, w := range writes {
		if _, chart := w.(*caaphv1.HelmChartProxy); chart && current.HelmChartProxy != nil {
			d.Held = true
			continue
		}
		d.Writes = append(d.Writes, w)
	}
	return d
}

// WritesChart reports whether the deploy writes the HelmChartProxy.
func (d Deploy) WritesChart() bool {
	return slices.ContainsFunc(d.Writes, func(w client.Object) bool {
		_, chart := w.(*caaphv1.HelmChartProxy)
		return chart
	})
}
