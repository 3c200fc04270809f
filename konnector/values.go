package konnector

import (
	_ "embed"
	"encoding/json"
	"fmt"
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

// quote makes s a YAML double-quoted scalar (a JSON string is one, once the
// characters YAML does not allow raw are escaped too) that CAAPH passes
// through unchanged. CAAPH executes valuesTemplate as a Go template, so every
// "{{" in the input is written as an action that prints "{{".
func quote(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	var out strings.Builder
	for _, r := range string(b) {
		if yamlPrintable(r) {
			out.WriteRune(r)
		} else {
			fmt.Fprintf(&out, `\u%04X`, r)
		}
	}
	return strings.ReplaceAll(out.String(), "{{", `{{"{{"}}`)
}

// yamlPrintable reports whether r may stand unescaped in a double-quoted
// YAML scalar: printable (YAML 1.2, 5.1) and not a line break that YAML
// would fold (NEL).
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0x20 && r <= 0x7E, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
