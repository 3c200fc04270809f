package handlers

import (
	"net/http"

	runtimehooksv1 "sigs.k8s.io/cluster-api/api/runtime/hooks/v1alpha1"
)

// discoveryEndpoint answers CAPI's DiscoveryRequest with the hook table.
func (s *Server) discoveryEndpoint() http.Handler {
	respond := func(res result) any { return discoveryResponse(res) }
	return s.endpoint(respond, func(w http.ResponseWriter, r *http.Request) {
		if !requirePost(w, r, respond) {
			return
		}
		if _, err := decodeRequest(w, r, "DiscoveryRequest", false); err != nil {
			err.write(w, respond)
			return
		}
		writeJSON(w, http.StatusOK, s.discovery())
	})
}

func discoveryResponse(res result) *runtimehooksv1.DiscoveryResponse {
	resp := &runtimehooksv1.DiscoveryResponse{CommonResponse: runtimehooksv1.CommonResponse{Status: answerStatus(res), Message: res.Message}}
	resp.SetGroupVersionKind(runtimehooksv1.GroupVersion.WithKind("DiscoveryResponse"))
	return resp
}

func (s *Server) discovery() *runtimehooksv1.DiscoveryResponse {
	resp := discoveryResponse(result{})
	timeout := s.settings.HandlerTimeoutSeconds
	for _, h := range hooks {
		gvh := mustGroupVersionHook(h)
		failurePolicy := h.failurePolicy(s.settings)
		resp.Handlers = append(resp.Handlers, runtimehooksv1.ExtensionHandler{
			Name:           h.name,
			RequestHook:    runtimehooksv1.GroupVersionHook{APIVersion: gvh.GroupVersion().String(), Hook: gvh.Hook},
			TimeoutSeconds: &timeout,
			FailurePolicy:  &failurePolicy,
		})
	}
	return resp
}
