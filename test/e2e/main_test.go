// Package e2e runs konnector-hooks under the real Cluster API core
// controller manager and the real CAAPH controller manager: CAPI discovers
// the function through an ExtensionConfig and calls its hooks while
// ClusterClass-based Clusters are created, upgraded and deleted; CAPI's
// ClusterResourceSet controller and CAAPH act on what the function writes,
// in a workload API server per Cluster. The management and workload
// clusters are envtest (kube-apiserver and etcd); the infrastructure and
// control plane providers are CRDs whose status the tests write following
// CAPI's provider contract, and the tests play the kubelet for the chart's
// hook pods.
//
// Run it with hack/e2e.sh (make e2e), which builds the CAPI managers of the
// versions under test, CAAPH and the function, and runs this suite once per
// version.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Names of the functions, their ExtensionConfigs and the namespace label
// values that select them.
const (
	// defaultExtension runs with the default settings.
	defaultExtension = "konnector-hooks"
	// lifecycleExtension starts with the default settings; the upgrade
	// test restarts it with a newer chart version.
	lifecycleExtension = "konnector-hooks-lifecycle"
	// timeoutExtension runs with KONNECTOR_UNINSTALL_TIMEOUT=5s.
	timeoutExtension = "konnector-hooks-uninstall-timeout"
	// rotationExtension and disableExtension serve one Sync test each, so
	// that a sync of every Cluster they serve sees only that test's.
	rotationExtension = "konnector-hooks-sync-rotation"
	disableExtension  = "konnector-hooks-sync-disable"
	// stuckExtension runs with KONNECTOR_UNINSTALL_TIMEOUT=5s for the Sync
	// test of a disabled addon whose uninstall fails.
	stuckExtension = "konnector-hooks-sync-stuck"
	// outageExtension runs with the default settings; its test stops it
	// while a Cluster is created and starts it again.
	outageExtension = "konnector-hooks-outage"
	// blockExtension runs with KONNECTOR_ON_INVALID_CONFIG=Block.
	blockExtension = "konnector-hooks-block"
	// outcomeExtension runs with the default settings; its test moves its
	// Cluster to a chart version the repository does not serve.
	outcomeExtension = "konnector-hooks-install-outcome"
	// rolloutExtension runs with the default settings; its test moves its
	// Clusters to new chart versions with Syncs under a rollout.
	rolloutExtension = "konnector-hooks-rollout"
)

// The suite's shared state, set up once by TestMain.
var (
	cfg  config
	mgmt *managementCluster
	// functions by extension name.
	functions = map[string]*function{}
	// charts serves the fixture chart at the versions the tests install.
	charts *chartRepository
	// suiteTimings collects the tests' step durations.
	suiteTimings = &timings{}
	// installed is the installed konnector-hooks in the installed mode.
	installed *installation
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime's logger; the suite reports
	// through its own messages and the processes' logs.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) (code int) {
	var err error
	if cfg, err = configFromEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fmt.Printf("e2e: CAPI %s manager %s; logs in %s\n", cfg.capiVersion, cfg.capiManager, cfg.artifacts)
	ctx := context.Background()
	if err := setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setting up:", err)
		code = 1
	} else {
		code = m.Run()
	}
	if err := suiteTimings.write(filepath.Join(cfg.artifacts, "timings.md"), cfg.capiVersion); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: writing timings:", err)
	}
	fmt.Printf("e2e: step timings against CAPI %s:\n%s", cfg.capiVersion, suiteTimings.table(cfg.capiVersion))
	if code != 0 {
		if mgmt != nil {
			if err := mgmt.dump(ctx, cfg.artifacts); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: dumping objects:", err)
			}
		}
		fmt.Printf("e2e: FAILED against CAPI %s: the functions' JSON logs (<function>.log), the requests CAPI sent them (*-wire.jsonl), the CAPI and CAAPH managers' logs (capi-manager.log, caaph-manager.log) and the objects are in %s\n",
			cfg.capiVersion, cfg.artifacts)
	}
	for _, f := range functions {
		f.stop()
	}
	if err := installed.close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: putting the install back as it was:", err)
		code = 1
	}
	mgmt.stop()
	charts.stop()
	return code
}

