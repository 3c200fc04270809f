package e2e

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// credentialsDelivered waits for CAPI's ClusterResourceSet controller to
// have created, in the workload cluster, the Namespace ntnx-system
// (privileged) and the Secret ntnx-system/konnector-agent holding exactly
// the username and password of the source Secret on the management cluster,
// and returns when it saw them.
func (c *testCluster) credentialsDelivered(t *testing.T, sourceSecret string) time.Time {
	t.Helper()
	source := &corev1.Secret{}
	if err := mgmt.client.Get(t.Context(), client.ObjectKey{Namespace: c.namespace, Name: sourceSecret}, source); err != nil {
		t.Fatalf("reading the credentials Secret %s/%s: %v", c.namespace, sourceSecret, err)
	}
	eventually(t, waitFor, "the ClusterResourceSet to deliver the credentials to "+c.workload.String(), func() (bool, string, error) {
		ns := &corev1.Namespace{}
		found, err := c.workload.get(t.Context(), ns, "", chartReleaseNamespace)
		if err != nil || !found {
			return false, "no Namespace " + chartReleaseNamespace + "; " + c.crsState(t), err
		}
		if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
			return false, fmt.Sprintf("Namespace %s label pod-security.kubernetes.io/enforce=%q, want privileged", chartReleaseNamespace, got), nil
		}
		s := &corev1.Secret{}
		found, err = c.workload.get(t.Context(), s, chartReleaseNamespace, "konnector-agent")
		if err != nil || !found {
			return false, "no Secret ntnx-system/konnector-agent; " + c.crsState(t), err
		}
		keys := slices.Sorted(maps.Keys(s.Data))
		same := slices.Equal(keys, []string{"password", "username"}) &&
			string(s.Data["username"]) == string(source.Data["username"]) && string(s.Data["password"]) == string(source.Data["password"])
		// Only which keys differ, never the values.
		return same, fmt.Sprintf("Secret ntnx-system/konnector-agent has keys %v; username matches %t, password matches %t", keys,
			string(s.Data["username"]) == string(source.Data["username"]), string(s.Data["password"]) == string(source.Data["password"])), nil
	})
	return time.Now()
}

// agentObjects describes this addon's objects of the Cluster that exist on
// the management cluster: the HelmChartProxy, the ClusterResourceSet and the
// resource-set Secret, each with its deletionTimestamp and finalizers.
func (c *testCluster) agentObjects(t *testing.T) []string {
	t.Helper()
	var present []string
	for _, o := range []struct{ apiVersion, kind string }{{caaphAPIVersion, "HelmChartProxy"}, {crsAPIVersion, "ClusterResourceSet"}, {"v1", "Secret"}} {
		obj, found, err := get(t.Context(), o.apiVersion, o.kind, c.namespace, c.proxy)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			present = append(present, fmt.Sprintf("%s %s/%s (deletionTimestamp %v, finalizers %v)", o.kind, c.namespace, c.proxy, obj.GetDeletionTimestamp(), obj.GetFinalizers()))
		}
	}
	return present
}

// agentObjectsGone waits for the HelmChartProxy, the ClusterResourceSet and
// the resource-set Secret of the Cluster to be gone. The ClusterResourceSet
// carries CAPI's finalizer: a delete leaves it to CAPI's controller, which
// removes it within moments.
func (c *testCluster) agentObjectsGone(t *testing.T) {
	t.Helper()
	eventually(t, waitFor, "the HelmChartProxy, ClusterResourceSet and resource-set Secret of "+c.key()+" to be gone", func() (bool, string, error) {
		left := c.agentObjects(t)
		return len(left) == 0, "still present: " + strings.Join(left, ", "), nil
	})
}

// crsState describes the ClusterResourceSet's view, for failure messages.
func (c *testCluster) crsState(t *testing.T) string {
	crs, found, err := get(t.Context(), crsAPIVersion, "ClusterResourceSet", c.namespace, c.proxy)
	if err != nil || !found {
		return fmt.Sprintf("ClusterResourceSet %s/%s not found (%v)", c.namespace, c.proxy, err)
	}
	status, reason, message, _ := condition(crs, "ResourcesApplied")
	return fmt.Sprintf("ClusterResourceSet ResourcesApplied=%s %s %s", status, reason, message)
}

