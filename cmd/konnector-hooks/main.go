// Command konnector-hooks serves the Konnector Agent function FUNCTION_TARGET
// names (default Hooks, as functions-framework picks it) at every path on
// $PORT (default 8080), over TLS when KONNECTOR_TLS_CERT_FILE and
// KONNECTOR_TLS_KEY_FILE name a certificate (the install without Knative).
// With a command (cli.go) it runs once instead; `konnector-hooks --help`
// lists them.
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
	s, err := konnectorhooks.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
	if err := serve(port, cmp.Or(os.Getenv("FUNCTION_TARGET"), handlers.FunctionHooks), s); err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
}
