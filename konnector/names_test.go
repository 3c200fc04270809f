package konnector

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestObjectName_StaysAValidLabelValue(t *testing.T) {
	long := strings.Repeat("c", 63)
	cases := []struct{ cluster, want string }{
		{"my-cluster", "konnector-agent-my-cluster"},
		{strings.Repeat("a", 47), "konnector-agent-" + strings.Repeat("a", 47)}, // exactly 63
	}
	for _, c := range cases {
		if got := ObjectName(c.cluster); got != c.want {
			t.Errorf("ObjectName(%q) = %q, want %q", c.cluster, got, c.want)
		}
	}
	for _, cluster := range []string{strings.Repeat("a", 48), long, long + ".example", "cluster.with.dots-" + long} {
		name := ObjectName(cluster)
		if len(name) > 63 || len(validation.IsValidLabelValue(name)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			t.Errorf("ObjectName(%q) = %q (%d characters) is not a valid label value and name", cluster, name, len(name))
		}
		if !strings.HasPrefix(name, "konnector-agent-") {
			t.Errorf("ObjectName(%q) = %q lost its prefix", cluster, name)
		}
	}
	// Two long names that share their first 63 characters get different objects.
	if ObjectName(long+"-one") == ObjectName(long+"-two") {
		t.Fatal("long cluster names that differ at the end share an object name")
	}
	if ObjectName(long) != ObjectName(long) {
		t.Fatal("ObjectName is not deterministic")
	}
}

func TestIsOurs_NeedsOurLabelsForThisCluster(t *testing.T) {
	if !IsOurs(Labels("a"), "a") {
		t.Fatal("our own labels are not ours")
	}
	if IsOurs(Labels("a"), "b") {
		t.Fatal("another cluster's objects are ours")
	}
	if IsOurs(map[string]string{"cluster.x-k8s.io/cluster-name": "a"}, "a") {
		t.Fatal("an object without managed-by is ours")
	}
}

func TestParseKey_NamespaceSlashName(t *testing.T) {
	for in, want := range map[string]string{
		"default/my-cluster": "default/my-cluster",
		"ns/c":               "ns/c",
		"ns":                 "",
		"ns/":                "",
		"/c":                 "",
		"ns/c/x":             "",
		"ns//c":              "",
		"":                   "",
	} {
		key, ok := ParseKey(in)
		if got := key.String(); ok != (want != "") || (ok && got != want) {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
