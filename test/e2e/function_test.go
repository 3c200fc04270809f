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
	"time"
)

// function is one konnector-hooks process, serving plain HTTP on a local
// port as it does behind Knative, with a TLS-terminating reverse proxy in
// front of it because CAPI calls extensions over https only.
type function struct {
	// name is also the name of its ExtensionConfig and the value of the
	// namespace label that selects it.
	name  string
	proc  *process
	proxy *http.Server
	// wire records what passed through the proxy.
	wire *wireRecorder
	// URL is the https address of the proxy, the ExtensionConfig's url.
	URL string
}

// startFunction starts the function binary with the given extra settings
// (KONNECTOR_* variables) and the TLS proxy in front of it.
func startFunction(ctx context.Context, cfg config, ca *certificateAuthority, kubeconfig, name string, settings ...string) (*function, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env := append([]string{fmt.Sprintf("PORT=%d", port), "KUBECONFIG=" + kubeconfig}, settings...)
	proc, err := startProcess("function "+name, filepath.Join(cfg.artifacts, name+".log"), append(functionEnvironment(), env...), cfg.function)
	if err != nil {
		return nil, err
	}
	f := &function{name: name, proc: proc}
	backend := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := proc.waitHTTP200(ctx, backend+"/healthz", 30*time.Second); err != nil {
		f.stop()
		return nil, err
	}
	target, _ := url.Parse(backend)
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
	f.proxy = &http.Server{Handler: f.wire.record(httputil.NewSingleHostReverseProxy(target)), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.proxy.ServeTLS(l, "", "") }()
	f.URL = "https://" + l.Addr().String()
	return f, nil
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

func (f *function) stop() {
	if f == nil {
		return
	}
	if f.proxy != nil {
		_ = f.proxy.Close()
	}
	f.proc.stop()
}

// hookCall is one "hook call" log line of the function: what CAPI called
// and what the function answered.
type hookCall struct {
	Hook              string `json:"hook"`
	Cluster           string `json:"cluster"`
	HTTPStatus        int    `json:"httpStatus"`
	Outcome           string `json:"outcome"`
	RetryAfterSeconds int32  `json:"retryAfterSeconds"`
	Message           string `json:"message"`
}

func (c hookCall) String() string {
	return fmt.Sprintf("%s %s -> HTTP %d %s retryAfterSeconds=%d: %s", c.Hook, c.Cluster, c.HTTPStatus, c.Outcome, c.RetryAfterSeconds, c.Message)
}

// calls reads the hook calls logged so far for the cluster (namespace/name),
// in order. Lines that are not JSON hook-call records are skipped.
func (f *function) calls(cluster string) ([]hookCall, error) {
	data, err := os.ReadFile(f.proc.log)
	if err != nil {
		return nil, err
	}
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
	return calls, s.Err()
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

// checkAlive reports an error when the function process has ended.
func (f *function) checkAlive() error {
	if done, err := f.proc.exited(); done {
		return errors.Join(fmt.Errorf("function %s exited: see %s", f.name, f.proc.log), err)
	}
	return nil
}
