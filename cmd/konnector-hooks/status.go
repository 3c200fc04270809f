package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// statusEvents is how many of our Events status shows per Cluster.
const statusEvents = 5

// runStatus is `konnector-hooks status [<namespace>/<cluster>] [-o json]`:
// for one Cluster, or every Cluster of the served namespaces
// (KONNECTOR_SYNC_NAMESPACES, else all), whether the addon is on, which of
// our objects exist, the release as CAAPH reports it and our last Events.
// It reads with the caller's own KUBECONFIG and writes nothing. Exit status
// 1 when it cannot read, 2 on bad arguments or settings.
func runStatus(args []string, stdout, stderr io.Writer) int {
	target, asJSON, ok := statusArgs(args)
	if !ok {
		fmt.Fprintln(stderr, "usage: konnector-hooks status [<namespace>/<cluster>] [-o json|table]")
		return 2
	}
	s, _, ctx, stop, ok := oneShot(stderr)
	if !ok {
		return 2
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := kube.FromEnvironment().Open()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 1
	}
	keys := []types.NamespacedName{target}
	if target.Name == "" {
		if keys, err = kube.ListClusters(ctx, c, s.SyncNamespaces); err != nil {
			fmt.Fprintln(stderr, "konnector-hooks status:", err)
			return 1
		}
	}
	statuses := []konnector.ClusterStatus{}
	for _, key := range keys {
		read, err := kube.ReadStatus(ctx, c, key)
		if err != nil {
			fmt.Fprintln(stderr, "konnector-hooks status:", err)
			return 1
		}
		if read.Cluster == nil {
			fmt.Fprintf(stderr, "konnector-hooks status: Cluster %s not found\n", key)
			return 1
		}
		cfg, cfgErr := konnector.ReadConfig(&read.Cluster.Spec.Topology, s.DefaultCredentialsSecret)
		statuses = append(statuses, konnector.StatusOf(read.Cluster, cfg, cfgErr, read.HelmChartProxy, read.ClusterResourceSet,
			read.ResourceSetSecret, read.HelmReleaseProxies, read.Events, statusEvents))
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(statuses)
		return 0
	}
	printStatus(stdout, statuses, target.Name != "")
	return 0
}

// statusArgs reads [<namespace>/<cluster>] [-o json|table] in any order.
func statusArgs(args []string) (target types.NamespacedName, asJSON, ok bool) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args) && (args[i+1] == "json" || args[i+1] == "table"):
			asJSON = args[i+1] == "json"
			i++
		case a == "-o=json" || a == "-ojson":
			asJSON = true
		case target.Name == "" && strings.Count(a, "/") == 1 && !strings.HasPrefix(a, "/") && !strings.HasSuffix(a, "/"):
			target.Namespace, target.Name, _ = strings.Cut(a, "/")
		default:
			return types.NamespacedName{}, false, false
		}
	}
	return target, asJSON, true
}

// printStatus writes one row per Cluster, and for one Cluster its objects
// and Events below.
func printStatus(w io.Writer, statuses []konnector.ClusterStatus, detail bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tADDON\tOBJECTS\tRELEASE\tLAST EVENT")
	for _, s := range statuses {
		release, event := "-", "-"
		if s.Release != nil {
			release = s.Release.String()
		}
		if len(s.Events) > 0 {
			e := s.Events[0]
			event = fmt.Sprintf("%s %s x%d", e.Type, e.Reason, e.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of 3\t%s\t%s\n", s.Cluster, s.Addon, len(s.Objects), release, event)
	}
	_ = tw.Flush()
	if !detail || len(statuses) != 1 {
		return
	}
	s := statuses[0]
	fmt.Fprintln(w, "\nObjects:")
	for _, o := range s.Objects {
		fmt.Fprintln(w, "  "+o)
	}
	fmt.Fprintln(w, "\nEvents of konnector-hooks, newest first:")
	for _, e := range s.Events {
		fmt.Fprintf(w, "  %s  %s  %s x%d: %s\n", e.Last.UTC().Format(time.RFC3339), e.Type, e.Reason, e.Count, e.Message)
	}
}
