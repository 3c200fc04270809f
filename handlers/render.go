package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// renderNotServed is the answer to GET /render without
// KONNECTOR_SERVE_RENDER=true: the preview reads any Cluster's
// configuration, and served it would do so with the function's
// cluster-wide rights for every pod that reaches the service.
const renderNotServed = "GET /render is not served: it is off unless KONNECTOR_SERVE_RENDER=true (make run sets it); " +
	"preview with your own rights instead: konnector-hooks render <namespace>/<cluster>, with your KUBECONFIG"

// renderEndpoint answers GET .../<namespace>/<cluster> with the objects the
// hooks would write for that cluster, as YAML, credentials redacted. It
// writes nothing. Without KONNECTOR_SERVE_RENDER=true it answers 404 to
// every request, before reading anything.
func (s *Server) renderEndpoint() http.Handler {
	respond := func(res result) any { return genericResponse(res) }
	return s.endpoint(respond, func(w http.ResponseWriter, r *http.Request) {
		if !s.settings.ServeRender {
			writeJSON(w, http.StatusNotFound, respond(failure(renderNotServed)))
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeJSON(w, http.StatusMethodNotAllowed, respond(failure("use GET /render/<namespace>/<cluster>")))
			return
		}
		// The router serves /render/<namespace>/<cluster>; the Render function
		// alone serves /<namespace>/<cluster> as well.
		key, ok := renderTarget(strings.TrimPrefix(r.URL.Path, "/render/"))
		if !ok {
			writeJSON(w, http.StatusBadRequest, respond(failure("name the cluster: GET /render/<namespace>/<cluster>")))
			return
		}
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

// renderTarget reads <namespace>/<cluster>.
func renderTarget(s string) (types.NamespacedName, bool) {
	parts := strings.Split(strings.Trim(s, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: parts[0], Name: parts[1]}, true
}

// Render returns what GET /render/<namespace>/<cluster> shows, for the
// preview of `konnector-hooks render`, which runs with the caller's own
// kubeconfig: the objects the hooks would write for the Cluster as YAML,
// the warnings as leading comments, every credential redacted. It only
// reads. target is <namespace>/<cluster>.
func (s *Server) Render(ctx context.Context, target string) ([]byte, error) {
	key, ok := renderTarget(target)
	if !ok {
		return nil, fmt.Errorf("%q does not name a Cluster: give <namespace>/<cluster>", target)
	}
	out, _, err := s.render(ctx, key)
	return out, err
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
		return nil, http.StatusNotFound, fmt.Errorf("the Konnector Agent addon is not enabled for Cluster %s (%s): nothing would be written", key, konnector.NotEnabledReason(s.settings))
	}
	if _, err := s.readCredentials(ctx, c, in); err != nil {
		return nil, statusOf(err), err
	}
	return konnector.Preview(in.cluster, in.config, s.settings), http.StatusOK, nil
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
