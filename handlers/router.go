package handlers

import (
	"net/http"

	"sigs.k8s.io/cluster-api/exp/runtime/catalog"
)

// Router serves the CAPI Runtime SDK paths
// (<url>/hooks.runtime.cluster.x-k8s.io/v1alpha1/<lowercase hook>/<handler name>),
// GET /healthz and POST /sync[/<namespace>/<cluster>].
func (s *Server) Router() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/"+runtimeHooksPrefix+"discovery", s.discoveryEndpoint())
	sync := s.syncEndpoint()
	mux.Handle("/sync", sync)
	mux.Handle("/sync/", sync)
	for _, h := range hooks {
		mux.Handle(catalog.GVHToPath(mustGroupVersionHook(h), h.name), s.hookEndpoint(h))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, genericResponse(failure("no hook is served at "+r.URL.Path+": CAPI reads the paths from discovery at POST /"+runtimeHooksPrefix+"discovery")))
	})
	return mux
}

// runtimeHooksPrefix is the group/version part of every hook path.
const runtimeHooksPrefix = "hooks.runtime.cluster.x-k8s.io/v1alpha1/"
