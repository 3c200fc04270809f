// Package konnector is the Konnector Agent addon's pure core: from what was
// read of a Cluster (its clusterConfig through clusterconfig, our objects,
// CAAPH's report), it decides what the hooks and Sync write and answer. It
// does no I/O and reads no clock, so every decision has table tests.
//
// The agent reaches the workload cluster through a CAAPH HelmChartProxy,
// whose values carry the Prism Central endpoint, and a ClusterResourceSet
// whose Secret delivers the credentials as the Secret the chart reads. So
// the function needs no workload-cluster kubeconfig or network path, CAPI
// re-applies the Secret when the credentials change (strategy Reconcile),
// and no credential is stored in the HelmChartProxy and every Helm
// revision, but the operator's image pull secret, which the chart reads
// from its values only (and every preview redacts: RedactValues).
package konnector
