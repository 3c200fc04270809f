// Command trivialserver is the floor of the cold-start benchmark: the least a
// Go HTTP server can do to answer CAPI's discovery call. It imports only the
// standard library, listens on $PORT like the function and answers every
// POST with a fixed DiscoveryResponse.
package main

import (
	"io"
	"net/http"
	"os"
)

const discovery = `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"DiscoveryResponse","status":"Success","handlers":[]}` + "\n"

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, discovery)
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		os.Stderr.WriteString("trivialserver: " + err.Error() + "\n")
		os.Exit(1)
	}
}
