package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// managementCluster is kube-apiserver and etcd (envtest) with the CRDs of
// the CAPI release under test, CAAPH's and the suite's providers', and the
// CAPI core manager running against it as a local process.
type managementCluster struct {
	// env is nil on a real management cluster (the installed mode).
	env        *envtest.Environment
	config     *rest.Config
	client     client.Client
	kubeconfig string
	manager    *process
	caaph      *process
	// webhooks are the webhook configurations registered, removed again
	// from a real management cluster when the suite ends.
	webhooks []*unstructured.Unstructured
}

// startManagementCluster starts the API server, installs the CRDs, starts
// the CAPI manager and CAAPH and registers their admission webhooks.
func startManagementCluster(ctx context.Context, cfg config, ca *certificateAuthority) (*managementCluster, error) {
	crds := envtest.CRDInstallOptions{
		Paths:              []string{cfg.capiCRDs, cfg.caaphCRDs, filepath.Join("testdata", "providers.yaml")},
		ErrorIfPathMissing: true,
	}
	mc := &managementCluster{}
	var restConfig *rest.Config
	var err error
	if cfg.managementKubeconfig != "" {
		// A real management cluster: the CRDs of the CAPI release under
		// test over those installed (created or updated, as clusterctl
		// upgrade would), CAPI and CAAPH as below.
		if restConfig, err = clientcmd.BuildConfigFromFlags("", cfg.managementKubeconfig); err != nil {
			return nil, fmt.Errorf("reading the management cluster's kubeconfig %s (E2E_MANAGEMENT_KUBECONFIG): %w", cfg.managementKubeconfig, err)
		}
		if _, err := envtest.InstallCRDs(restConfig, crds); err != nil {
			return nil, fmt.Errorf("installing the CRDs of CAPI %s, CAAPH and the suite's providers on the management cluster of %s: %w", cfg.capiVersion, cfg.managementKubeconfig, err)
		}
	} else {
		mc.env = &envtest.Environment{CRDInstallOptions: crds}
		if restConfig, err = mc.env.Start(); err != nil {
			return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
		}
	}
	mc.config = restConfig
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		mc.stop()
		return nil, err
	}
	if mc.client, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		mc.stop()
		return nil, err
	}
	mc.kubeconfig = cfg.managementKubeconfig
	if mc.env != nil {
		mc.kubeconfig = filepath.Join(cfg.artifacts, "kubeconfig")
		if err := writeKubeconfig(restConfig, mc.kubeconfig); err != nil {
			mc.stop()
			return nil, err
		}
	}
	if err := mc.startManager(ctx, cfg, ca); err != nil {
		mc.stop()
		return nil, err
	}
	if err := mc.startCAAPH(ctx, cfg, ca); err != nil {
		mc.stop()
		return nil, err
	}
	return mc, nil
}

// startManager runs the CAPI core manager with the feature gates that
// lifecycle hooks need, its webhook server on a local port with a serving
// certificate of the suite's CA, then points CAPI's own admission webhooks
// at it, so that the Clusters, ClusterClasses and ExtensionConfigs the tests
// write are defaulted and validated as on a real management cluster.
func (mc *managementCluster) startManager(ctx context.Context, cfg config, ca *certificateAuthority) error {
	certDir := filepath.Join(cfg.artifacts, "webhook-certs")
	if err := ca.writeServingCertDir(certDir, "capi-webhook-service"); err != nil {
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
	mc.manager, err = startProcess("CAPI manager "+cfg.capiVersion, filepath.Join(cfg.artifacts, "capi-manager.log"), nil, cfg.capiManager,
		"--kubeconfig="+mc.kubeconfig,
		"--feature-gates=ClusterTopology=true,RuntimeSDK=true",
		fmt.Sprintf("--webhook-port=%d", webhookPort),
		"--webhook-cert-dir="+certDir,
		fmt.Sprintf("--health-addr=127.0.0.1:%d", healthPort),
		"--diagnostics-address=0",
		"--leader-elect=false",
	)
	if err != nil {
		return err
	}
	// readyz includes the webhook server's started check.
	if err := mc.manager.waitHTTP200(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort), 2*time.Minute); err != nil {
		return err
	}
	return mc.registerWebhooks(ctx, cfg.capiWebhooks, "", fmt.Sprintf("https://127.0.0.1:%d", webhookPort), ca.PEM)
}

