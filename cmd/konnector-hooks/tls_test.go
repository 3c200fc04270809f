package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// testCA issues serving certificates for 127.0.0.1, as cert-manager's CA
// Issuer does for the Service's name.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "konnector-hooks test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns the PEM certificate and key of a serving certificate with
// that serial number.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "konnector-hooks"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// secretVolume is a directory laid out as the kubelet mounts a Secret:
// tls.crt and tls.key are symlinks through ..data to a timestamped
// directory, and an update swaps ..data atomically.
type secretVolume struct {
	dir     string
	version int
}

func (v *secretVolume) write(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	v.version++
	data := fmt.Sprintf("..version_%d", v.version)
	if err := os.Mkdir(filepath.Join(v.dir, data), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(v.dir, data, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(data, filepath.Join(v.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if v.version == 1 {
		for _, name := range []string{"tls.crt", "tls.key"} {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if err := os.RemoveAll(filepath.Join(v.dir, fmt.Sprintf("..version_%d", v.version-1))); err != nil {
		t.Fatal(err)
	}
}

// TestTLS_ServesItsOwnCertificateAndARotatedOneWithoutAFailedCall runs the
// binary with KONNECTOR_TLS_CERT_FILE and KONNECTOR_TLS_KEY_FILE, calls
// discovery without a pause, each call a new TLS handshake, and replaces
// the certificate twice: in place (the files rewritten one after the
// other) and as the kubelet updates a mounted Secret (an atomic symlink
// swap). Every call succeeds, and the new certificate is served without a
// restart.
func TestTLS_ServesItsOwnCertificateAndARotatedOneWithoutAFailedCall(t *testing.T) {
	ca := newTestCA(t)
	rotations := []struct {
		name  string
		write func(t *testing.T, dir string, serial int64)
	}{
		{
			name: "files rewritten in place",
			write: func(t *testing.T, dir string, serial int64) {
				certPEM, keyPEM := ca.issue(t, serial)
				for name, content := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
					if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "mounted Secret updated by the kubelet",
			write: func() func(t *testing.T, dir string, serial int64) {
				var volume *secretVolume
				return func(t *testing.T, dir string, serial int64) {
					if volume == nil {
						volume = &secretVolume{dir: dir}
					}
					certPEM, keyPEM := ca.issue(t, serial)
					volume.write(t, certPEM, keyPEM)
				}
			}(),
		},
	}
	for _, rotation := range rotations {
		t.Run(rotation.name, func(t *testing.T) {
			dir := t.TempDir()
			rotation.write(t, dir, 100)
			port := freePort(t)
			cmd := exec.Command(binary)
			cmd.Env = environment("PORT="+port, "KONNECTOR_TLS_CERT_FILE="+filepath.Join(dir, "tls.crt"), "KONNECTOR_TLS_KEY_FILE="+filepath.Join(dir, "tls.key"))
			// The process's output, read while it runs.
			output, err := os.Create(filepath.Join(t.TempDir(), "output"))
			if err != nil {
				t.Fatal(err)
			}
			defer output.Close()
			cmd.Stdout, cmd.Stderr = output, output
			logged := func() string {
				b, _ := os.ReadFile(output.Name())
				return string(b)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()

			// A new connection, and so a new handshake, for every call.
			httpClient := &http.Client{Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12},
				DisableKeepAlives: true,
			}}
			body, err := os.ReadFile("../../test/testdata/discovery.json")
			if err != nil {
				t.Fatal(err)
			}
			url := "https://127.0.0.1:" + port + "/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery?timeout=10s"
			call := func() (int64, error) {
				resp, err := httpClient.Post(url, "", bytes.NewReader(body))
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
			}

			var serial int64
			_ = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
				serial, err = call()
				return err == nil, nil
			})
			if err != nil {
				t.Fatalf("the function never answered over TLS: %v\n%s", err, logged())
			}
			if serial != 100 {
				t.Fatalf("serves certificate %d, want 100", serial)
			}
			if strings.Contains(logged(), "BEGIN") {
				t.Fatalf("the log carries PEM:\n%s", logged())
			}

			// Calls without a pause from here on: none may fail.
			var (
				calls, served atomic.Int64
				mu            sync.Mutex
				failures      []string
				stop          = make(chan struct{})
				done          sync.WaitGroup
			)
			done.Add(1)
			go func() {
				defer done.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s, err := call()
					calls.Add(1)
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						continue
					}
					served.Store(s)
				}
			}()
			for _, next := range []int64{101, 102} {
				// Calls go on before, during and after each rotation.
				for before := calls.Load(); calls.Load() < before+20; time.Sleep(time.Millisecond) {
				}
				rotation.write(t, dir, next)
				// Wait until the new certificate is served: the watcher
				// reloads on the file event, or at its 10s poll at the latest.
				for deadline := time.Now().Add(time.Minute); served.Load() != next && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				}
				if served.Load() != next {
					close(stop)
					done.Wait()
					t.Fatalf("certificate %d was never served after the rotation (still %d)\n%s", next, served.Load(), logged())
				}
			}
			for after := calls.Load(); calls.Load() < after+20; time.Sleep(time.Millisecond) {
			}
			close(stop)
			done.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d of %d calls failed during the rotations, first: %s", len(failures), calls.Load(), failures[0])
			}
			t.Logf("%d calls over two rotations, none failed", calls.Load())

			// SIGTERM (a pod's stop) ends the server gracefully: exit status 0.
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("after SIGTERM: %v\n%s", err, logged())
			}
		})
	}
}

func TestTLS_AnUnreadableCertificateStopsStartUpNamingTheVariables(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runBinary(t, []string{"PORT=" + freePort(t), "KONNECTOR_TLS_CERT_FILE=" + filepath.Join(dir, "tls.crt"), "KONNECTOR_TLS_KEY_FILE=" + filepath.Join(dir, "tls.key")})
	if code == 0 || !strings.Contains(stderr, "KONNECTOR_TLS_CERT_FILE") || !strings.Contains(stderr, "KONNECTOR_TLS_KEY_FILE") {
		t.Fatalf("exit %d, stderr %q: want a non-zero exit naming both variables", code, stderr)
	}
}
