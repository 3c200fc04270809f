// Package hookrequest decodes the request bodies CAPI's runtime client sends
// to the hooks. It imports nothing but the JSON decoder the API server uses,
// so that its fuzz target compiles and instruments this code alone.
package hookrequest

import (
	"fmt"

	sigsjson "sigs.k8s.io/json"
)

// Request is the part of a hook request the function reads: only the
// Cluster's namespace and name, which the v1beta1 Cluster of CAPI up to v1.12
// and the later v1beta2 one carry in the same place; the rest is read from
// the API server.
type Request struct {
	APIVersion string
	Kind       string
	// Namespace and Name are the Cluster's; empty in a discovery request.
	Namespace, Name string
}

type wire struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Cluster    *struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	} `json:"cluster"`
}

// Decode reads body as a request of apiVersion and kind. With cluster set,
// the body must name the Cluster; without it (discovery), an empty body is
// accepted. The error says what is wrong and what to send instead.
func Decode(body []byte, apiVersion, kind string, cluster bool) (Request, error) {
	if len(body) == 0 && !cluster {
		return Request{}, nil
	}
	var w wire
	// Decoded as the API server decodes: case-sensitive, and a repeated field
	// refused, since encoding/json would keep the last one and name a cluster
	// other readers of the same bytes do not see. Only the fields read here
	// are checked.
	strict, err := sigsjson.UnmarshalStrict(body, &w, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return Request{}, fmt.Errorf("request body is not a JSON %s: %v", kind, err)
	}
	if len(strict) > 0 {
		return Request{}, fmt.Errorf("request body is refused (%v): send each key once", strict[0])
	}
	if w.APIVersion != apiVersion || w.Kind != kind {
		return Request{}, fmt.Errorf("request is apiVersion %q kind %q: this endpoint takes apiVersion %q kind %q", w.APIVersion, w.Kind, apiVersion, kind)
	}
	req := Request{APIVersion: w.APIVersion, Kind: w.Kind}
	if w.Cluster != nil {
		req.Namespace, req.Name = w.Cluster.Metadata.Namespace, w.Cluster.Metadata.Name
	}
	if cluster && (req.Name == "" || req.Namespace == "") {
		return Request{}, fmt.Errorf("%s has no cluster.metadata.namespace and cluster.metadata.name: name the Cluster the hook is called for", kind)
	}
	return req, nil
}
