package helmrender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	caaphv1 "sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

const afterControlPlaneInitializedPath = "/hooks.runtime.cluster.x-k8s.io/v1alpha1/aftercontrolplaneinitialized/after-control-plane-initialized?timeout=10s"

// hookAnswer is the part of a hook response these tests read.
type hookAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// afterControlPlaneInitialized calls the product as CAPI does, with the
// settings the KONNECTOR_* environment gives, and returns its answer, the
// HTTP status and what it logged.
func afterControlPlaneInitialized(ctx context.Context, namespace, name string) (hookAnswer, int, string, error) {
	s, err := settings.Load()
	if err != nil {
		return hookAnswer{}, 0, "", fmt.Errorf("loading the settings from KONNECTOR_*: %w", err)
	}
	var logs bytes.Buffer
	srv := handlers.New(s, kube.NewOpener(func() (*rest.Config, error) { return env.Config, nil }), slog.New(slog.NewJSONHandler(&logs, nil)))
	ts := httptest.NewServer(srv.Router())
	defer ts.Close()

	body, err := requestBody(namespace, name)
	if err != nil {
		return hookAnswer{}, 0, "", err
	}
	// As CAPI's runtime client: POST, no Content-Type, ?timeout=.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+afterControlPlaneInitializedPath, bytes.NewReader(body))
	if err != nil {
		return hookAnswer{}, 0, "", err
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		return hookAnswer{}, 0, logs.String(), fmt.Errorf("calling AfterControlPlaneInitialized: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return hookAnswer{}, resp.StatusCode, logs.String(), err
	}
	var answer hookAnswer
	if err := json.Unmarshal(raw, &answer); err != nil {
		return hookAnswer{}, resp.StatusCode, logs.String(), fmt.Errorf("decoding the answer %q: %w", raw, err)
	}
	return answer, resp.StatusCode, logs.String(), nil
}

// requestBody is the repository's sample AfterControlPlaneInitialized
// request, pointed at the given Cluster.
func requestBody(namespace, name string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "after-control-plane-initialized.v1beta2.json"))
	if err != nil {
		return nil, err
	}
	var req map[string]interface{}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("decoding test/testdata/after-control-plane-initialized.v1beta2.json: %w", err)
	}
	cluster, _ := req["cluster"].(map[string]interface{})
	meta, _ := cluster["metadata"].(map[string]interface{})
	if meta == nil {
		return nil, fmt.Errorf("test/testdata/after-control-plane-initialized.v1beta2.json has no cluster.metadata")
	}
	meta["namespace"], meta["name"] = namespace, name
	if labels, ok := meta["labels"].(map[string]interface{}); ok {
		labels[clusterv1.ClusterNameLabel] = name
	}
	return json.Marshal(req)
}

// helmChartProxy reads the HelmChartProxy the hooks wrote for the Cluster.
func helmChartProxy(ctx context.Context, cluster *clusterv1.Cluster) (*caaphv1.HelmChartProxy, error) {
	hcp := &caaphv1.HelmChartProxy{}
	key := client.ObjectKey{Namespace: cluster.Namespace, Name: konnector.ObjectName(cluster.Name)}
	if err := env.Client.Get(ctx, key, hcp); err != nil {
		return nil, fmt.Errorf("reading HelmChartProxy %s: %w", key, err)
	}
	return hcp, nil
}
