package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// function is one konnector-hooks process, serving plain HTTP on a local
// port as it does behind Knative, with a TLS-terminating reverse proxy in
// front of it because CAPI calls extensions over https only. A restart
// with new settings (a new revision, as Knative would roll it out) keeps the
// proxy, so CAPI keeps calling the same URL.
type function struct {
	// name is also the name of its ExtensionConfig and the value of the
	// namespace label that selects it.
	name       string
	kubeconfig string
	log        string
	proxy      *http.Server
	// wire records what passed through the proxy.
	wire *wireRecorder
	// URL is the https address of the proxy, the ExtensionConfig's url.
	URL string

	mu      sync.Mutex
	proc    *process
	backend *url.URL

	// installed, in the installed mode, is the konnector-hooks CAPI calls
	// in place of a process: no proxy, no process, no wire record.
	installed *installation
}

// installedFunction is the installed konnector-hooks standing for the
// function of an extension (every one, in the installed mode).
func installedFunction(name string, in *installation) *function {
	return &function{name: name, installed: in}
}

// startFunction starts the function binary with the given extra settings
// (KONNECTOR_* variables) and the TLS proxy in front of it.
func startFunction(ctx context.Context, cfg config, ca *certificateAuthority, kubeconfig, name string, settings ...string) (*function, error) {
	f := &function{name: name, kubeconfig: kubeconfig, log: filepath.Join(cfg.artifacts, name+".log")}
	if err := f.restart(ctx, settings...); err != nil {
		return nil, err
	}
	tlsConfig, err := ca.tlsConfig(name)
	if err != nil {
		f.stop()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.stop()
		return nil, err
	}
	f.wire = &wireRecorder{path: filepath.Join(cfg.artifacts, name+"-wire.jsonl")}
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		f.mu.Lock()
		defer f.mu.Unlock()
		r.SetURL(f.backend)
	}}
	f.proxy = &http.Server{Handler: f.wire.record(forward), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.proxy.ServeTLS(l, "", "") }()
	f.URL = "https://" + l.Addr().String()
	return f, nil
}

// restart starts a new process with the settings, switches the proxy to
// it once it is healthy, then stops the old one: no request CAPI sends in
// between is lost. Both write to the same log.
//
// In the installed mode it writes the settings over the install's own and
// rolls them out (a new Knative revision): CAPI keeps calling the same URL.
func (f *function) restart(ctx context.Context, settings ...string) error {
	if f.installed != nil {
		return f.installed.configure(ctx, settings...)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	env := append([]string{fmt.Sprintf("PORT=%d", port), "KUBECONFIG=" + f.kubeconfig, extensionConfigSetting(f.name)}, settings...)
	proc, err := startProcess("function "+f.name, f.log, append(functionEnvironment(), env...), cfg.function)
	if err != nil {
		return err
	}
	backend := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := proc.waitHTTP200(ctx, backend+"/healthz", 30*time.Second); err != nil {
		proc.stop()
		return err
	}
	target, _ := url.Parse(backend)
	f.mu.Lock()
	old := f.proc
	f.proc, f.backend = proc, target
	f.mu.Unlock()
	old.stop()
	return nil
}

// extensionConfigSetting names the function's own ExtensionConfig, whose
// namespaceSelector tells Sync which Clusters it serves.
func extensionConfigSetting(name string) string {
	return "KONNECTOR_EXTENSION_CONFIG=" + name
}

// plainURL is the function's own plain-HTTP address, as a PingSource
// reaches the Knative Service inside the cluster; CAPI alone needs TLS.
func (f *function) plainURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.backend.String()
}

// functionEnvironment is the suite's environment without the function's own
// settings, so that a KONNECTOR_* variable in the caller's shell does not
// change what is tested.
func functionEnvironment() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KONNECTOR_") || name == "FUNCTION_TARGET" || name == "PORT" || name == "KUBECONFIG" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stopProcess ends the function's process and keeps its TLS proxy, which
// then answers CAPI 502 Bad Gateway, as Knative's ingress answers for a
// Service that is down: konnector-hooks unreachable. restart starts it
// again behind the same proxy.
func (f *function) stopProcess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proc.stop()
	f.proc = nil
}

func (f *function) stop() {
	if f == nil || f.installed != nil {
		return
	}
	if f.proxy != nil {
		_ = f.proxy.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proc.stop()
}

// hookCall is one "hook call" log line of the function: what CAPI called
// and what the function answered.
type hookCall struct {
	Time              time.Time `json:"time"`
	Hook              string    `json:"hook"`
	Cluster           string    `json:"cluster"`
	HTTPStatus        int       `json:"httpStatus"`
	Outcome           string    `json:"outcome"`
	RetryAfterSeconds int32     `json:"retryAfterSeconds"`
	Message           string    `json:"message"`
	// Pod is the pod that answered, in the installed mode.
	Pod string `json:"-"`
}

func (c hookCall) String() string {
	return fmt.Sprintf("%s %s %s -> HTTP %d %s retryAfterSeconds=%d: %s", c.Time.Format("15:04:05.000"), c.Hook, c.Cluster, c.HTTPStatus, c.Outcome, c.RetryAfterSeconds, c.Message)
}

// calls reads the hook calls logged so far for the cluster (namespace/name),
// in order. Lines that are not JSON hook-call records are skipped.
func (f *function) calls(cluster string) ([]hookCall, error) {
	if f.installed != nil {
		return f.installed.calls(cluster)
	}
	data, err := os.ReadFile(f.log)
	if err != nil {
		return nil, err
	}
	return hookCalls(data, cluster), nil
}

// hookCalls parses the hook calls for the cluster out of a function's log.
func hookCalls(data []byte, cluster string) []hookCall {
	var calls []hookCall
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var line struct {
			Msg string `json:"msg"`
			hookCall
		}
		if json.Unmarshal(s.Bytes(), &line) != nil || line.Msg != "hook call" {
			continue
		}
		if line.Cluster == cluster {
			calls = append(calls, line.hookCall)
		}
	}
	return calls
}

// callsOf keeps the calls of one hook.
func callsOf(calls []hookCall, hook string) []hookCall {
	var out []hookCall
	for _, c := range calls {
		if c.Hook == hook {
			out = append(out, c)
		}
	}
	return out
}

func describeCalls(calls []hookCall) string {
	if len(calls) == 0 {
		return "no hook calls logged"
	}
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("\n  " + c.String())
	}
	return b.String()
}

// checkAlive reports an error when the function process has ended, unless
// a test stopped it (stopProcess).
func (f *function) checkAlive() error {
	if f.installed != nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proc == nil {
		return nil
	}
	if done, err := f.proc.exited(); done {
		return errors.Join(fmt.Errorf("function %s exited: see %s", f.name, f.log), err)
	}
	return nil
}
