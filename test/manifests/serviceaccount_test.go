package manifests

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// serviceAccount is deploy/'s ServiceAccount and the ClusterRole bound to
// it, as applied to the test API server.
type serviceAccount struct {
	// user is the name the API server authenticates the pods' token as.
	user  string
	rules []rbacv1.PolicyRule
}

// installServiceAccount applies deploy/'s Namespace, ServiceAccount,
// ClusterRole and ClusterRoleBinding, rendered with kustomize, for real.
func installServiceAccount(t testing.TB) serviceAccount {
	t.Helper()
	objs := render(t, "deploy")
	var sa serviceAccount
	for _, kind := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		n := 0
		for _, obj := range objs {
			if obj.GetKind() != kind {
				continue
			}
			n++
			if err := apply(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "ServiceAccount":
				sa.user = fmt.Sprintf("system:serviceaccount:%s:%s", obj.GetNamespace(), obj.GetName())
			case "ClusterRole":
				var role rbacv1.ClusterRole
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
					t.Fatal(err)
				}
				sa.rules = role.Rules
			}
		}
		if n != 1 {
			t.Fatalf("deploy/ renders %d %s objects, want 1", n, kind)
		}
	}
	return sa
}

// config returns a rest.Config that acts as the ServiceAccount (an
// administrator impersonating it: the API server authorizes every request
// with the ServiceAccount's user and groups) and records every request it
// makes in log.
func (sa serviceAccount) config(log *requestLog) *rest.Config {
	cfg := rest.CopyConfig(mgmt.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: sa.user}
	if log != nil {
		cfg.Wrap(log.wrap)
	}
	return cfg
}

// access is what RBAC authorizes a resource request by.
type access struct {
	group, resource, verb string
}

func (a access) String() string {
	resource := a.resource
	if a.group != "" {
		resource += "." + a.group
	}
	return a.verb + " " + resource
}

// apiRequest is one request a client made and the API server's answer.
type apiRequest struct {
	method, path string
	status       int
	// needs is what RBAC checked to let the request through.
	needs []access
}

func (r apiRequest) String() string {
	return fmt.Sprintf("%s %s (HTTP %d)", r.method, r.path, r.status)
}

// authorized reports whether the request got past authorization: anything
// but 401 and 403, a 404 included (a get of an absent object still needs get).
func (r apiRequest) authorized() bool {
	return r.status != http.StatusUnauthorized && r.status != http.StatusForbidden
}

// requestLog records the API requests of a client.
type requestLog struct {
	mu       sync.Mutex
	requests []apiRequest
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err != nil {
			return resp, err
		}
		req := apiRequest{method: r.Method, path: r.URL.Path, status: resp.StatusCode}
		req.needs = rbacAccess(r.Method, r.URL, resp.StatusCode)
		l.mu.Lock()
		l.requests = append(l.requests, req)
		l.mu.Unlock()
		return resp, nil
	})
}

func (l *requestLog) all() []apiRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// rbacAccess derives what RBAC checks for a resource request, as the API
// server's request info does: /api/v1/... is the core group,
// /apis/<group>/<version>/...; the verb follows from the method and whether
// the path names one object. Server-side apply is a PATCH; when it creates
// the object (201) the API server also checks create. Requests that are not
// for resources (discovery) need nothing here.
func rbacAccess(method string, u *url.URL, status int) []access {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, rest = parts[1], parts[3:]
	default:
		return nil
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	resource, named := rest[0], len(rest) >= 2
	if len(rest) >= 3 {
		resource += "/" + rest[2]
	}
	var verb string
	switch method {
	case http.MethodGet:
		switch {
		case named:
			verb = "get"
		case u.Query().Get("watch") == "true":
			verb = "watch"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(method)
	}
	needs := []access{{group, resource, verb}}
	if method == http.MethodPatch && status == http.StatusCreated {
		needs = append(needs, access{group, resource, "create"})
	}
	return needs
}

// grants lists every (group, resource, verb) the rules grant. The rules use
// no wildcards, and the test fails if they do.
func grants(t testing.TB, rules []rbacv1.PolicyRule) []access {
	t.Helper()
	var out []access
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("rule %v: non-resource URLs and resource names are not expected", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("rule %v grants a wildcard: name each group, resource and verb", r)
					}
					out = append(out, access{g, res, v})
				}
			}
		}
	}
	return out
}
