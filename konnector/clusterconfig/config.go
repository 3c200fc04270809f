// Package clusterconfig reads the addon's part of a Nutanix Cluster's
// clusterConfig variable and renders the chart values from it. It is pure
// and imports no Kubernetes API types, so that its fuzz targets instrument
// this code and little else; konnector reads the variables and builds the
// objects.
package clusterconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// VariableName is the ClusterClass variable that carries the addon's configuration.
	VariableName = "clusterConfig"
	// StrategyHelmAddon is the only deployment strategy: CAAPH installs the chart.
	StrategyHelmAddon = "HelmAddon"
	// DefaultPrismCentralPort is the port of Prism Central when the URL has none.
	DefaultPrismCentralPort = 9440

	// FieldAddon and FieldEndpoint are the fields of clusterConfig that error
	// messages and warnings name.
	FieldAddon    = VariableName + ".addons.konnectorAgent"
	FieldEndpoint = VariableName + ".nutanix.prismCentralEndpoint"
)

// Config is the addon's configuration for one cluster, validated and defaulted.
type Config struct {
	// CredentialsSecret names the Secret, in the Cluster's namespace, that holds
	// the Prism Central username and password.
	CredentialsSecret string
	PrismCentral      Endpoint
	// Categories are the Prism Central categories of the cluster's machines
	// as key=value, without duplicates, sorted.
	Categories []string
	// KubeconfigUpload asks the agent to upload the cluster's kubeconfig to
	// Prism Central (enableKubeconfigUpload, default true).
	KubeconfigUpload bool
}

// Endpoint is where the agent reaches Prism Central.
type Endpoint struct {
	Host     string
	Port     int32
	Insecure bool
	// TrustBundle is the PEM of the CA certificates that Prism Central's
	// certificate is checked against, nil when none is given.
	TrustBundle []byte
}

// InputError is a problem with the Cluster's configuration, or the objects
// next to it, that the user fixes; retrying without a change does not help.
type InputError struct {
	// Field or object at fault, e.g. clusterConfig.addons.konnectorAgent.strategy.
	Field string
	// Problem and Fix are sentences for a person.
	Problem, Fix string
	// NotFound is set when the problem is an object that does not exist.
	NotFound bool
	// Transient is set when the problem passes by itself (the Cluster not yet
	// created): the hooks answer Failure, so that CAPI calls again, whatever
	// KONNECTOR_ON_INVALID_CONFIG says.
	Transient bool
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Field, e.Problem, e.Fix)
}

// clusterConfigValue is the part of clusterConfig this addon reads; other
// fields are ignored so that the addon works beside any of them.
type clusterConfigValue struct {
	Nutanix *struct {
		PrismCentralEndpoint *prismCentralEndpoint `json:"prismCentralEndpoint"`
	} `json:"nutanix"`
	ControlPlane *struct {
		Nutanix *nutanixMachines `json:"nutanix"`
	} `json:"controlPlane"`
	Addons *struct {
		KonnectorAgent *konnectorAgent `json:"konnectorAgent"`
	} `json:"addons"`
}

// nutanixMachines is the part of a control plane's or a workerConfig's
// nutanix settings that this addon reads.
type nutanixMachines struct {
	MachineDetails *struct {
		AdditionalCategories []category `json:"additionalCategories"`
	} `json:"machineDetails"`
}

type category struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type prismCentralEndpoint struct {
	URL                   string `json:"url"`
	Insecure              bool   `json:"insecure"`
	AdditionalTrustBundle string `json:"additionalTrustBundle"`
}

type konnectorAgent struct {
	Strategy               string `json:"strategy"`
	EnableKubeconfigUpload *bool  `json:"enableKubeconfigUpload"`
	Credentials            *struct {
		SecretRef *struct {
			Name string `json:"name"`
		} `json:"secretRef"`
	} `json:"credentials"`
}

// WorkerConfig is the value of a workerConfig variable: the Cluster's own,
// or a MachineDeployment's override of it. Field names it in error messages.
type WorkerConfig struct {
	Field string
	// Value is the variable's JSON, nil when it is absent or null.
	Value []byte
}