// setUp starts the chart repository, the management cluster with the CAPI
// and CAAPH managers, the functions behind TLS, and registers them with
// ExtensionConfigs; it returns once CAPI has discovered them all.
func setUp(ctx context.Context) error {
	ca, err := newCertificateAuthority()
	if err != nil {
		return err
	}
	start := time.Now()
	if charts, err = startChartRepository(cfg.chart, filepath.Join(cfg.artifacts, "charts"), defaultChartVersion, upgradeChartVersion); err != nil {
		return err
	}
	if mgmt, err = startManagementCluster(ctx, cfg, ca); err != nil {
		return err
	}
	fmt.Printf("e2e: management cluster, CAPI and CAAPH managers ready in %s\n", time.Since(start).Round(time.Millisecond))
	if cfg.installed != nil {
		return setUpInstalled(ctx, start)
	}
	for name, settings := range map[string][]string{
		defaultExtension:   nil,
		lifecycleExtension: nil,
		timeoutExtension:   {"KONNECTOR_UNINSTALL_TIMEOUT=5s"},
		rotationExtension:  nil,
		disableExtension:   nil,
		stuckExtension:     {"KONNECTOR_UNINSTALL_TIMEOUT=5s"},
		outageExtension:    nil,
		blockExtension:     {"KONNECTOR_ON_INVALID_CONFIG=Block"},
		outcomeExtension:   nil,
		rolloutExtension:   nil,
	} {
		f, err := startFunction(ctx, cfg, ca, mgmt.kubeconfig, name, append(settings, chartRepositorySetting())...)
		if err != nil {
			return err
		}
		functions[name] = f
		if err := mgmt.client.Create(ctx, newExtensionConfig(name, f.URL, ca.PEM)); err != nil {
			return fmt.Errorf("creating ExtensionConfig %s: %w", name, err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for name := range functions {
		for {
			discovered, state, err := extensionDiscovered(ctx, name)
			if err != nil {
				return err
			}
			if discovered {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CAPI did not discover ExtensionConfig %s within a minute: %s", name, state)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	fmt.Printf("e2e: functions registered and discovered in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// setUpInstalled stands the installed konnector-hooks for every extension
// of the suite, with its chart repository pointed at the suite's, and
// returns once CAPI has discovered the install's ExtensionConfig. The tests
// of the installed mode (hack/e2e-knative.sh capi) run one at a time
// (-parallel 1), as every one of them is served by the same install.
func setUpInstalled(ctx context.Context, start time.Time) error {
	var err error
	if installed, err = startInstallation(ctx, *cfg.installed, mgmt, cfg.artifacts); err != nil {
		return err
	}
	if err := installed.configure(ctx, chartRepositorySetting()); err != nil {
		return err
	}
	for _, name := range []string{defaultExtension, lifecycleExtension, timeoutExtension, rotationExtension, disableExtension,
		stuckExtension, outageExtension, blockExtension, outcomeExtension, rolloutExtension} {
		functions[name] = installedFunction(name, installed)
	}
	name := cfg.installed.extensionConfig
	var state string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var discovered bool
		var err error
		discovered, state, err = extensionDiscovered(ctx, name)
		return discovered, err
	})
	if err != nil {
		return fmt.Errorf("CAPI did not discover the installed ExtensionConfig %s within a minute: %s (kubectl get extensionconfig %s -o yaml; the CAPI manager's log capi-manager.log)", name, state, name)
	}
	ec, _, err := get(ctx, runtimeAPIVersion, "ExtensionConfig", "", name)
	if err != nil {
		return err
	}
	url, _, _ := unstructured.NestedString(ec.Object, "spec", "clientConfig", "url")
	fmt.Printf("e2e: CAPI discovered the installed ExtensionConfig %s (url %s) in %s\n", name, url, time.Since(start).Round(time.Millisecond))
	return nil
}

// chartRepositorySetting points the function at the suite's chart
// repository.
func chartRepositorySetting() string {
	return "KONNECTOR_CHART_REPOSITORY=" + charts.URL
}
