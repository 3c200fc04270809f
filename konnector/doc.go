// Package konnector is the Konnector Agent addon's pure core: it reads the
// addon's part of a Cluster's clusterConfig variable (through clusterconfig,
// which validates it and renders the chart values), and computes the objects
// the hooks write on the management cluster. It does no
// I/O and reads no clock, so every decision here is covered by table tests.
//
// The agent reaches the workload cluster through two objects:
//
//   - a CAAPH HelmChartProxy that installs the Konnector Agent chart, whose
//     values carry the Prism Central endpoint;
//   - a ClusterResourceSet with a resource-set Secret that delivers the Prism
//     Central credentials as the Secret the chart reads.
//
// Credentials go through a ClusterResourceSet rather than being written into
// the workload cluster by the function: the function then needs no workload
// cluster kubeconfig and no network path to the workload cluster, and CAPI
// re-applies the Secret (strategy Reconcile) when the credentials change.
// They do not go into the Helm values, where they would be stored in the
// HelmChartProxy and in every Helm release revision. The one credential that
// does is the operator's image pull secret, when the values file gives one
// (the chart reads agent.image.imageCredentials from its values): it comes
// from a Secret and every preview redacts it (RedactValues).
package konnector
