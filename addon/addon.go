// Package addon carries out, on the management cluster, the steps the
// hooks and Sync take for the Konnector Agent: it reads through kube,
// decides with konnector (pure), writes through kube, and returns the
// answer or the sync report. It knows nothing of HTTP: handlers decodes a
// call and encodes what this package returns, and the `sync` and `render`
// subcommands call it directly.
package addon

import (
	"log/slog"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/settings"
)

// ClientOpener opens a management-cluster client for one call.
type ClientOpener interface {
	Open() (client.Client, error)
}

// Addon holds what every step needs. It keeps no state between calls.
type Addon struct {
	settings settings.Settings
	kube     ClientOpener
	log      *slog.Logger
	// now is the clock the uninstall timeout and Events are measured with.
	now func() time.Time
}

// New returns the Addon for the settings and management cluster, with the
// clock now (time.Now but in tests that step past a timeout).
func New(s settings.Settings, kube ClientOpener, log *slog.Logger, now func() time.Time) *Addon {
	return &Addon{settings: s, kube: kube, log: log, now: now}
}

// Answer is a hook's answer before encoding: Failure or Success, with
// retryAfterSeconds on a Success while CAPI must call again.
type Answer struct {
	Failure           bool
	Message           string
	RetryAfterSeconds int32
}

// Failed is the Failure answer with message.
func Failed(message string) Answer { return Answer{Failure: true, Message: message} }

// failureFrom is the Failure answer of err (konnector.Explain).
func failureFrom(err error) Answer { return Failed(konnector.Explain(err, konnector.HookRetry)) }
