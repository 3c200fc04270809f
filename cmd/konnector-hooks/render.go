package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// runRender is `konnector-hooks render`: it prints the objects the hooks
// would write for the Cluster, warnings as leading YAML comments and every
// credential redacted, and writes nothing. It reads with the caller's own
// kubeconfig, so it shows only what the caller may read, and with the
// caller's KONNECTOR_* settings. Exit status 1 when the Cluster cannot be
// previewed, 2 on bad arguments or settings.
func runRender(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("render", stdout, stderr)
	var k kubeFlags
	k.register(fs)
	output := outputFlag(fs, "yaml", "json")
	if code, done := parse(fs, args, stdout); done {
		return code
	}
	if fs.NArg() != 1 {
		return badArgs(fs, stderr, fmt.Errorf("give one Cluster, got %q", fs.Args()))
	}
	key, err := k.cluster(fs.Arg(0))
	if err != nil {
		return badArgs(fs, stderr, err)
	}
	s, srv, ctx, stop, ok := oneShot(k.opener(), stderr)
	if !ok {
		return 2
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.HandlerTimeoutSeconds)*time.Second)
	defer cancel()
	out, err := srv.Render(ctx, key.String())
	if err == nil && *output == "json" {
		out, err = manifestsToJSON(out, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "konnector-hooks render:", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}

// manifestsToJSON turns the preview's YAML documents into one JSON List, as
// kubectl prints several objects; the leading comments go to stderr.
func manifestsToJSON(manifests []byte, stderr io.Writer) ([]byte, error) {
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}
	for i, doc := range strings.Split(string(manifests), "\n---\n") {
		if i == 0 {
			fmt.Fprint(stderr, strings.TrimPrefix(doc, "---\n")+"\n")
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		list["items"] = append(list["items"].([]any), obj)
	}
	out, err := json.MarshalIndent(list, "", "  ")
	return append(out, '\n'), err
}
