package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// Render is the preview of `konnector-hooks render <namespace>/<cluster>`,
// which runs with the caller's own kubeconfig: the objects the hooks would
// write for the Cluster as YAML, the warnings as leading comments, every
// credential redacted. It only reads. target is <namespace>/<cluster>.
func (s *Server) Render(ctx context.Context, target string) ([]byte, error) {
	key, ok := konnector.ParseKey(strings.Trim(target, "/"))
	if !ok {
		return nil, fmt.Errorf("%q does not name a Cluster: give <namespace>/<cluster>", target)
	}
	c, err := s.kube.Open()
	if err != nil {
		return nil, err
	}
	in, err := s.readDeployInputs(ctx, c, key)
	if err != nil {
		return nil, err
	}
	switch {
	case in.configErr != nil:
		return nil, in.configErr
	case in.config == nil:
		return nil, fmt.Errorf("the Konnector Agent addon is not enabled for Cluster %s (%s): nothing would be written", key, konnector.NotEnabledReason(s.settings))
	}
	if _, err := s.readCredentials(ctx, c, in); err != nil {
		return nil, err
	}
	return konnector.Preview(in.cluster, in.config, s.settings), nil
}
