package e2e

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes"
)

// releases reads the Helm releases of the agent in the workload cluster as
// Helm stores them (Secrets sh.helm.release.v1.<name>.v<revision> in the
// release namespace), newest revision last; none when it is not installed.
func (w *workloadCluster) releases() ([]*release.Release, error) {
	cs, err := kubernetes.NewForConfig(w.config)
	if err != nil {
		return nil, err
	}
	store := driver.NewSecrets(cs.CoreV1().Secrets(chartReleaseNamespace))
	list, err := store.Query(map[string]string{"name": chartReleaseName, "owner": "helm"})
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Helm releases %s/%s in %s: %w", chartReleaseNamespace, chartReleaseName, w, err)
	}
	// Query returns them in the Secrets' list order: sort by revision.
	slices.SortFunc(list, func(a, b *release.Release) int { return a.Version - b.Version })
	return list, nil
}

// latestRelease is the newest revision of the agent's release, nil when it
// is not installed.
func (w *workloadCluster) latestRelease() (*release.Release, error) {
	list, err := w.releases()
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[len(list)-1], nil
}

func describeRelease(r *release.Release) string {
	if r == nil {
		return "no release"
	}
	return fmt.Sprintf("release %s/%s revision %d chart %s-%s status %s", r.Namespace, r.Name, r.Version, r.Chart.Metadata.Name, r.Chart.Metadata.Version, r.Info.Status)
}

// checkUninstallHeld checks the workload cluster while helm uninstall waits
// on hook-predelete: the release is uninstalling and the agent's Deployment
// is still there, since Helm removes the release's objects only after the
// pre-delete hook. It returns the release.
func (w *workloadCluster) checkUninstallHeld(t *testing.T) *release.Release {
	t.Helper()
	rel, err := w.latestRelease()
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil || rel.Info.Status != "uninstalling" {
		t.Errorf("while hook-predelete runs, want the release uninstalling in %s; got %s", w, describeRelease(rel))
	}
	if found, err := w.get(t.Context(), &appsv1.Deployment{}, chartReleaseNamespace, "konnector-agent"); err != nil || !found {
		t.Errorf("the agent's Deployment is gone (err %v) before hook-predelete ran: helm removed the release's objects before the pre-delete hook", err)
	}
	return rel
}
