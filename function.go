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

// serve returns the function's handler, built once on its first call: the
// router's ServeMux and endpoints are not rebuilt for every request.
func serve(name string) func(http.ResponseWriter, *http.Request) {
	handler := sync.OnceValues(func() (http.Handler, error) {
		srv, err := server()
		if err != nil {
			return nil, err
		}
		h, _ := srv.Function(name)
		return h, nil
	})
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := handler()
		if err != nil {
			http.Error(w, "konnector-hooks cannot serve: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	}
}
