// Command konnector-hooks serves a Konnector Agent function on $PORT
// (default 8080), over TLS when KONNECTOR_TLS_CERT_FILE and
// KONNECTOR_TLS_KEY_FILE name a certificate (the install without Knative).
// FUNCTION_TARGET picks the function served at every path, as
// functions-framework does; it defaults to Hooks, the router of the CAPI
// Runtime SDK path layout, and is read, never written.
//
// With a command it runs once instead (cli.go): `sync` (the CronJob),
// `render`, `status`, `version` and `help`; `konnector-hooks --help` lists
// them.
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
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
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
