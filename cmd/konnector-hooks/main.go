// Command konnector-hooks serves a Konnector Agent function on $PORT
// (default 8080), over TLS when KONNECTOR_TLS_CERT_FILE and
// KONNECTOR_TLS_KEY_FILE name a certificate (the install without Knative).
// FUNCTION_TARGET picks the function served at every path, as
// functions-framework does; it defaults to Hooks, the router of the CAPI
// Runtime SDK path layout, and is read, never written.
//
// `konnector-hooks sync` instead runs one sync of every served Cluster and
// exits (the CronJob in deploy/ runs it): it prints the JSON report and exits
// non-zero when a Cluster failed.
//
// `konnector-hooks render <namespace>/<cluster>` prints, redacted, the
// objects the hooks would write for that Cluster and the warnings, writing
// nothing, with the caller's own KUBECONFIG.
//
// `konnector-hooks status [<namespace>/<cluster>] [-o json]` prints, for one
// Cluster or every served one, whether the addon is on, our objects, the
// release as CAAPH reports it and our last Events, with the caller's own
// KUBECONFIG.
package main

import (
	"cmp"
	"fmt"
	"os"

	konnectorhooks "github.com/konnector-hooks/konnector-hooks"
	"github.com/konnector-hooks/konnector-hooks/handlers"
)

func main() {
	if len(os.Args) > 1 {
		switch args := os.Args[1:]; {
		case len(args) == 1 && args[0] == "sync":
			os.Exit(runSync(os.Stdout, os.Stderr))
		case len(args) == 2 && args[0] == "render":
			os.Exit(runRender(args[1], os.Stdout, os.Stderr))
		case args[0] == "status":
			os.Exit(runStatus(args[1:], os.Stdout, os.Stderr))
		}
		fmt.Fprintf(os.Stderr, "konnector-hooks: unknown arguments %q: run it with no argument to serve, `konnector-hooks sync` for one sync, `konnector-hooks render <namespace>/<cluster>` to preview what the hooks would write for a Cluster, or `konnector-hooks status [<namespace>/<cluster>] [-o json]` for what is installed\n", os.Args[1:])
		os.Exit(2)
	}
	port := cmp.Or(os.Getenv("PORT"), "8080")
	if err := konnectorhooks.Setup(); err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
	s, _ := konnectorhooks.Settings()
	if err := serve(port, cmp.Or(os.Getenv("FUNCTION_TARGET"), handlers.FunctionHooks), s); err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
}
