package konnector

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// WorkerVariableName is the ClusterClass variable of the workers' machine
// settings, also overridden per MachineDeployment.
const WorkerVariableName = "workerConfig"

// workerConfigValue is the part of workerConfig this addon reads.
type workerConfigValue struct {
	Nutanix *nutanixMachines `json:"nutanix"`
}

// readCategories collects the Prism Central categories of the cluster's
// machines, as Nutanix's own extension sends them to the chart: from the
// control plane, the workers and each MachineDeployment's override of
// workerConfig; pairs with an empty key or value are skipped and duplicates
// dropped. They are sorted, so that reordering MachineDeployments does not
// change the values. The chart joins them as key=value,key=value, so a key or
// value with "," or "=" cannot be sent.
func readCategories(topology *clusterv1.Topology, controlPlane *nutanixMachines) ([]string, error) {
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
	if err := addWorkerCategories(WorkerVariableName, topology.Variables, add); err != nil {
		return nil, err
	}
	for _, md := range topology.Workers.MachineDeployments {
		field := fmt.Sprintf("spec.topology.workers.machineDeployments[%s].variables.overrides.%s", md.Name, WorkerVariableName)
		if err := addWorkerCategories(field, md.Variables.Overrides, add); err != nil {
			return nil, err
		}
	}
	slices.Sort(categories)
	return slices.Compact(categories), nil
}

// addWorkerCategories adds the categories of the workerConfig among variables.
func addWorkerCategories(field string, variables []clusterv1.ClusterVariable, add func(string, *nutanixMachines) error) error {
	raw := variableRaw(variables, WorkerVariableName)
	if raw == nil {
		return nil
	}
	var worker workerConfigValue
	if err := json.Unmarshal(raw, &worker); err != nil {
		return decodeError(field, err)
	}
	return add(field, worker.Nutanix)
}
