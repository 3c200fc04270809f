package knative

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/yaml"
)

// pingSource mirrors sources.knative.dev/v1 PingSource: every field its API
// declares, and no other, so that a strict decode refuses a misspelled or
// invented one, as the API server would with Knative Eventing's CRD.
type pingSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Schedule    string                      `json:"schedule"`
		Timezone    string                      `json:"timezone,omitempty"`
		ContentType string                      `json:"contentType,omitempty"`
		Data        string                      `json:"data,omitempty"`
		DataBase64  string                      `json:"dataBase64,omitempty"`
		Sink        duckv1.Destination          `json:"sink"`
		CEOverrides *duckv1.CloudEventOverrides `json:"ceOverrides,omitempty"`
	} `json:"spec"`
}

const pingSourcePath = "knative/sync-pingsource/pingsource.yaml"

// checkPingSource returns what Knative Eventing would refuse, or what would
// not reach Sync, in a PingSource.
func checkPingSource(p *pingSource) []string {
	var problems []string
	if p.APIVersion != "sources.knative.dev/v1" || p.Kind != "PingSource" {
		problems = append(problems, "apiVersion/kind "+p.APIVersion+" "+p.Kind+", want sources.knative.dev/v1 PingSource")
	}
	// PingSource reads its schedule as a standard 5-field cron expression.
	if _, err := cron.ParseStandard(p.Spec.Schedule); err != nil {
		problems = append(problems, "schedule: "+err.Error())
	}
	if p.Spec.Data != "" && p.Spec.DataBase64 != "" {
		problems = append(problems, "data and dataBase64 are mutually exclusive")
	}
	if p.Spec.ContentType == "application/json" && !json.Valid([]byte(p.Spec.Data)) {
		problems = append(problems, "data is not JSON although contentType is application/json")
	}
	ctx := apis.WithinCreate(context.Background())
	if err := p.Spec.Sink.Validate(ctx); err != nil {
		problems = append(problems, "sink: "+err.Error())
	}
	ref := p.Spec.Sink.Ref
	if ref == nil || ref.APIVersion != "serving.knative.dev/v1" || ref.Kind != "Service" || ref.Name != syncServiceName || (ref.Namespace != "" && ref.Namespace != p.Namespace) {
		problems = append(problems, "sink.ref should be Sync's own Knative Service "+syncServiceName+" in the PingSource's namespace")
	}
	// The Sync function syncs every served Cluster at / (and one Cluster at
	// /<namespace>/<cluster>): the Service's address itself.
	if u := p.Spec.Sink.URI; u != nil && (u.Scheme != "" || u.Host != "" || (u.Path != "" && u.Path != "/")) {
		problems = append(problems, "sink.uri should be absent or /: the Sync Service syncs every Cluster at its address")
	}
	return problems
}

func TestPingSource_IsAValidPingSourceThatSendsToSync(t *testing.T) {
	p := &pingSource{}
	readStrict(t, pingSourcePath, p)
	if problems := checkPingSource(p); len(problems) > 0 {
		t.Fatalf("%s:\n  %s", pingSourcePath, strings.Join(problems, "\n  "))
	}
	if p.Namespace != "konnector-hooks" || p.Spec.Schedule != "*/5 * * * *" {
		t.Errorf("the PingSource is %s with schedule %q, want namespace konnector-hooks every 5 minutes", p.Namespace, p.Spec.Schedule)
	}
	var k struct {
		Kind      string   `json:"kind"`
		Resources []string `json:"resources"`
	}
	readLoose(t, "knative/sync-pingsource/kustomization.yaml", &k)
	if k.Kind != "Component" || !slices.Equal(k.Resources, []string{"sync-service.yaml", "pingsource.yaml"}) {
		t.Errorf("knative/sync-pingsource is a %s with resources %v, want a Component with sync-service.yaml and pingsource.yaml", k.Kind, k.Resources)
	}
}

func TestPingSource_StructuralCheckRefusesBrokenOnes(t *testing.T) {
	cases := []struct {
		name, from, to, says string
	}{
		{"a misspelled field", "  schedule:", "  schedul:", "unknown field"},
		{"a 4-field schedule", `"*/5 * * * *"`, `"*/5 * * *"`, "schedule"},
		{"an absolute sink uri next to the ref", "      name: konnector-hooks-sync\n", "      name: konnector-hooks-sync\n    uri: http://elsewhere.example/sync\n", "sink"},
		{"one Cluster's path", "      name: konnector-hooks-sync\n", "      name: konnector-hooks-sync\n    uri: /default/c1\n", "sink.uri"},
		{"the hooks' Service", "      name: konnector-hooks-sync\n", "      name: konnector-hooks\n", "sink.ref"},
		{"data that is not JSON", `data: '{"trigger":"schedule"}'`, `data: 'schedule'`, "not JSON"},
		{"a sink that is a Deployment", "kind: Service", "kind: Deployment", "sink.ref"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := readFile(t, pingSourcePath)
			if !strings.Contains(b, c.from) {
				t.Fatalf("%s has no %q to change", pingSourcePath, c.from)
			}
			p := &pingSource{}
			var problems []string
			if err := yaml.UnmarshalStrict([]byte(strings.Replace(b, c.from, c.to, 1)), p); err != nil {
				problems = []string{err.Error()}
			} else {
				problems = checkPingSource(p)
			}
			if !strings.Contains(strings.Join(problems, "\n"), c.says) {
				t.Fatalf("with %s the check says %v, want a problem with %q", c.name, problems, c.says)
			}
		})
	}
}

// With Knative Serving's cluster-local-domain-tls, the Sync Service's address
// is https and the PingSource's adapter must trust the cluster-local CA.
// kustomize cannot read that CA from the cluster, so the PingSource ships
// without sink.CACerts, and the manifest and the README must say so and how
// to set it: this test fails the day either stops saying it.
func TestPingSource_WithoutSinkCACertsTheDocsSayHowToSetThem(t *testing.T) {
	p := &pingSource{}
	readStrict(t, pingSourcePath, p)
	if p.Spec.Sink.CACerts != nil {
		return // wired: nothing left to warn about
	}
	for _, doc := range []struct{ path, says string }{
		{pingSourcePath, "set spec.sink.CACerts"},
		{"README.md", "`spec.sink.CACerts`"},
		{"README.md", "`cluster-local-domain-tls`"},
	} {
		if !strings.Contains(readFile(t, doc.path), doc.says) {
			t.Errorf("the PingSource has no sink.CACerts, and %s does not say %q", doc.path, doc.says)
		}
	}
}
