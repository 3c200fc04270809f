// Package helmrender proves that the values konnector-hooks writes install
// the Konnector Agent chart: each case calls the real hook against a
// management API server, runs the HelmChartProxy's valuesTemplate through
// CAAPH's template pass and Helm's install steps (schema, engine with lookup,
// manifest sorting) with the chart fixture in test/chart, and applies every
// manifest with a strict server-side dry-run. Helm stays out of the
// product's go.mod: this is its own module.
package helmrender
