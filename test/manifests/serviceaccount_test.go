package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// serviceAccount is the function's ServiceAccount of one install, the
// ClusterRole bound to it and its admission fence with the settings
// ConfigMap that gives the fence its parameters, as applied to the test API
// server.
type serviceAccount struct {
	// user is the name the API server authenticates the pods' token as.
	user string
	// subject is the ServiceAccount as RBAC bindings name it.
	subject rbacv1.Subject
	rules   []rbacv1.PolicyRule
	// namespaces are those a namespaced install binds the ClusterRole in;
	// empty when a ClusterRoleBinding grants it everywhere.
	namespaces []string
	// fence is the name of the ValidatingAdmissionPolicy that fences it.
	fence string
	// settings is the install's settings ConfigMap, the fence's parameters.
	settings *unstructured.Unstructured
}

// installKinds are the kinds of an install that make the ServiceAccount what
// it is, in the order they are applied.
var installKinds = []string{
	"Namespace", "ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding", "RoleBinding",
	"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
}

// installServiceAccount applies the Namespace, ServiceAccount, RBAC and
// admission fence of the kustomization in dir (relative to the repository
// root), rendered with kustomize, for real, and waits until the API server
// enforces the fence.
func installServiceAccount(t testing.TB, dir string) serviceAccount {
	t.Helper()
	objs := render(t, dir)
	var sa serviceAccount
	count := map[string]int{}
	for _, kind := range installKinds {
		for _, obj := range objs {
			if obj.GetKind() != kind {
				continue
			}
			count[kind]++
			if err := apply(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "ServiceAccount":
				sa.user = fmt.Sprintf("system:serviceaccount:%s:%s", obj.GetNamespace(), obj.GetName())
				sa.subject = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
			case "ClusterRole":
				var role rbacv1.ClusterRole
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
					t.Fatal(err)
				}
				sa.rules = role.Rules
			case "RoleBinding":
				sa.namespaces = append(sa.namespaces, obj.GetNamespace())
			case "ValidatingAdmissionPolicy":
				sa.fence = obj.GetName()
			case "ConfigMap":
				if strings.HasSuffix(obj.GetName(), "konnector-hooks-settings") {
					sa.settings = obj
				}
			}
		}
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if count[kind] != 1 {
			t.Fatalf("%s renders %d %s objects, want 1", dir, count[kind], kind)
		}
	}
	if sa.settings == nil {
		t.Fatalf("%s renders no settings ConfigMap", dir)
	}
	if bindings := count["ClusterRoleBinding"]; bindings > 1 || (bindings == 1) == (count["RoleBinding"] > 0) {
		t.Fatalf("%s renders %d ClusterRoleBindings and %d RoleBindings: want one ClusterRoleBinding, or RoleBindings only", dir, bindings, count["RoleBinding"])
	}
	waitForFence(t, sa)
	return sa
}

// waitForFence waits until the API server enforces the ServiceAccount's
// fence: a policy takes effect once the API server has compiled it and
// found its parameters, shortly after they are written. The probe is a
// dry-run create of a Secret that RBAC allows and the fence refuses with
// its own message (not for want of parameters); a dry run stores nothing
// either way.
func waitForFence(t testing.TB, sa serviceAccount) {
	t.Helper()
	c := sa.client(t)
	namespace := sa.subject.Namespace
	if len(sa.namespaces) > 0 {
		namespace = sa.namespaces[0]
	}
	probe := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "konnector-hooks-fence-probe"},
		Type:       corev1.SecretTypeOpaque,
	}
	waitUntil(t, fmt.Sprintf("the API server enforces ValidatingAdmissionPolicy %s for %s", sa.fence, sa.user), func() error {
		err := c.Create(t.Context(), probe.DeepCopy(), client.DryRunAll)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "'"+sa.fence+"'") && strings.Contains(err.Error(), "konnector-hooks fence: refused") {
			return nil
		}
		return fmt.Errorf("a dry-run create of Opaque Secret %s/%s answered %v", namespace, probe.Name, err)
	})
}

// client is a client that acts as the ServiceAccount.
func (sa serviceAccount) client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(sa.config(nil), client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
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
	// refusal is the API server's message when it refused the request.
	refusal string
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
		if !req.authorized() {
			req.refusal, resp.Body = readRefusal(resp.Body)
		}
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

// readRefusal reads the message of a refused request's Status body and
// returns a body that reads the same bytes again for the client.
func readRefusal(body io.ReadCloser) (string, io.ReadCloser) {
	b, err := io.ReadAll(body)
	_ = body.Close()
	var status metav1.Status
	if err == nil {
		err = json.Unmarshal(b, &status)
	}
	if err != nil {
		return fmt.Sprintf("unreadable answer: %v", err), io.NopCloser(bytes.NewReader(b))
	}
	return status.Message, io.NopCloser(bytes.NewReader(b))
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
