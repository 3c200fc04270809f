// Command hookbench times hook calls made the way CAPI's runtime client makes
// them (POST, JSON with apiVersion and kind, no Content-Type, ?timeout=10s,
// one keep-alive connection), for hack/e2e-knative.sh bench: the cold
// starts and the warm latency of an installed konnector-hooks, through the
// ingress or straight to the function's container. It prints one line per
// call and a summary, and fails on any answer that is not HTTP 200 Success.
//
// Usage:
//
//	hookbench -url URL [-ca FILE] [-dns HOST:PORT] [-hook discovery|acpi] [-n CALLS] [-warmup CALLS]
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The paths CAPI calls (as test/hookcall names them).
var paths = map[string]string{
	"discovery": "/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery",
	"acpi":      "/hooks.runtime.cluster.x-k8s.io/v1alpha1/aftercontrolplaneinitialized/after-control-plane-initialized",
}

// The sample requests of test/testdata.
var files = map[string]string{
	"discovery": "discovery.json",
	"acpi":      "after-control-plane-initialized.v1beta2.json",
}

func main() {
	url := flag.String("url", "", "the base URL CAPI calls (http:// or https://)")
	ca := flag.String("ca", "", "for https: the CA bundle to trust")
	dns := flag.String("dns", "", "the DNS server (host:port) that resolves the URL's host; default: the system's")
	hook := flag.String("hook", "acpi", "discovery or acpi (AfterControlPlaneInitialized)")
	n := flag.Int("n", 1, "calls to time")
	warmup := flag.Int("warmup", 0, "untimed calls first")
	testdata := flag.String("testdata", "test/testdata", "the sample requests")
	namespace := flag.String("namespace", "konnector-installed", "the Cluster of AfterControlPlaneInitialized")
	name := flag.String("name", "my-cluster", "")
	flag.Parse()
	if err := run(*url, *ca, *dns, *hook, *n, *warmup, *testdata, *namespace, *name); err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
}

func run(url, ca, dns, hook string, n, warmup int, testdata, namespace, name string) error {
	path, ok := paths[hook]
	if !ok || url == "" {
		return errors.New("-url and -hook discovery|acpi are needed")
	}
	body, err := request(filepath.Join(testdata, files[hook]), namespace, name)
	if err != nil {
		return err
	}
	hc, err := client(ca, dns)
	if err != nil {
		return err
	}
	var took []time.Duration
	for i := range warmup + n {
		d, err := call(hc, url+path+"?timeout=10s", body)
		if err != nil {
			return fmt.Errorf("call %d: %w", i+1, err)
		}
		if i >= warmup {
			took = append(took, d)
			fmt.Printf("call %d %s %.1f ms\n", i+1-warmup, hook, ms(d))
		}
	}
	slices.Sort(took)
	fmt.Printf("summary %s n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms\n", hook, len(took), ms(quantile(took, 0.50)), ms(quantile(took, 0.99)), ms(took[len(took)-1]))
	return nil
}

// call times one POST and checks the answer.
func call(hc *http.Client, url string, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	var answer struct{ Status string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &answer) != nil || answer.Status != "Success" {
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return took, nil
}

// request is the sample request file with its Cluster (if any) pointed at
// namespace/name, as test/hookcall.Request does for tests.
func request(file, namespace, name string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var req map[string]any
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cluster, ok := req["cluster"].(map[string]any); ok {
		md := cluster["metadata"].(map[string]any)
		md["namespace"], md["name"] = namespace, name
	}
	return json.Marshal(req)
}

// client is CAPI's: its timeout is the hook's (10 s by default), and it
// trusts the ExtensionConfig's caBundle; names resolve with the cluster's
// DNS, as in a pod.
func client(ca, dns string) (*http.Client, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if dns != "" {
		dialer.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, dns)
		}}
	}
	transport := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", ca)
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}, nil
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
