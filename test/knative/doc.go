// Package knative checks the manifests in knative/ with Knative's own code:
// the Service with Knative Serving's defaulting and validation (the webhook's
// SetDefaults and Validate), and the PingSource, whose API (Knative Eventing)
// the module proxy does not serve, with a strict structural test and Knative's
// own Destination validation for its sink.
//
// It is a module of its own because knative.dev/serving v0.42.2, the release
// that builds here, pins Kubernetes libraries older than the product's.
package knative