// Read reads the addon's configuration from the clusterConfig variable's JSON
// (nil when absent or null) and, for the categories, the workerConfig values.
// It returns nil, nil when the addon is off, and an *InputError when the
// configuration is invalid.
func Read(raw []byte, workers []WorkerConfig, defaultCredentialsSecret string) (*Config, error) {
	if !addonEnabled(raw) {
		return nil, nil
	}
	var value clusterConfigValue
	if err := json.Unmarshal(raw, &value); err != nil {
		return nil, decodeError(VariableName, err)
	}
	if value.Addons == nil || value.Addons.KonnectorAgent == nil {
		return nil, nil
	}
	agent := value.Addons.KonnectorAgent

	if agent.Strategy != "" && agent.Strategy != StrategyHelmAddon {
		return nil, &InputError{
			Field:   FieldAddon + ".strategy",
			Problem: fmt.Sprintf("unsupported strategy %q", agent.Strategy),
			Fix:     "set it to " + StrategyHelmAddon + " or leave it out",
		}
	}

	secret := defaultCredentialsSecret
	if agent.Credentials != nil {
		field := FieldAddon + ".credentials.secretRef.name"
		if agent.Credentials.SecretRef == nil || agent.Credentials.SecretRef.Name == "" {
			return nil, &InputError{
				Field:   field,
				Problem: "is missing or empty",
				Fix:     "name the Secret that holds the Prism Central username and password, or leave credentials out to use " + defaultCredentialsSecret,
			}
		}
		secret = agent.Credentials.SecretRef.Name
		if problems := validation.IsDNS1123Subdomain(secret); len(problems) > 0 {
			return nil, &InputError{
				Field:   field,
				Problem: fmt.Sprintf("%q is not a valid Secret name (%s)", truncate(secret, 80), strings.Join(problems, "; ")),
				Fix:     "use the name of an existing Secret in the Cluster's namespace",
			}
		}
	}

	var pc *prismCentralEndpoint
	if value.Nutanix != nil {
		pc = value.Nutanix.PrismCentralEndpoint
	}
	endpoint, err := readEndpoint(pc)
	if err != nil {
		return nil, err
	}
	var controlPlane *nutanixMachines
	if value.ControlPlane != nil {
		controlPlane = value.ControlPlane.Nutanix
	}
	categories, err := readCategories(workers, controlPlane)
	if err != nil {
		return nil, err
	}
	return &Config{
		CredentialsSecret: secret,
		PrismCentral:      endpoint,
		Categories:        categories,
		KubeconfigUpload:  agent.EnableKubeconfigUpload == nil || *agent.EnableKubeconfigUpload,
	}, nil
}

// addonEnabled is whether clusterConfig.addons.konnectorAgent holds any value
// but null. Nothing else is decoded to decide it, so that a malformed field
// the addon would read never fails a Cluster without the addon.
func addonEnabled(clusterConfig []byte) bool {
	raw := clusterConfig
	for _, key := range []string{"addons", "konnectorAgent"} {
		var object map[string]json.RawMessage
		if raw == nil || json.Unmarshal(raw, &object) != nil {
			return false
		}
		raw = object[key]
	}
	trimmed := bytes.TrimSpace(raw)
	return len(trimmed) > 0 && string(trimmed) != "null"
}

// decodeError names the field of a variable that does not decode.
func decodeError(variable string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := variable
		if typeErr.Field != "" {
			field += "." + typeErr.Field
		}
		return &InputError{
			Field:   field,
			Problem: fmt.Sprintf("is a JSON %s where %s is expected", typeErr.Value, jsonKind(typeErr.Type.Kind().String())),
			Fix:     "correct the value in the Cluster's topology variables",
		}
	}
	return &InputError{
		Field:   variable,
		Problem: "is not valid JSON (" + err.Error() + ")",
		Fix:     "correct the value in the Cluster's topology variables",
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "ptr", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	default:
		return "a " + goKind
	}
}

func readEndpoint(pc *prismCentralEndpoint) (Endpoint, error) {
	field := FieldEndpoint + ".url"
	bad := func(problem string) error {
		return &InputError{
			Field:   field,
			Problem: problem,
			Fix:     "set it to the Prism Central address, e.g. https://prism-central.example.com:9440",
		}
	}
	if pc == nil || pc.URL == "" {
		return Endpoint{}, bad("is required when the Konnector Agent addon is enabled")
	}
	u, err := url.Parse(pc.URL)
	if err != nil {
		return Endpoint{}, bad(fmt.Sprintf("%q is not a URL", truncate(pc.URL, 200)))
	}
	switch {
	case u.Scheme != "https":
		return Endpoint{}, bad(fmt.Sprintf("%q does not use https", truncate(pc.URL, 200)))
	case u.User != nil:
		return Endpoint{}, bad("must not carry user information: credentials belong in the credentials Secret")
	case u.Hostname() == "":
		return Endpoint{}, bad(fmt.Sprintf("%q has no host", truncate(pc.URL, 200)))
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return Endpoint{}, bad(fmt.Sprintf("%q has a path, query or fragment; give only scheme, host and port", truncate(pc.URL, 200)))
	}
	host := u.Hostname()
	if !isHost(host) {
		return Endpoint{}, bad(fmt.Sprintf("host %q is neither an IP address nor a DNS name", truncate(host, 200)))
	}
	port := int32(DefaultPrismCentralPort)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Endpoint{}, bad(fmt.Sprintf("port %q is not a port number", truncate(p, 20)))
		}
		port = int32(n)
	}
	bundle, err := readTrustBundle(pc.AdditionalTrustBundle)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Host: host, Port: port, Insecure: pc.Insecure, TrustBundle: bundle}, nil
}

// isHost reports whether host is an IP address or a DNS name.
func isHost(host string) bool {
	return net.ParseIP(host) != nil || len(validation.IsDNS1123Subdomain(strings.ToLower(host))) == 0
}

// truncate keeps user input quoted in messages to a readable length.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
