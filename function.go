// Package konnectorhooks registers the Konnector Agent hook functions with
// functions-framework. It holds no logic: see package handlers.
package konnectorhooks

import (
	"log/slog"
	"net/http"
	"os"
	"slices"
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

// loadSettings reads the settings once from the environment.
var loadSettings = sync.OnceValues(settings.Load)

// server is built on first use; Setup builds it at start-up so that bad
// settings stop it.
var server = sync.OnceValues(func() (*handlers.Server, error) {
	s, err := loadSettings()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	return handlers.New(s, kube.FromEnvironment(), log), nil
})

// Setup reads the settings and prepares the functions, with no network
// request, and returns the settings; a program calls it before serving.
func Setup() (settings.Settings, error) {
	if _, err := server(); err != nil {
		return settings.Settings{}, err
	}
	return loadSettings()
}

// Handler returns the function registered under name, for a program that
// serves it itself (cmd/konnector-hooks) instead of functions-framework.
func Handler(name string) (http.Handler, bool) {
	if !slices.Contains(handlers.FunctionNames(), name) {
		return nil, false
	}
	return http.HandlerFunc(serve(name)), true
}

// serve returns the function's handler, built once on its first call rather
// than for every request.
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
