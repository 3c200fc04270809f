package konnector

import (
	_ "embed"
	"encoding/json"
	"strings"
	"text/template"
)

//go:embed values.yaml.tmpl
var valuesTemplateText string

// valuesTemplate renders the Konnector Agent chart's values. Every string goes
// through quote, so no input can change the YAML structure.
var valuesTemplate = template.Must(template.New("values").
	Funcs(template.FuncMap{"quote": quote}).
	Option("missingkey=error").
	Parse(valuesTemplateText))

type valuesInput struct {
	AgentName             string
	ClusterName           string
	CredentialsSecretName string
	PrismCentral          Endpoint
}

// renderValues returns the HelmChartProxy valuesTemplate for one cluster.
func renderValues(in valuesInput) string {
	var b strings.Builder
	// The template is fixed and its inputs are plain values, so execution
	// cannot fail; a failure is a bug in this package.
	if err := valuesTemplate.Execute(&b, in); err != nil {
		panic("konnector: rendering the values template: " + err.Error())
	}
	return b.String()
}

// quote makes s a YAML double-quoted scalar (a JSON string is one) that CAAPH
// passes through unchanged. CAAPH executes valuesTemplate as a Go template, so
// every "{{" in the input is written as an action that prints "{{".
func quote(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return strings.ReplaceAll(string(b), "{{", `{{"{{"}}`)
}
