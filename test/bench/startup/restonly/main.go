// Command restonly estimates the start of a konnector-hooks built on
// client-go's REST client alone: no controller-runtime, no CAPI or CAAPH API
// packages (the hook request and response and the few fields of the CAPI
// and CAAPH objects would be small local types or unstructured objects), so
// client-go's scheme of every built-in API group is not linked either. It
// keeps functions-framework, the settings and the YAML library, and answers
// discovery with a fixed body. Benchmark experiment only.
package main

import (
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	_ "github.com/sethvargo/go-envconfig"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/api/errors"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	_ "k8s.io/client-go/rest"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/test/bench/internal/fixeddiscovery"
)

func main() { fixeddiscovery.Serve("restonly") }
