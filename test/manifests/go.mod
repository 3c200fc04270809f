module github.com/konnector-hooks/konnector-hooks/test/manifests

go 1.26.8

require (
	github.com/konnector-hooks/konnector-hooks v0.0.0
	k8s.io/api v0.34.3
	k8s.io/apiextensions-apiserver v0.34.3
	k8s.io/apimachinery v0.34.3
	k8s.io/client-go v0.34.3
	sigs.k8s.io/cluster-api v1.12.5
	sigs.k8s.io/cluster-api-addon-provider-helm v0.5.3
	sigs.k8s.io/controller-runtime v0.22.5
	sigs.k8s.io/kustomize/api v0.21.2
)

replace github.com/konnector-hooks/konnector-hooks => ../..