// releaseDeployed waits for CAAPH to have installed or upgraded the agent's
// release in the workload cluster to the chart version and revision, with
// the HelmReleaseProxy Ready, and returns the release.
func (c *testCluster) releaseDeployed(t *testing.T, chartVersion string, revision int) *release.Release {
	t.Helper()
	var rel *release.Release
	eventually(t, waitFor, fmt.Sprintf("CAAPH to deploy revision %d of chart %s-%s in %s", revision, chartName, chartVersion, c.workload), func() (bool, string, error) {
		var err error
		if rel, err = c.workload.latestRelease(); err != nil {
			return false, "", err
		}
		ok := rel != nil && rel.Info.Status == release.StatusDeployed && rel.Chart.Metadata.Version == chartVersion && rel.Version == revision
		return ok, describeRelease(rel) + "; " + c.releaseProxyState(t), nil
	})
	eventually(t, waitFor, "the HelmReleaseProxy of "+c.key()+" to be Ready", func() (bool, string, error) {
		hrps := c.releaseProxies(t)
		if len(hrps) != 1 {
			return false, fmt.Sprintf("%d HelmReleaseProxies", len(hrps)), nil
		}
		status, reason, message, _ := condition(&hrps[0], "Ready")
		rev, _, _ := unstructured.NestedInt64(hrps[0].Object, "status", "revision")
		return status == "True" && rev == int64(revision), fmt.Sprintf("Ready=%s %s %s, status.revision %d", status, reason, message, rev), nil
	})
	return rel
}

// releaseProxyState describes CAAPH's HelmReleaseProxies of the Cluster.
func (c *testCluster) releaseProxyState(t *testing.T) string {
	var parts []string
	for _, hrp := range c.releaseProxies(t) {
		status, reason, message, _ := condition(&hrp, "HelmReleaseReady")
		parts = append(parts, fmt.Sprintf("HelmReleaseProxy %s HelmReleaseReady=%s %s %s", hrp.GetName(), status, reason, message))
	}
	if len(parts) == 0 {
		return "no HelmReleaseProxy"
	}
	return strings.Join(parts, "; ")
}

// checkAgentDeployment checks the agent's Deployment the chart rendered
// from the values the function wrote: its container arguments include
// every one wanted.
func (c *testCluster) checkAgentDeployment(t *testing.T, want []string) {
	t.Helper()
	d := &appsv1.Deployment{}
	found, err := c.workload.get(t.Context(), d, chartReleaseNamespace, "konnector-agent")
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no Deployment %s/konnector-agent in %s", chartReleaseNamespace, c.workload)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("Deployment %s/konnector-agent has no container", chartReleaseNamespace)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("Deployment %s/konnector-agent in %s: argument %q missing; args %q", chartReleaseNamespace, c.workload, w, args)
		}
	}
}

// inventory lists what the workload cluster holds of the agent: the
// Namespace and the kinds of objects in it by name, Secret data never shown.
func (c *testCluster) inventory(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{}
	found, err := c.workload.get(t.Context(), ns, "", chartReleaseNamespace)
	if err != nil {
		return err.Error()
	}
	if !found {
		return "no Namespace " + chartReleaseNamespace
	}
	var parts []string
	add := func(kind string, list client.ObjectList, names func() []string) {
		if err := c.workload.client.List(t.Context(), list, client.InNamespace(chartReleaseNamespace)); err != nil {
			parts = append(parts, kind+": "+err.Error())
			return
		}
		n := names()
		sort.Strings(n)
		parts = append(parts, fmt.Sprintf("%s %v", kind, n))
	}
	secrets, deployments, configMaps, pods, accounts := &corev1.SecretList{}, &appsv1.DeploymentList{}, &corev1.ConfigMapList{}, &corev1.PodList{}, &corev1.ServiceAccountList{}
	add("Secrets", secrets, func() (n []string) {
		for _, s := range secrets.Items {
			n = append(n, s.Name)
		}
		return n
	})
	add("Deployments", deployments, func() (n []string) {
		for _, d := range deployments.Items {
			n = append(n, d.Name)
		}
		return n
	})
	add("ConfigMaps", configMaps, func() (n []string) {
		for _, cm := range configMaps.Items {
			n = append(n, cm.Name)
		}
		return n
	})
	add("Pods", pods, func() (n []string) {
		for _, p := range pods.Items {
			n = append(n, p.Name+"("+string(p.Status.Phase)+")")
		}
		return n
	})
	add("ServiceAccounts", accounts, func() (n []string) {
		for _, a := range accounts.Items {
			n = append(n, a.Name)
		}
		return n
	})
	return "Namespace " + chartReleaseNamespace + ": " + strings.Join(parts, ", ")
}
