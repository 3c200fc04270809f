package hookrequest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	apiVersion = "hooks.runtime.cluster.x-k8s.io/v1alpha1"
	acpi       = "AfterControlPlaneInitializedRequest"
	head       = `"apiVersion":"` + apiVersion + `","kind":"` + acpi + `"`
)

func TestDecode_ReadsTheClusterAndRefusesWhatOtherReadersWouldReadOtherwise(t *testing.T) {
	cases := []struct {
		name, body string
		says       string // "" when decoded
	}{
		{"plain", `{` + head + `,"cluster":{"metadata":{"name":"c","namespace":"n"}}}`, ""},
		{"repeated cluster name", `{` + head + `,"cluster":{"metadata":{"name":"a","namespace":"n","name":"c"}}}`, `duplicate field "cluster.metadata.name"`},
		{"repeated kind", `{` + head + `,"kind":"BeforeClusterDeleteRequest","cluster":{"metadata":{"name":"c","namespace":"n"}}}`, `duplicate field "kind"`},
		{"repeated field the function does not read", `{` + head + `,"cluster":{"metadata":{"name":"c","namespace":"n","labels":{"a":"1","a":"2"}},"spec":{},"spec":{}}}`, ""},
		{"field names are case-sensitive, as on the API server", `{` + head + `,"cluster":{"metadata":{"Name":"c","namespace":"n"}}}`, "has no cluster.metadata.namespace and cluster.metadata.name"},
		{"another kind", `{"apiVersion":"` + apiVersion + `","kind":"BeforeClusterDeleteRequest","cluster":{"metadata":{"name":"c","namespace":"n"}}}`, `this endpoint takes apiVersion "` + apiVersion + `" kind "` + acpi + `"`},
		{"no cluster", `{` + head + `}`, "name the Cluster the hook is called for"},
		{"not JSON", `cluster: c`, "request body is not a JSON " + acpi},
		{"empty", ``, "request body is not a JSON " + acpi},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := Decode([]byte(c.body), apiVersion, acpi, true)
			switch {
			case c.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.says == "" && (req.Namespace != "n" || req.Name != "c" || req.Kind != acpi):
				t.Fatalf("decoded %+v, want cluster n/c", req)
			case c.says != "" && err == nil:
				t.Fatalf("decoded %+v, want an error saying %q", req, c.says)
			case c.says != "" && !strings.Contains(err.Error(), c.says):
				t.Fatalf("error %q, want it to say %q", err, c.says)
			}
		})
	}
}

func TestDecode_DiscoveryTakesAnEmptyBody(t *testing.T) {
	if _, err := Decode(nil, apiVersion, "DiscoveryRequest", false); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode([]byte(`{"apiVersion":"`+apiVersion+`","kind":"DiscoveryRequest"}`), apiVersion, "DiscoveryRequest", false); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode([]byte(`{}`), apiVersion, "DiscoveryRequest", false); err == nil {
		t.Fatal("a body of no kind was accepted as a DiscoveryRequest")
	}
}

var kinds = []string{"DiscoveryRequest", acpi, "BeforeClusterUpgradeRequest", "BeforeClusterDeleteRequest"}

// FuzzDecode decodes arbitrary bodies as every request kind: no panic; a
// decoded request is of the kind asked for and names a Cluster when one is
// required, and decoding its own JSON again gives the same request; a refused
// one says why.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "test", "testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for i := range kinds {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(1), []byte(`{`+head+`,"cluster":{"metadata":{"name":"a","namespace":"b","name":"c"}}}`))
	f.Add(uint8(3), []byte(`{"apiVersion":"`+apiVersion+`","kind":"BeforeClusterDeleteRequest","cluster":null}`))
	f.Add(uint8(2), []byte(`[]`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		kind := kinds[int(which)%len(kinds)]
		cluster := kind != "DiscoveryRequest"
		req, err := Decode(body, apiVersion, kind, cluster)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", body)
			}
			return
		}
		if len(body) == 0 && !cluster {
			return
		}
		if req.APIVersion != apiVersion || req.Kind != kind || cluster && (req.Namespace == "" || req.Name == "") {
			t.Fatalf("decoded %+v from %q as a %s", req, body, kind)
		}
		again, _ := json.Marshal(map[string]any{"apiVersion": req.APIVersion, "kind": req.Kind,
			"cluster": map[string]any{"metadata": map[string]string{"namespace": req.Namespace, "name": req.Name}}})
		if back, err := Decode(again, apiVersion, kind, cluster); err != nil || back != req {
			t.Fatalf("%+v encoded and decoded again is %+v, %v", req, back, err)
		}
	})
}
