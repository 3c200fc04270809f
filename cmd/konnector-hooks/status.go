package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// statusEvents is how many of our Events status shows per Cluster;
// statusReaders how many Clusters it reads at once.
const (
	statusEvents  = 5
	statusReaders = 8
)

// runStatus is `konnector-hooks status [<namespace>/<cluster>] [-o json]
// [--settings <namespace>/<configmap>]`: for one Cluster, or every Cluster
// of the served namespaces (KONNECTOR_SYNC_NAMESPACES, else all), whether
// the addon is on, which of our objects exist, the release as CAAPH reports
// it, where its HelmChartProxy stands in a rollout, and our last Events.
// It reads with the caller's own KUBECONFIG and writes nothing. The
// settings are those Sync runs with: the installed settings ConfigMap
// (default konnector-hooks/konnector-hooks-settings), else the caller's
// environment. Exit status 1 when it cannot read, 2 on bad arguments or
// settings.
func runStatus(args []string, stdout, stderr io.Writer) int {
	a, ok := statusArgs(args)
	if !ok {
		fmt.Fprintln(stderr, "usage: konnector-hooks status [<namespace>/<cluster>] [-o json|table] [--settings <namespace>/<configmap>]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := kube.FromEnvironment().Open()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 1
	}
	s, rolloutKnown, err := statusSettings(ctx, c, a.settings, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 2
	}
	keys := []types.NamespacedName{a.target}
	if a.target.Name == "" {
		if keys, err = kube.ListClusters(ctx, c, s.SyncNamespaces); err != nil {
			fmt.Fprintln(stderr, "konnector-hooks status:", err)
			return 1
		}
	}
	// Each Cluster's reads are a few requests in parallel; statusReaders
	// Clusters are read at once, so that a fleet's status is not one round
	// trip after the other.
	reads := make([]kube.StatusObjects, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statusReaders)
	for i, key := range keys {
		g.Go(func() error {
			read, err := kube.ReadStatus(gctx, c, key)
			if err == nil && read.Cluster == nil {
				err = fmt.Errorf("Cluster %s not found", key)
			}
			reads[i] = read
			return err
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 1
	}
	statuses := []konnector.ClusterStatus{}
	var rollout []konnector.RolloutCluster
	for _, read := range reads {
		cfg, cfgErr := konnector.ReadConfigWith(&read.Cluster.Spec.Topology, s)
		statuses = append(statuses, konnector.StatusOf(read, cfg, cfgErr, statusEvents))
		if r, ok := konnector.RolloutClusterOf(read, cfg, s); ok && rolloutKnown {
			rollout = append(rollout, r)
		}
	}
	states, plan := konnector.StatusRollout(rollout, s.RolloutBatch)
	for i := range statuses {
		statuses[i].Rollout = states[statuses[i].Cluster]
	}
	if a.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(statuses)
		return 0
	}
	printStatus(stdout, statuses, a.target.Name != "")
	if line := konnector.RolloutLine(plan, s.RolloutBatch); line != "" && a.target.Name == "" {
		fmt.Fprintln(stdout, "\n"+line)
	}
	return 0
}

// statusArguments are the arguments of `konnector-hooks status`.
type statusArguments struct {
	target   types.NamespacedName
	json     bool
	settings types.NamespacedName
}

// statusArgs reads [<namespace>/<cluster>] [-o json|table] [--settings
// <namespace>/<configmap>] in any order.
func statusArgs(args []string) (a statusArguments, ok bool) {
	a.settings = types.NamespacedName{Namespace: "konnector-hooks", Name: "konnector-hooks-settings"}
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "-o" && i+1 < len(args) && (args[i+1] == "json" || args[i+1] == "table"):
			a.json = args[i+1] == "json"
			i++
		case arg == "-o=json" || arg == "-ojson":
			a.json = true
		case arg == "--settings" && i+1 < len(args) && namespacedName(args[i+1], &a.settings):
			i++
		case a.target.Name == "" && namespacedName(arg, &a.target):
		default:
			return statusArguments{}, false
		}
	}
	return a, true
}

// namespacedName reads <namespace>/<name> into key.
func namespacedName(arg string, key *types.NamespacedName) bool {
	parsed, ok := konnector.ParseKey(arg)
	if ok {
		*key = parsed
	}
	return ok
}

// statusSettings loads the settings Sync runs with: the installed settings
// ConfigMap's KONNECTOR_* keys over the caller's environment (the pods
// read the same keys through envFrom), or the environment alone when the
// ConfigMap cannot be read, said on stderr. The values file is the pods':
// when the settings name one, where a HelmChartProxy stands in a rollout is
// not known (rolloutKnown false), since its desired values are not.
func statusSettings(ctx context.Context, c client.Client, ref types.NamespacedName, stderr io.Writer) (s settings.Settings, rolloutKnown bool, err error) {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, ref, cm); err != nil {
		fmt.Fprintf(stderr, "konnector-hooks status: settings from the environment: ConfigMap %s not read (%v); use --settings <namespace>/<configmap> for the installed ones\n", ref, err)
	} else {
		for k, v := range cm.Data {
			if strings.HasPrefix(k, settings.Prefix+"_") {
				os.Setenv(k, v)
			}
		}
	}
	rolloutKnown = true
	if os.Getenv(settings.Prefix+"_VALUES_FILE") != "" {
		fmt.Fprintf(stderr, "konnector-hooks status: the settings name a values file (%s_VALUES_FILE) that only the pods read: the rollout column is left empty\n", settings.Prefix)
		os.Unsetenv(settings.Prefix + "_VALUES_FILE")
		rolloutKnown = false
	}
	s, err = settings.Load()
	return s, rolloutKnown, err
}

// printStatus writes one row per Cluster, and for one Cluster its objects
// and Events below.
func printStatus(w io.Writer, statuses []konnector.ClusterStatus, detail bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tADDON\tOBJECTS\tRELEASE\tROLLOUT\tLAST EVENT")
	for _, s := range statuses {
		release, event, rollout := "-", "-", "-"
		if s.Rollout != "" {
			rollout = s.Rollout
		}
		if s.Release != nil {
			release = s.Release.String()
		}
		if len(s.Events) > 0 {
			e := s.Events[0]
			event = fmt.Sprintf("%s %s x%d", e.Type, e.Reason, e.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of 3\t%s\t%s\t%s\n", s.Cluster, s.Addon, len(s.Objects), release, rollout, event)
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
