package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ownTLSExtension is the function that serves TLS itself, as in the install
// without Knative (deploy/without-knative): CAPI calls the process directly,
// with no proxy in front.
const ownTLSExtension = "konnector-hooks-own-tls"

// ownTLSCAPIVersion is the one CAPI version the test runs against: what it
// shows is the function's TLS, which every CAPI version calls alike.
const ownTLSCAPIVersion = "v1.14.2"

// TestOwnTLS_CertificateRotatedWhileCAPICallsWithoutAFailedCall runs the
// function with KONNECTOR_TLS_CERT_FILE and KONNECTOR_TLS_KEY_FILE and
// registers it by its own https address. A Cluster is deployed through it;
// while CAPI calls BeforeClusterDelete every KONNECTOR_RETRY_AFTER, the
// certificate files are replaced by a new certificate of the same CA, as
// cert-manager renews one. The function serves the new certificate without a
// restart, CAPI's calls go on (the Cluster is deleted once the uninstall is
// done), and no call failed: every call was answered 200 and the function's
// server logged no TLS handshake error.
func TestOwnTLS_CertificateRotatedWhileCAPICallsWithoutAFailedCall(t *testing.T) {
	if cfg.capiVersion != ownTLSCAPIVersion {
		t.Skipf("runs against CAPI %s only", ownTLSCAPIVersion)
	}
	t.Parallel()
	ca, err := newCertificateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	f, certDir := startOwnTLSFunction(t, ca, ownTLSExtension)
	before := f.servedSerial(t, ca)

	const namespace = "e2e-own-tls"
	setUpNamespace(t, ownTLSExtension, namespace)
	c := newTestClusters(t, ownTLSExtension, namespace, suiteTimings, clusterSpec{"e2e-own-tls", basicConfig})[0]
	c.fn = f
	c.provision(t)
	c.credentialsDelivered(t, credentialsSecret)
	c.releaseDeployed(t, defaultChartVersion, 1)

	// Hold the uninstall so that CAPI keeps calling BeforeClusterDelete
	// across the rotation.
	c.workload.kubelet.set("hook-predelete", hold)
	c.deleteCluster(t)
	eventually(t, waitFor, "CAPI to call BeforeClusterDelete for "+c.key(), func() (bool, string, error) {
		calls := c.calls(t, "BeforeClusterDelete")
		return len(calls) > 0, c.deleteCallsSoFar(t), nil
	})

	if err := ca.writeServingCertDir(certDir, f.name); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	var after string
	eventually(t, waitFor, "the function to serve the new certificate", func() (bool, string, error) {
		after = f.servedSerial(t, ca)
		return after != before, "still serving certificate " + after, nil
	})
	t.Logf("certificate %s replaced by %s: served %s after the files were written", before, after, time.Since(rotated).Round(time.Millisecond))

	// CAPI calls through the new certificate: at least one more
	// BeforeClusterDelete call after the rotation, then the uninstall
	// finishes and CAPI deletes the Cluster.
	callsAtRotation := len(c.calls(t, "BeforeClusterDelete"))
	eventually(t, waitFor, "CAPI to call BeforeClusterDelete through the new certificate", func() (bool, string, error) {
		return len(c.calls(t, "BeforeClusterDelete")) > callsAtRotation, c.deleteCallsSoFar(t), nil
	})
	c.workload.kubelet.set("hook-predelete", succeed)
	c.clusterGone(t, nil)

	for _, call := range c.allCalls(t) {
		if call.HTTPStatus != http.StatusOK || call.Outcome != "Success" {
			t.Errorf("call answered %s", call)
		}
	}
	log, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "TLS handshake error") {
		t.Errorf("the function's server logged a failed TLS handshake: see %s", f.log)
	}
	if discovered, state, err := extensionDiscovered(t.Context(), ownTLSExtension); err != nil || !discovered {
		t.Errorf("ExtensionConfig %s after the rotation: %s %v", ownTLSExtension, state, err)
	}
	t.Logf("%d hook calls answered, %d of them BeforeClusterDelete after the rotation", len(c.allCalls(t)), len(c.calls(t, "BeforeClusterDelete"))-callsAtRotation)
}

// startOwnTLSFunction starts the function binary serving TLS itself with a
// certificate of ca written into a directory, registers it with an
// ExtensionConfig at its https address and waits for CAPI's discovery. It
// returns the function and the directory of its certificate files. With no
// proxy in front, its wire recorder stays empty.
func startOwnTLSFunction(t *testing.T, ca *certificateAuthority, name string) (*function, string) {
	t.Helper()
	f := &function{name: name, kubeconfig: mgmt.kubeconfig, log: filepath.Join(cfg.artifacts, name+".log"),
		wire: &wireRecorder{path: filepath.Join(cfg.artifacts, name+"-wire.jsonl")}}
	certDir := filepath.Join(cfg.artifacts, name+"-tls")
	if err := ca.writeServingCertDir(certDir, name); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := append(functionEnvironment(), fmt.Sprintf("PORT=%d", port), "KUBECONFIG="+f.kubeconfig, extensionConfigSetting(name), chartRepositorySetting(),
		"KONNECTOR_TLS_CERT_FILE="+filepath.Join(certDir, "tls.crt"), "KONNECTOR_TLS_KEY_FILE="+filepath.Join(certDir, "tls.key"))
	if f.proc, err = startProcess("function "+name, f.log, env, cfg.function); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.stop)
	f.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	eventually(t, 30*time.Second, "function "+name+" to answer /healthz over TLS", func() (bool, string, error) {
		if done, err := f.proc.exited(); done {
			return false, "", fmt.Errorf("exited (%v): see %s", err, f.log)
		}
		resp, err := ca.client().Get(f.URL + "/healthz")
		if err != nil {
			return false, err.Error(), nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status, nil
	})
	mustCreate(t, newExtensionConfig(name, f.URL, ca.PEM))
	eventually(t, waitFor, "CAPI to discover "+name, func() (bool, string, error) {
		return extensionDiscovered(t.Context(), name)
	})
	return f, certDir
}

// servedSerial is the serial number of the certificate the function serves
// in a new TLS handshake.
func (f *function) servedSerial(t *testing.T, ca *certificateAuthority) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(f.URL, "https://"), &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", f.name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// pool is a certificate pool of the CA alone.
func (ca *certificateAuthority) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// client is an HTTP client that trusts the CA alone.
func (ca *certificateAuthority) client() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12}}}
}
