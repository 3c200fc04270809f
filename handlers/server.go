// Package handlers is the HTTP side of konnector-hooks: the CAPI Runtime SDK
// router and discovery, decoding and answers, one file per hook that hands
// the call to package addon, and the sync endpoint.
//
// The RBAC the hooks need, each rule with why, is in deploy/rbac.yaml alone;
// test/manifests runs every flow as that ServiceAccount and fails on a rule
// missing or unused.
//
// The routing, decoding and answers repeat CAPI's exp/runtime/server, which
// owns its listener and TLS; a function hands its handlers to
// functions-framework behind Knative's TLS, so they are written here against
// CAPI's catalog and types.
package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/konnector-hooks/konnector-hooks/addon"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// Server holds what every call needs; only syncs outlives a call.
type Server struct {
	settings settings.Settings
	addon    *addon.Addon
	log      *slog.Logger
	// syncs lets one sync run at a time in the process: function.go builds
	// one Server.
	syncs *syncGuard
}

// New returns the Server for the given settings and management cluster.
func New(s settings.Settings, kube addon.ClientOpener, log *slog.Logger) *Server {
	return &Server{settings: s, addon: addon.New(s, kube, log, time.Now), log: log, syncs: &syncGuard{}}
}

// The functions the manifests deploy (FUNCTION_TARGET): Hooks, the router of
// every path; Sync, the sync endpoint alone at any path (its own Knative
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
