package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// startCAAPH runs the CAAPH controller manager against the management
// cluster, its webhook server on a local port with a serving certificate of
// the suite's CA, then registers CAAPH's admission webhooks (defaulting and
// validation of HelmChartProxy and HelmReleaseProxy) pointed at it, so the
// HelmChartProxies the function writes pass CAAPH's own checks.
//
// Helm's caches and configuration go to the artifacts directory, so a run
// neither reads nor leaves anything in the user's Helm home.
func (mc *managementCluster) startCAAPH(ctx context.Context, cfg config, ca *certificateAuthority) error {
	certDir := filepath.Join(cfg.artifacts, "caaph-webhook-certs")
	if err := ca.writeServingCertDir(certDir, "caaph-webhook-service"); err != nil {
		return err
	}
	helmHome := filepath.Join(cfg.artifacts, "caaph-helm")
	if err := os.MkdirAll(helmHome, 0o755); err != nil {
		return err
	}
	webhookPort, err := freePort()
	if err != nil {
		return err
	}
	healthPort, err := freePort()
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	mc.caaph, err = startProcess("CAAPH manager", filepath.Join(cfg.artifacts, "caaph-manager.log"), env, cfg.caaphManager,
		"--kubeconfig="+mc.kubeconfig,
		fmt.Sprintf("--webhook-port=%d", webhookPort),
		"--webhook-cert-dir="+certDir,
		fmt.Sprintf("--health-addr=127.0.0.1:%d", healthPort),
		"--diagnostics-address=0",
		"--leader-elect=false",
	)
	if err != nil {
		return err
	}
	if err := mc.caaph.waitHTTP200(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort), 2*time.Minute); err != nil {
		return err
	}
	// CAAPH's webhook configurations carry the same kubebuilder default
	// names as CAPI's: prefix them, as a kustomize namePrefix does in
	// CAAPH's release manifests.
	return mc.registerWebhooks(ctx, cfg.caaphWebhooks, "caaph-", fmt.Sprintf("https://127.0.0.1:%d", webhookPort), ca.PEM)
}
