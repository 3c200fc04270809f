// Command nocaaph estimates what konnector-hooks would cost to start without
// sigs.k8s.io/cluster-api-addon-provider-helm/api/v1alpha1, whose webhook
// files import all of controller-runtime (manager, informers, webhook and
// metrics servers). It links every other library package the function
// imports, so that their package inits run, and answers discovery with a
// fixed body. Benchmark experiment only.
package main

import (
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	_ "github.com/sethvargo/go-envconfig"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/api/errors"
	_ "k8s.io/apimachinery/pkg/api/meta"
	_ "k8s.io/client-go/rest"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "sigs.k8s.io/cluster-api/api/addons/v1beta2"
	_ "sigs.k8s.io/cluster-api/api/core/v1beta2"
	_ "sigs.k8s.io/cluster-api/api/runtime/hooks/v1alpha1"
	_ "sigs.k8s.io/cluster-api/exp/runtime/catalog"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/yaml"

	"github.com/konnector-hooks/konnector-hooks/test/bench/internal/fixeddiscovery"
)

func main() { fixeddiscovery.Serve("nocaaph") }
