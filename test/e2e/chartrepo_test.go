package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// Chart versions the suite's repository serves: the product's default
// (KONNECTOR_CHART_VERSION) and the latest published one, so that a
// restart of the function with the newer version upgrades the release.
const (
	defaultChartVersion   = "1.3.0-rc.0"
	upgradeChartVersion   = "1.4.1"
	chartName             = "konnector-agent"
	chartReleaseName      = "konnector-agent"
	chartReleaseNamespace = "ntnx-system"
)

// chartRepository is a Helm chart repository on loopback: index.yaml and
// the fixture chart packaged once per version, served over plain HTTP as
// Helm's getter (and so CAAPH) fetches any http(s) repository.
type chartRepository struct {
	// URL is the repository URL for KONNECTOR_CHART_REPOSITORY.
	URL    string
	server *http.Server
}

// startChartRepository packages the chart in chartDir at each version
// (Chart.yaml's version rewritten, as `helm package --version` does),
// indexes the packages and serves them.
func startChartRepository(chartDir, dir string, versions ...string) (*chartRepository, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, v := range versions {
		ch, err := loader.Load(chartDir)
		if err != nil {
			return nil, fmt.Errorf("loading the fixture chart %s: %w", chartDir, err)
		}
		if ch.Name() != chartName {
			return nil, fmt.Errorf("the fixture chart %s is named %q, want %q (KONNECTOR_CHART_NAME)", chartDir, ch.Name(), chartName)
		}
		ch.Metadata.Version = v
		if _, err := chartutil.Save(ch, dir); err != nil {
			return nil, fmt.Errorf("packaging %s at version %s: %w", chartDir, v, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + l.Addr().String() + "/"
	index, err := repo.IndexDirectory(dir, url)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("indexing %s: %w", dir, err)
	}
	index.SortEntries()
	if err := index.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		_ = l.Close()
		return nil, err
	}
	r := &chartRepository{URL: url, server: &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = r.server.Serve(l) }()
	return r, nil
}

func (r *chartRepository) stop() {
	if r != nil {
		_ = r.server.Close()
	}
}
