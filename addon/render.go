package addon

import (
	"context"
	"fmt"
	"strings"

	"github.com/konnector-hooks/konnector-hooks/konnector"
)

// Render is the preview (konnector.Preview) of `konnector-hooks render
// <namespace>/<cluster>`, which runs with the caller's own kubeconfig. It
// only reads. target is <namespace>/<cluster>.
func (a *Addon) Render(ctx context.Context, target string) ([]byte, error) {
	key, ok := konnector.ParseKey(strings.Trim(target, "/"))
	if !ok {
		return nil, fmt.Errorf("%q does not name a Cluster: give <namespace>/<cluster>", target)
	}
	c, err := a.kube.Open()
	if err != nil {
		return nil, err
	}
	f, err := a.readDeployFacts(ctx, c, key)
	if err != nil {
		return nil, err
	}
	d, err := a.decide(ctx, c, f, konnector.DeployRules{})
	switch {
	case err != nil:
		return nil, err
	case d.Failure || d.Event != nil || d.Outcome == konnector.OutcomeLeftToHooks || d.Outcome == konnector.OutcomeNotEnabled:
		return nil, fmt.Errorf("%s: nothing would be written", d.Message)
	}
	return konnector.Preview(f.Cluster, f.Config, a.settings), nil
}
