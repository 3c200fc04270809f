package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pingEvent is the CloudEvent a Knative PingSource sends on its schedule
// (structured mode), the sample the README documents.
const pingEvent = "../testdata/sync.cloudevent.json"

// syncAnswer is Sync's JSON answer as the triggers receive it.
type syncAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Counts  struct {
		Checked      int `json:"checked"`
		UpToDate     int `json:"upToDate"`
		Applied      int `json:"applied"`
		Uninstalling int `json:"uninstalling"`
		Uninstalled  int `json:"uninstalled"`
		// UninstallStuck counts live Clusters whose uninstall is past
		// KONNECTOR_UNINSTALL_TIMEOUT.
		UninstallStuck int `json:"uninstallStuck"`
		Failed         int `json:"failed"`
		NotReached     int `json:"notReached"`
		LeftToHooks    int `json:"leftToHooks"`
		NotEnabled     int `json:"notEnabled"`
		InstallFailed  int `json:"installFailed"`
		RolloutHeld    int `json:"rolloutHeld"`
	} `json:"counts"`
	Clusters []struct {
		Cluster string `json:"cluster"`
		Outcome string `json:"outcome"`
		Message string `json:"message"`
	} `json:"clusters"`
	Rollout *struct {
		Batch    int      `json:"batch"`
		Moved    []string `json:"moved"`
		Held     int      `json:"held"`
		Paused   bool     `json:"paused"`
		PausedBy []string `json:"pausedBy"`
	} `json:"rollout"`

	// answered is when the trigger had the answer.
	answered time.Time
}

// counts is the non-zero counts, e.g. "checked=1 uninstalling=1".
func (a syncAnswer) counts() string {
	n := a.Counts
	var parts []string
	for _, c := range []struct {
		name string
		n    int
	}{
		{"checked", n.Checked}, {"upToDate", n.UpToDate}, {"applied", n.Applied}, {"uninstalling", n.Uninstalling},
		{"uninstalled", n.Uninstalled}, {"uninstallStuck", n.UninstallStuck}, {"failed", n.Failed}, {"notReached", n.NotReached}, {"leftToHooks", n.LeftToHooks}, {"notEnabled", n.NotEnabled},
		{"installFailed", n.InstallFailed}, {"rolloutHeld", n.RolloutHeld},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c.name, c.n))
		}
	}
	return strings.Join(parts, " ")
}

func (a syncAnswer) String() string {
	s := fmt.Sprintf("%s %s [%s]", a.answered.Format("15:04:05.000"), a.Status, a.counts())
	for _, c := range a.Clusters {
		s += fmt.Sprintf(" %s %s: %s", c.Cluster, c.Outcome, c.Message)
	}
	if r := a.Rollout; r != nil {
		s += fmt.Sprintf(" rollout: batch %d moved %v held %d paused %v by %v", r.Batch, r.Moved, r.Held, r.Paused, r.PausedBy)
	}
	return s
}

// only checks that the answer lists exactly one Cluster, the key, with the
// outcome and a message containing each of the parts, and returns the
// message.
func (a syncAnswer) only(t *testing.T, key, outcome string, parts ...string) string {
	t.Helper()
	if len(a.Clusters) != 1 || a.Clusters[0].Cluster != key || a.Clusters[0].Outcome != outcome {
		t.Errorf("sync answer: want exactly Cluster %s %s listed; got %s", key, outcome, a)
		return ""
	}
	for _, p := range parts {
		if !strings.Contains(a.Clusters[0].Message, p) {
			t.Errorf("sync answer for %s: want the message to contain %q; got %q", key, p, a.Clusters[0].Message)
		}
	}
	return a.Clusters[0].Message
}

// postPingEvent sends the PingSource's CloudEvent to the function's Sync
// (POST /sync, every Cluster it serves) and returns the answer, which must
// be HTTP 200.
func postPingEvent(t *testing.T, f *function) syncAnswer {
	t.Helper()
	event, err := os.ReadFile(pingEvent)
	if err != nil {
		t.Fatalf("reading the PingSource CloudEvent sample: %v", err)
	}
	return postSync(t, f, "/sync", "application/cloudevents+json", event)
}

// syncCluster asks the function's Sync for one Cluster (a plain POST
// /sync/<namespace>/<cluster>, as an operator would after a fix), so that a
// test on a function that serves other tests' Clusters syncs its own only.
func syncCluster(t *testing.T, c *testCluster) syncAnswer {
	t.Helper()
	return postSync(t, c.fn, "/sync/"+c.key(), "", nil)
}

// postSync POSTs to the function's Sync at path and returns the answer,
// which must be HTTP 200.
func postSync(t *testing.T, f *function, path, contentType string, body []byte) syncAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.plainURL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s to function %s: %v", path, f.name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of POST %s to function %s: %v", path, f.name, err)
	}
	answer := syncAnswer{answered: time.Now()}
	if err := json.Unmarshal(data, &answer); err != nil {
		t.Fatalf("POST %s to function %s answered HTTP %d, not a sync report: %v: %s", path, f.name, resp.StatusCode, err, data)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s to function %s answered HTTP %d, want 200: %s", path, f.name, resp.StatusCode, answer)
	}
	return answer
}

// syncOnce runs `konnector-hooks sync` as the CronJob runs it, against the
// management cluster with the settings of the extension's function, and
// returns its report and exit status. Its log lines (stderr) go to
// <extension>-sync.log in the artifacts.
//
// In the installed mode the sync is a Job of the install's CronJob, with
// the install's settings (which take no extra settings).
func syncOnce(t *testing.T, extension string, settings ...string) (syncAnswer, int) {
	t.Helper()
	if installed != nil {
		if len(settings) > 0 {
			t.Fatalf("syncOnce with settings %v: the installed mode runs the install's CronJob with its own settings", settings)
		}
		return installed.syncJob(t, extension)
	}
	log, err := os.OpenFile(fmt.Sprintf("%s/%s-sync.log", cfg.artifacts, extension), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(t.Context(), cfg.function, "sync")
	cmd.Env = append(append(functionEnvironment(), "KUBECONFIG="+mgmt.kubeconfig, extensionConfigSetting(extension), chartRepositorySetting()), settings...)
	cmd.Stdout, cmd.Stderr = &stdout, log
	code := 0
	if err := cmd.Run(); err != nil {
		exit, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s sync: %v", cfg.function, err)
		}
		code = exit.ExitCode()
	}
	answer := syncAnswer{answered: time.Now()}
	if err := json.Unmarshal(stdout.Bytes(), &answer); err != nil {
		t.Fatalf("`konnector-hooks sync` (exit status %d) printed no sync report: %v: %s; its log is %s", code, err, stdout.Bytes(), log.Name())
	}
	return answer, code
}
