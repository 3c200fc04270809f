// Package konnectorhooks registers the Konnector Agent hook functions with
// functions-framework. It holds no logic: see package handlers.
package konnectorhooks

import (
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/konnector-hooks/konnector-hooks/handlers"
	"github.com/konnector-hooks/konnector-hooks/kube"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

func init() {
	for _, name := range handlers.FunctionNames() {
		functions.HTTP(name, serve(name))
	}
}

// server is built on first use, from the settings read once from the
// environment; Setup builds it at start-up so that bad settings stop it.
var server = sync.OnceValues(func() (*handlers.Server, error) {
	s, err := settings.Load()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	return handlers.New(s, kube.FromEnvironment(), log), nil
})

// Setup reads the settings and prepares the functions. It makes no network
// request. A program serving the functions calls it before serving.
func Setup() error {
	_, err := server()
	return err
}

func serve(name string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		srv, err := server()
		if err != nil {
			http.Error(w, "konnector-hooks cannot serve: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h, _ := srv.Function(name)
		h.ServeHTTP(w, r)
	}
}
