package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// redacted replaces the credential values in rendered objects.
var redacted = konnector.Credentials{Username: []byte("REDACTED"), Password: []byte("REDACTED")}

// renderEndpoint answers GET .../<namespace>/<cluster> with the objects the
// hooks would write for that cluster, as YAML, credentials redacted. It
// writes nothing.
func (s *Server) renderEndpoint() http.Handler {
	respond := func(res result) any { return genericResponse(res) }
	return s.endpoint(respond, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeJSON(w, http.StatusMethodNotAllowed, respond(failure("use GET /render/<namespace>/<cluster>")))
			return
		}
		// The router serves /render/<namespace>/<cluster>; the Render function
		// alone serves /<namespace>/<cluster> as well.
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/render/"), "/"), "/")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			writeJSON(w, http.StatusBadRequest, respond(failure("name the cluster: GET /render/<namespace>/<cluster>")))
			return
		}
		key := types.NamespacedName{Namespace: parts[0], Name: parts[1]}
		ctx, cancel, rerr := s.callContext(r)
		if rerr != nil {
			rerr.write(w, respond)
			return
		}
		defer cancel()
		out, status, err := s.render(ctx, key)
		if err != nil {
			writeJSON(w, status, respond(failureFrom(err)))
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(out)
	})
}

func (s *Server) render(ctx context.Context, key types.NamespacedName) ([]byte, int, error) {
	c, err := s.kube.Open()
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	in, err := s.readDeployInputs(ctx, c, key)
	if err != nil {
		return nil, statusOf(err), err
	}
	switch {
	case in.configErr != nil:
		return nil, http.StatusUnprocessableEntity, in.configErr
	case in.config == nil:
		return nil, http.StatusNotFound, fmt.Errorf("the Konnector Agent addon is not enabled for Cluster %s (no clusterConfig.addons.konnectorAgent): nothing would be written", key)
	}
	if _, err := s.readCredentials(ctx, c, in); err != nil {
		return nil, statusOf(err), err
	}
	desired := konnector.DesiredObjects(in.cluster, in.config, redacted, s.settings)
	// Show the resource-set Secret's manifests as text rather than base64.
	secret := desired.ResourceSetSecret
	secret.StringData = map[string]string{konnector.ResourceSetKey: string(secret.Data[konnector.ResourceSetKey])}
	secret.Data = nil
	// Warnings lead the output as YAML comments, so that it stays a manifest.
	var out []byte
	out = fmt.Appendf(out, "# Registered in Prism Central as %q\n", desired.RegisteredName)
	for _, w := range desired.Warnings {
		out = fmt.Appendf(out, "# warning: %s\n", w)
	}
	for _, obj := range desiredList(desired) {
		out = append(append(out, "---\n"...), konnector.Manifest(obj)...)
	}
	return out, http.StatusOK, nil
}

func statusOf(err error) int {
	var input *konnector.InputError
	switch {
	case errors.As(err, &input) && input.NotFound:
		return http.StatusNotFound
	case errors.As(err, &input):
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadGateway
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