// registerWebhooks creates a manager's Mutating- and
// ValidatingWebhookConfiguration from its manifests, their names prefixed,
// each webhook's in-cluster Service reference replaced by the manager's
// local address and the suite's CA.
//
// CRD conversion webhooks are not registered: CAPI (v1.12 and later), the
// function and the tests read and write every CAPI object at the storage
// version v1beta2, so the API server never converts (a hook request's v1beta1
// Cluster is converted inside the manager, not by the API server).
func (mc *managementCluster) registerWebhooks(ctx context.Context, manifests, namePrefix, baseURL string, caBundle []byte) error {
	data, err := os.ReadFile(manifests)
	if err != nil {
		return err
	}
	objs, err := decodeObjects(data)
	if err != nil {
		return fmt.Errorf("reading %s: %w", manifests, err)
	}
	for _, obj := range objs {
		webhooks, _, err := unstructured.NestedSlice(obj.Object, "webhooks")
		if err != nil {
			return err
		}
		for i := range webhooks {
			wh := webhooks[i].(map[string]any)
			path, _, _ := unstructured.NestedString(wh, "clientConfig", "service", "path")
			if path == "" {
				return fmt.Errorf("webhook %v in %s has no clientConfig.service.path", wh["name"], manifests)
			}
			wh["clientConfig"] = map[string]any{
				"url":      baseURL + path,
				"caBundle": base64.StdEncoding.EncodeToString(caBundle),
			}
		}
		if err := unstructured.SetNestedSlice(obj.Object, webhooks, "webhooks"); err != nil {
			return err
		}
		obj.SetName(namePrefix + obj.GetName())
		if mc.env == nil {
			// On a real management cluster, the configuration an earlier
			// run left (pointing at a manager that is gone) is replaced.
			if err := client.IgnoreNotFound(mc.client.Delete(ctx, obj.DeepCopy())); err != nil {
				return fmt.Errorf("removing the %s %s an earlier run left: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
		if err := mc.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("registering %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		mc.webhooks = append(mc.webhooks, obj)
	}
	return nil
}

func (mc *managementCluster) stop() {
	if mc == nil {
		return
	}
	if mc.env == nil && mc.client != nil {
		// A real management cluster outlives the suite: its admission
		// webhooks must not point at the managers that stop here.
		for _, obj := range mc.webhooks {
			if err := client.IgnoreNotFound(mc.client.Delete(context.Background(), obj)); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: removing %s %s: %v (delete it: kubectl delete %s %s)\n", obj.GetKind(), obj.GetName(), err, obj.GetKind(), obj.GetName())
			}
		}
	}
	mc.caaph.stop()
	mc.manager.stop()
	if mc.env != nil {
		_ = mc.env.Stop()
	}
}

// decodeObjects reads a multi-document YAML file into objects.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := d.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// writeKubeconfig writes a kubeconfig for the envtest administrator, for
// the manager's --kubeconfig and the function's KUBECONFIG.
func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// dump writes the objects of the given kinds, as YAML lists, into the
// artifacts directory: what CAPI and the function left behind.
func (mc *managementCluster) dump(ctx context.Context, dir string) error {
	kinds := []struct{ apiVersion, kind string }{
		{"cluster.x-k8s.io/v1beta2", "Cluster"},
		{"cluster.x-k8s.io/v1beta2", "ClusterClass"},
		{"runtime.cluster.x-k8s.io/v1beta2", "ExtensionConfig"},
		{"addons.cluster.x-k8s.io/v1alpha1", "HelmChartProxy"},
		{"addons.cluster.x-k8s.io/v1alpha1", "HelmReleaseProxy"},
		{"addons.cluster.x-k8s.io/v1beta2", "ClusterResourceSet"},
		{"controlplane.e2e.konnector-hooks.io/v1alpha1", "E2EControlPlane"},
		{"infrastructure.e2e.konnector-hooks.io/v1alpha1", "E2EInfraCluster"},
		{"v1", "Event"},
	}
	var errs []error
	for _, k := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion(k.apiVersion)
		list.SetKind(k.kind + "List")
		if err := mc.client.List(ctx, list); err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := marshalYAML(list.UnstructuredContent())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.WriteFile(filepath.Join(dir, "objects-"+k.kind+".yaml"), out, 0o644))
	}
	return errors.Join(errs...)
}
