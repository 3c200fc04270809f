// Command konnector-hooks serves the Konnector Agent hook functions with
// functions-framework on $PORT (default 8080). FUNCTION_TARGET picks the
// function served at every path; it defaults to Hooks, the router of the
// CAPI Runtime SDK path layout.
package main

import (
	"fmt"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	konnectorhooks "github.com/konnector-hooks/konnector-hooks"
)

func main() {
	if os.Getenv("FUNCTION_TARGET") == "" {
		_ = os.Setenv("FUNCTION_TARGET", "Hooks")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := konnectorhooks.Setup(); err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
	if err := funcframework.Start(port); err != nil {
		fmt.Fprintln(os.Stderr, "konnector-hooks:", err)
		os.Exit(1)
	}
}
