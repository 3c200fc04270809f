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
	"sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// statusEvents is how many of our Events status shows per Cluster;
// statusReaders how many Clusters it reads at once, so that a fleet's
// status is not one round trip after the other.
const (
	statusEvents  = 5
	statusReaders = 8
)

// runStatus is `konnector-hooks status`: for one Cluster, or every one of the
// served namespaces (-n, else KONNECTOR_SYNC_NAMESPACES, else all), the
// addon, our objects, the release CAAPH reports, the rollout and our last
// Events. It reads with the caller's own kubeconfig and the settings Sync
// runs with (statusSettings), and writes nothing. Exit status 1 when it
// cannot read, 2 on bad arguments or settings.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stdout, stderr)
	var k kubeFlags
	k.register(fs)
	output := outputFlag(fs, "table", "json", "yaml")
	settingsRef := types.NamespacedName{Namespace: "konnector-hooks", Name: "konnector-hooks-settings"}
	fs.Func("settings", "the settings ConfigMap Sync runs with, `namespace/name` (default "+settingsRef.String()+")", func(v string) error {
		key, ok := konnector.ParseKey(v)
		if !ok {
			return fmt.Errorf("%q is not <namespace>/<name>", v)
		}
		settingsRef = key
		return nil
	})
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	var target types.NamespacedName
	switch fs.NArg() {
	case 0:
	case 1:
		var err error
		if target, err = k.cluster(fs.Arg(0)); err != nil {
			return badArgs(fs, stderr, err)
		}
	default:
		return badArgs(fs, stderr, fmt.Errorf("give one Cluster at most, got %q", fs.Args()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := k.opener().Open()
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 1
	}
	s, rolloutKnown, err := statusSettings(ctx, c, settingsRef, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks status:", err)
		return 2
	}
	keys := []types.NamespacedName{target}
	if target.Name == "" {
		namespaces := s.SyncNamespaces
		if k.namespace != "" {
			namespaces = []string{k.namespace}
		}
		if keys, err = kube.ListClusters(ctx, c, namespaces); err != nil {
			fmt.Fprintln(stderr, "konnector-hooks status:", err)
			return 1
		}
	}
	reads := make([]konnector.StatusObjects, len(keys))
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
	switch *output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(statuses)
		return 0
	case "yaml":
		out, err := yaml.Marshal(statuses)
		if err != nil {
			fmt.Fprintln(stderr, "konnector-hooks status:", err)
			return 1
		}
		_, _ = stdout.Write(out)
		return 0
	}
	printStatus(stdout, statuses, target.Name != "")
	if line := konnector.RolloutLine(plan, s.RolloutBatch); line != "" && target.Name == "" {
		fmt.Fprintln(stdout, "\n"+line)
	}
	return 0
}

// statusSettings loads the settings Sync runs with: the settings ConfigMap's
// KONNECTOR_* keys (the pods' envFrom) over the caller's environment, which
// is used alone, said on stderr, when the ConfigMap cannot be read. A values
// file is the pods' alone, so with one the desired values, and so the
// rollout, are not known (rolloutKnown false).
func statusSettings(ctx context.Context, c client.Client, ref types.NamespacedName, stderr io.Writer) (s settings.Settings, rolloutKnown bool, err error) {
	variables := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, settings.Prefix+"_") {
			variables[k] = v
		}
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, ref, cm); err != nil {
		fmt.Fprintf(stderr, "konnector-hooks status: settings from the environment: ConfigMap %s not read (%v); use --settings <namespace>/<configmap> for the installed ones\n", ref, err)
	}
	for k, v := range cm.Data {
		if strings.HasPrefix(k, settings.Prefix+"_") {
			variables[k] = v
		}
	}
	rolloutKnown = true
	if variables[settings.Prefix+"_VALUES_FILE"] != "" {
		fmt.Fprintf(stderr, "konnector-hooks status: the settings name a values file (%s_VALUES_FILE) that only the pods read: the rollout column is left empty\n", settings.Prefix)
		delete(variables, settings.Prefix+"_VALUES_FILE")
		rolloutKnown = false
	}
	s, err = settings.FromMap(variables)
	return s, rolloutKnown, err
}

// printStatus writes one row per Cluster, and with detail one Cluster's
// objects and Events below.
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
