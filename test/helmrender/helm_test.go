package helmrender

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart fixture the product's values must install.
var chartDir = filepath.Join("..", "chart", "konnector-agent")

// Stages of an install, in order; a failed install names the stage it
// stopped at, so a test can tell a schema refusal from an API refusal.
const (
	stageSchema = "schema validation"
	stageRender = "template rendering"
	stageParse  = "manifest parsing"
	stageApply  = "server-side dry-run"
)

// installError is an install that stopped at a stage.
type installError struct {
	stage string
	err   error
}

func (e *installError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *installError) Unwrap() error { return e.err }

// stageOf returns the stage at which err stopped the install, or "".
func stageOf(err error) string {
	var ie *installError
	if errors.As(err, &ie) {
		return ie.stage
	}
	return ""
}

// release is what Helm rendered for one install.
type release struct {
	// manifest is every rendered document, hooks included, as Helm keeps them.
	manifest string
	// objects are the parsed manifests and hooks, in install order.
	objects []*unstructured.Unstructured
}

// installDryRun does what `helm install` does with the values, up to the
// point where it would create objects, which it does as a dry-run instead:
// the steps of action.Install.RunWithContext in Helm v3.19.5 (coalesce the
// values and validate them against the chart's schema with
// chartutil.ToRenderValuesWithSchemaValidation, which calls
// ValidateAgainstSchema as install does; render with an engine that
// reaches the cluster for lookup, sort the manifests and hooks), then every
// document, hooks included, through a strict server-side apply dry-run.
func installDryRun(ctx context.Context, cfg *rest.Config, releaseName, releaseNamespace string, vals map[string]interface{}) (*release, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart fixture %s: %w", chartDir, err)
	}
	// Helm asks the cluster for its capabilities; the fixture reads none of
	// them, so the defaults stand in without a discovery round trip.
	caps := chartutil.DefaultCapabilities
	options := chartutil.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals, options, caps, false)
	if err != nil {
		return nil, &installError{stageSchema, err}
	}
	files, err := engine.New(cfg).Render(ch, top)
	if err != nil {
		return nil, &installError{stageRender, err}
	}
	rel := &release{manifest: joinManifests(ch, files)}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return rel, &installError{stageParse, err}
	}
	var docs []string
	for _, h := range hooks {
		docs = append(docs, h.Manifest)
	}
	for _, m := range manifests {
		docs = append(docs, m.Content)
	}
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return rel, &installError{stageParse, err}
		}
		rel.objects = append(rel.objects, u)
	}
	if err := applyDryRun(ctx, cfg, rel.objects); err != nil {
		return rel, &installError{stageApply, err}
	}
	return rel, nil
}

// joinManifests is the rendered chart as one text, for failure output.
func joinManifests(ch *chart.Chart, files map[string]string) string {
	var b strings.Builder
	for _, t := range ch.Templates {
		name := filepath.Join(ch.Name(), t.Name)
		if content := strings.TrimSpace(files[name]); content != "" && !strings.HasPrefix(filepath.Base(name), "_") {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, content)
		}
	}
	return b.String()
}

// applyDryRun applies every object with server-side apply, dry-run, and
// strict field validation, so an unknown or misspelt field, a malformed
// value or a refused object fails as `helm install` would, without creating
// anything. All refusals are reported, not only the first.
func applyDryRun(ctx context.Context, cfg *rest.Config, objects []*unstructured.Unstructured) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range objects {
		//nolint:staticcheck // unstructured objects are the apply configuration here.
		err := c.Patch(ctx, u.DeepCopy(), client.Apply, client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership, client.FieldValidation("Strict"))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err))
		}
	}
	return errors.Join(errs...)
}
