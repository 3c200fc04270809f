// Package fixeddiscovery is the server of the start-up experiments: it
// answers every request with a fixed DiscoveryResponse on $PORT, so that an
// experiment binary differs from the trivial server only by what it links.
package fixeddiscovery

import (
	"io"
	"net/http"
	"os"
)

const discovery = `{"apiVersion":"hooks.runtime.cluster.x-k8s.io/v1alpha1","kind":"DiscoveryResponse","status":"Success","handlers":[]}` + "\n"

// Serve listens on $PORT (default 8080) and exits the process on error.
func Serve(name string) {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, discovery)
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		os.Stderr.WriteString(name + ": " + err.Error() + "\n")
		os.Exit(1)
	}
}
