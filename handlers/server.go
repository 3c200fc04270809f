// Package handlers is the HTTP side of konnector-hooks: the CAPI Runtime SDK
// router, discovery, request decoding and response encoding, one file per
// hook that hands the call to package addon, and the sync endpoint with its
// one-sync-at-a-time guard.
//
// The rules the hooks need on the management cluster, each with why, are
// in deploy/rbac.yaml alone; test/manifests runs every flow as that
// ServiceAccount and fails on a rule missing or unused.
//
// The router, discovery and protocol code repeat in part what CAPI's
// exp/runtime/server does for a controller-runtime webhook server: that
// server owns its listener and TLS, while a function hands its handlers to
// functions-framework (and Knative terminates TLS), so the path layout,
// decoding and answers are written here against CAPI's own catalog and
// types.
package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// ClientOpener opens a management-cluster client for one call.
type ClientOpener = addon.ClientOpener

// Server holds what every hook call needs. It keeps no state between calls.
type Server struct {
	settings settings.Settings
	addon    *addon.Addon
	log      *slog.Logger
	// syncs lets one sync run at a time. The process serves with one
	// Server (function.go builds it once), so at most one sync runs per
	// process.
	syncs *syncGuard
}

// New returns the Server for the given settings and management cluster.
func New(s settings.Settings, kube ClientOpener, log *slog.Logger) *Server {
	return &Server{settings: s, addon: addon.New(s, kube, log, time.Now), log: log, syncs: &syncGuard{}}
}

// The functions the manifests deploy (FUNCTION_TARGET): Hooks is the router
// of every path (the Knative Service of the hooks, the install without
// Knative); Sync is the sync endpoint alone, at any path (Sync's own Knative
// Service).
const (
	FunctionHooks = "Hooks"
	FunctionSync  = "Sync"
)

// FunctionNames lists the functions the package serves, for registration.
func FunctionNames() []string { return []string{FunctionHooks, FunctionSync} }

// Function returns the handler of the named function.
func (s *Server) Function(name string) (http.Handler, bool) {
	switch name {
	case FunctionHooks:
		return s.Router(), true
	case FunctionSync:
		return s.syncEndpoint(), true
	}
	return nil, false
}
