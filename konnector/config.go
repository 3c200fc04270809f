package konnector

import (
	"bytes"
	"fmt"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	"github.com/konnector-hooks/konnector-hooks/konnector/clusterconfig"
	"github.com/konnector-hooks/konnector-hooks/settings"
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

// ReadConfigWith is ReadConfig under the settings: with
// KONNECTOR_UNINSTALL_ALL every Cluster is without the addon, whatever its
// clusterConfig, so that Sync uninstalls every agent before
// konnector-hooks is removed.
func ReadConfigWith(topology *clusterv1.Topology, s settings.Settings) (*clusterconfig.Config, error) {
	if s.UninstallAll {
		return nil, nil
	}
	return ReadConfig(topology, s.DefaultCredentialsSecret)
}

// NotEnabledReason says why ReadConfigWith found the addon off.
func NotEnabledReason(s settings.Settings) string {
	if s.UninstallAll {
		return settings.Prefix + "_UNINSTALL_ALL is true: konnector-hooks is being removed, and Sync uninstalls the agent of every Cluster"
	}
	return "no clusterConfig.addons.konnectorAgent"
}

// variableRaw is the named variable's JSON value, nil when absent or null.
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
