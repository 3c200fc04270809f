package clusterconfig

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// workerConfigValue is the part of workerConfig this addon reads.
type workerConfigValue struct {
	Nutanix *nutanixMachines `json:"nutanix"`
}

// readCategories collects the Prism Central categories of the control plane,
// the workers and each MachineDeployment's workerConfig override, as
// Nutanix's own extension sends them to the chart, skipping empty keys or
// values. They are sorted and unique, so that reordering MachineDeployments
// changes nothing. The chart joins them as key=value,key=value, so "," and
// "=" cannot be sent.
func readCategories(workers []WorkerConfig, controlPlane *nutanixMachines) ([]string, error) {
	var categories []string
	add := func(field string, machines *nutanixMachines) error {
		if machines == nil || machines.MachineDetails == nil {
			return nil
		}
		for i, c := range machines.MachineDetails.AdditionalCategories {
			if c.Key == "" || c.Value == "" {
				continue
			}
			if strings.ContainsAny(c.Key, ",=") || strings.ContainsAny(c.Value, ",=") {
				return &InputError{
					Field:   fmt.Sprintf("%s.nutanix.machineDetails.additionalCategories[%d]", field, i),
					Problem: fmt.Sprintf("category %q=%q contains \",\" or \"=\", which Prism Central's category list for the agent cannot carry", truncate(c.Key, 80), truncate(c.Value, 80)),
					Fix:     "use a category whose key and value have neither \",\" nor \"=\"",
				}
			}
			if !yamlCarries(c.Key) || !yamlCarries(c.Value) {
				return &InputError{
					Field:   fmt.Sprintf("%s.nutanix.machineDetails.additionalCategories[%d]", field, i),
					Problem: "category contains a control character (U+007F to U+009F) or a non-character (U+FFFE, U+FFFF)",
					Fix:     "use a category of printable characters",
				}
			}
			categories = append(categories, c.Key+"="+c.Value)
		}
		return nil
	}
	if err := add(VariableName+".controlPlane", controlPlane); err != nil {
		return nil, err
	}
	for _, w := range workers {
		if w.Value == nil {
			continue
		}
		var worker workerConfigValue
		if err := json.Unmarshal(w.Value, &worker); err != nil {
			return nil, decodeError(w.Field, err)
		}
		if err := add(w.Field, worker.Nutanix); err != nil {
			return nil, err
		}
	}
	slices.Sort(categories)
	return slices.Compact(categories), nil
}
