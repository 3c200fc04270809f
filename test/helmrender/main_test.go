package helmrender

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// env is the one API server of this package. It is the management cluster
// the hooks read and write, and it also stands in for the workload cluster
// that Helm installs into: the chart's objects are only dry-run there.
var env *managementcluster.Env

// workloadNamespaces exist on the workload cluster before Helm runs: the
// ClusterResourceSet creates ntnx-system, CAAPH creates a release namespace.
var workloadNamespaces = []string{"ntnx-system", "other-ns"}

func TestMain(m *testing.M) {
	start := time.Now()
	e, err := managementcluster.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("API server (envtest) started in %s\n", time.Since(start).Round(time.Millisecond))
	env = e
	code := 1
	if err := createNamespaces(context.Background(), workloadNamespaces...); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

func createNamespaces(ctx context.Context, names ...string) error {
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Namespace %s: %w", name, err)
		}
	}
	return nil
}
