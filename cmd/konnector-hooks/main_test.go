package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"

	"k8s.io/apimachinery/pkg/util/wait"
)

// binary is the program the tests run: this test binary itself, which runs
// main instead of the tests when asMain is set in its environment (see
// TestMain). `make test` has compiled it already, so no second build.
var binary string

// asMain in a process's environment makes the test binary run main.
const asMain = "KONNECTOR_HOOKS_TEST_RUN_MAIN"

// mgmt is the package's management API server, for the one-shot mode; its
// kubeconfig is at kubeconfig.
var (
	mgmt       *managementcluster.Env
	kubeconfig string
)

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "konnector-hooks-main-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if binary, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if mgmt, err = managementcluster.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = mgmt.Stop() }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := mgmt.WriteKubeconfig(kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// runBinary runs the built binary with args and the test process's
// environment (see environment) plus extra, and returns its exit status,
// stdout and stderr.
func runBinary(t *testing.T, extra []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environment(extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// environment is the test process's environment without KUBECONFIG and
// KONNECTOR_* settings, plus extra.
func environment(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KONNECTOR_") && !strings.HasPrefix(kv, "FUNCTION_TARGET=") && !strings.HasPrefix(kv, "KUBERNETES_SERVICE_") {
			env = append(env, kv)
		}
	}
	return append(append(env, asMain+"=1"), extra...)
}

func TestMain_BadSettingStopsStartUpNamingTheVariable(t *testing.T) {
	for variable, value := range map[string]string{
		"KONNECTOR_RETRY_AFTER":             "soon",
		"KONNECTOR_HANDLER_TIMEOUT_SECONDS": "90",
		"KONNECTOR_CHART_REPOSITORY":        "not a url",
	} {
		cmd := exec.Command(binary)
		cmd.Env = environment(variable+"="+value, "PORT="+freePort(t))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() == 0 {
			t.Fatalf("%s=%s: the process did not exit non-zero: %v", variable, value, err)
		}
		if !strings.Contains(stderr.String(), variable) {
			t.Fatalf("%s=%s: message %q does not name the variable", variable, value, stderr.String())
		}
	}
}

// Start-up makes no network request: with no management cluster configured
// at all, the process serves health and discovery.
func TestMain_ServesWithoutAManagementCluster(t *testing.T) {
	port := freePort(t)
	cmd := exec.Command(binary)
	cmd.Env = environment("PORT=" + port)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	base := "http://127.0.0.1:" + port
	var resp *http.Response
	var err error
	_ = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		resp, err = http.Get(base + "/healthz")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("the function never served /healthz: %v\n%s", err, stdout.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d", resp.StatusCode)
	}

	body, err := os.ReadFile("../../test/testdata/discovery.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/hooks.runtime.cluster.x-k8s.io/v1alpha1/discovery?timeout=10s", bytes.NewReader(body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: HTTP %d %s", resp.StatusCode, out)
	}
	for _, name := range []string{"after-control-plane-initialized", "before-cluster-upgrade", "before-cluster-delete"} {
		if !strings.Contains(string(out), `"name":"`+name+`"`) {
			t.Errorf("discovery lacks %s: %s", name, out)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestCLI_FollowsKubectlsConventions runs the binary as a person does:
// help on stdout with exit 0, a bad argument's usage on stderr with exit 2.
func TestCLI_FollowsKubectlsConventions(t *testing.T) {
	cases := []struct {
		args []string
		code int
		// stdout and stderr hold these; "" checks that the stream is empty.
		stdout, stderr string
	}{
		{[]string{"--help"}, 0, "Commands:\n  sync", ""},
		{[]string{"-h"}, 0, "Commands:\n  sync", ""},
		{[]string{"help"}, 0, "konnector-hooks help <command>", ""},
		{[]string{"help", "status"}, 0, "Usage:\n  konnector-hooks status [<namespace>/<cluster> | <cluster> -n <namespace>] [flags]", ""},
		{[]string{"status", "--help"}, 0, "-kubeconfig string", ""},
		{[]string{"render", "-h"}, 0, "output format: yaml, json", ""},
		{[]string{"version"}, 0, "konnector-hooks dev\n", ""},
		{[]string{"--bogus"}, 2, "", "unknown command or flag \"--bogus\"\n\nkonnector-hooks: the Konnector Agent addon"},
		{[]string{"bogus"}, 2, "", "Commands:"},
		{[]string{"help", "bogus"}, 2, "", "unknown command \"bogus\""},
		{[]string{"status", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"status", "-o", "xml"}, 2, "", "invalid value \"xml\" for flag -o: use one of table, json, yaml"},
		{[]string{"render"}, 2, "", "give one Cluster"},
		{[]string{"render", "ns/c", "-n", "other"}, 2, "", "names namespace ns, and -n other another"},
		{[]string{"sync", "extra"}, 2, "", "unexpected arguments"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, nil, c.args...)
			ok := code == c.code
			for _, s := range []struct{ got, want string }{{stdout, c.stdout}, {stderr, c.stderr}} {
				ok = ok && ((s.want == "" && s.got == "") || (s.want != "" && strings.Contains(s.got, s.want)))
			}
			if !ok {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stdout with %q, stderr with %q", code, c.code, stdout, stderr, c.stdout, c.stderr)
			}
		})
	}
}
