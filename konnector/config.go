package konnector

import (
	"bytes"
	"fmt"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
)

// InputError is a problem with the Cluster's configuration, or an object
// next to it, that the user fixes; retrying without a change does not help.
type InputError = clusterconfig.InputError

// WorkerVariableName is the ClusterClass variable of the workers' machine
// settings, also overridden per MachineDeployment.
const WorkerVariableName = "workerConfig"

// ReadConfig reads the addon's configuration from a Cluster's topology: the
// clusterConfig variable, and the workerConfig variable of the Cluster and
// of each MachineDeployment for the categories (see clusterconfig.Read).
func ReadConfig(topology *clusterv1.Topology, defaultCredentialsSecret string) (*clusterconfig.Config, error) {
	workers := []clusterconfig.WorkerConfig{{Field: WorkerVariableName, Value: variableRaw(topology.Variables, WorkerVariableName)}}
	for _, md := range topology.Workers.MachineDeployments {
		workers = append(workers, clusterconfig.WorkerConfig{
			Field: fmt.Sprintf("spec.topology.workers.machineDeployments[%s].variables.overrides.%s", md.Name, WorkerVariableName),
			Value: variableRaw(md.Variables.Overrides, WorkerVariableName),
		})
	}
	return clusterconfig.Read(variableRaw(topology.Variables, clusterconfig.VariableName), workers, defaultCredentialsSecret)
}

// variableRaw returns the JSON value of the named variable, or nil when it
// is absent or null.
func variableRaw(variables []clusterv1.ClusterVariable, name string) []byte {
	for _, v := range variables {
		if v.Name == name {
			if raw := bytes.TrimSpace(v.Value.Raw); len(raw) == 0 || string(raw) == "null" {
				return nil
			}
			return v.Value.Raw
		}
	}
	return nil
}
