package konnector

import (
	"reflect"
	"strings"
	"testing"
)

func TestReportInstall_AFailureLastsAndADeployedRevisionIsSaidOnce(t *testing.T) {
	deployed := Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns/konnector-agent-c-x1", Revision: 2, ChartVersion: "1.4.1"}
	failed := Release{Phase: ReleaseFailed, HelmReleaseProxy: "ns/konnector-agent-c-x1", ChartVersion: "9.9.9", Message: `chart "konnector-agent" version "9.9.9" not found`}
	pending := Release{Phase: ReleasePending, Message: "CAAPH has not created the HelmReleaseProxy yet"}
	cases := []struct {
		name     string
		release  Release
		reported string
		want     InstallReport // Message and the Event's message checked apart
		says     []string
	}{
		{"deployed, not said yet: one Normal Event and the mark", deployed, "", InstallReport{
			Event: &Event{Type: "Normal", Reason: ReasonInstalled, Key: "deployed/2/1.4.1"}, Mark: "deployed/2/1.4.1"}, []string{"chart 1.4.1, Helm revision 2"}},
		{"deployed, said already: nothing", deployed, "deployed/2/1.4.1", InstallReport{}, nil},
		{"a new revision after a failure: said", deployed, "failed/1.4.1", InstallReport{
			Event: &Event{Type: "Normal", Reason: ReasonInstalled, Key: "deployed/2/1.4.1"}, Mark: "deployed/2/1.4.1"}, []string{"revision 2"}},
		{"failed: the outcome, a counted Warning and the mark", failed, "deployed/2/1.4.1", InstallReport{Failed: true,
			Event: &Event{Type: "Warning", Reason: ReasonInstallFailed, Key: "failed/9.9.9", Count: true}, Mark: "failed/9.9.9"},
			[]string{"Cluster ns/c", "ns/konnector-agent-c-x1", "chart 9.9.9 failed", `version "9.9.9" not found`, "KONNECTOR_CHART_VERSION"}},
		{"failed, said already: counted again, no new mark", failed, "failed/9.9.9", InstallReport{Failed: true,
			Event: &Event{Type: "Warning", Reason: ReasonInstallFailed, Key: "failed/9.9.9", Count: true}}, []string{"chart 9.9.9 failed"}},
		{"pending: nothing", pending, "deployed/1/1.3.0", InstallReport{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ReportInstall("ns/c", c.release, c.reported)
			var said string
			if got.Event != nil {
				said, got.Event.Message = got.Event.Message, ""
			}
			for _, s := range c.says {
				if !strings.Contains(said, s) {
					t.Errorf("event message %q does not say %q", said, s)
				}
			}
			if got.Failed && got.Message != said {
				t.Errorf("the outcome says %q, the Event %q", got.Message, said)
			}
			got.Message = ""
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ReportInstall:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestRelease_AgainstTheVersionOurHelmChartProxyHolds(t *testing.T) {
	old := Release{Phase: ReleaseDeployed, HelmReleaseProxy: "ns/r", Revision: 3, ChartVersion: "1.3.0"}
	if got := old.Against("1.3.0"); got != old {
		t.Fatalf("same version: %+v", got)
	}
	got := old.Against("1.4.1")
	if got.Phase != ReleasePending || got.ChartVersion != "1.4.1" || got.Revision != 0 || !strings.Contains(got.Message, "holds 1.3.0") {
		t.Fatalf("CAAPH still at the old version: %+v", got)
	}
	none := ReleaseOf(nil)
	if got := none.Against("1.4.1"); got != none {
		t.Fatalf("no HelmReleaseProxy: %+v", got)
	}
}
