package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The keys of a bound ServiceAccount token's extra user information that
// name the pod it was issued for (the API server's authenticator sets them).
const (
	podNameExtra = "authentication.kubernetes.io/pod-name"
	podUIDExtra  = "authentication.kubernetes.io/pod-uid"
)

// deleteHold is a validating admission webhook served by the suite that holds
// the first DELETE of a HelmChartProxy of one namespace made by a pod of the
// install (its ServiceAccount, a token bound to the pod): the write
// BeforeClusterDelete makes to start an uninstall. While it holds, the pod
// that made it is provably inside a hook call (the call cannot answer before
// its write does). The API server calls it at 127.0.0.1: the suite runs in
// the network namespace of the API server (hack/e2e-knative.sh).
type deleteHold struct {
	held    chan heldDelete
	release chan struct{}
	once    sync.Once

	mu      sync.Mutex
	probed  bool
	taken   bool
	dropped bool // the API server gave up the held request (its caller went away)
	seen    []string
}

// heldDelete is the held request: who made it and what it deletes.
type heldDelete struct {
	Pod, PodUID, User, Name string
	Received                time.Time
}

// holdHelmChartProxyDelete registers the hold for namespace and returns once
// the API server calls it; the webhook configuration and the server go at the
// end of the test, before the namespace.
func holdHelmChartProxyDelete(t *testing.T, namespace, proxy string) *deleteHold {
	t.Helper()
	ctx := t.Context()
	user, err := installed.serviceAccountUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := newCertificateAuthority()
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.tlsConfig("e2e-delete-hold")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &deleteHold{held: make(chan heldDelete, 1), release: make(chan struct{})}
	server := &http.Server{Handler: http.HandlerFunc(h.serve), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.ServeTLS(lis, "", "") }()

	name := "e2e-hold-" + namespace
	path := "/hold"
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(30)
	scope := admissionregistrationv1.NamespacedScope
	url := "https://" + lis.Addr().String() + path
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "hold.e2e.konnector-hooks.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.PEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			// Fail: a delete that the hold did not see is not made.
			FailurePolicy:  &fail,
			TimeoutSeconds: &timeout,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{"addons.cluster.x-k8s.io"},
					APIVersions: []string{"*"},
					Resources:   []string{"helmchartproxies"},
					Scope:       &scope,
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}},
			// Only the install's writes: the namespace's cleanup is not held.
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "install-service-account",
				Expression: fmt.Sprintf("request.userInfo.username == %q && request.name == %q", user, proxy),
			}},
		}},
	}
	webhooks := installed.clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := webhooks.Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ValidatingWebhookConfiguration %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := webhooks.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting ValidatingWebhookConfiguration %s: %v", name, err)
		}
		h.releaseHeld()
		_ = server.Close()
	})

	// The API server takes a new webhook configuration up a moment after it
	// is created: a dry-run delete as the install's ServiceAccount (which
	// may delete HelmChartProxies) reaches the webhook once it has.
	impersonated := rest.CopyConfig(mgmt.config)
	impersonated.Impersonate = rest.ImpersonationConfig{UserName: user}
	as, err := kubernetes.NewForConfig(impersonated)
	if err != nil {
		t.Fatal(err)
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		last = as.RESTClient().Delete().AbsPath("/apis/addons.cluster.x-k8s.io/v1alpha1/namespaces", namespace, "helmchartproxies", proxy).
			Param("dryRun", "All").Do(ctx).Error()
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.probed, nil
	})
	if err != nil {
		t.Fatalf("the API server did not call the webhook %s of ValidatingWebhookConfiguration %s within a minute (last dry-run delete as %s: %v)", url, name, user, last)
	}
	if last != nil {
		t.Fatalf("the dry-run delete of HelmChartProxy %s/%s as %s, which the webhook allowed, failed: %v", namespace, proxy, user, last)
	}
	return h
}

// serve answers the API server's admission reviews: a dry run is allowed at
// once (holdHelmChartProxyDelete's probe), the first delete from a pod is
// held until releaseHeld or until the API server gives it up, and then
// denied, so that the delete the killed pod asked for is not made and the
// retry makes it; every later one is allowed.
func (h *deleteHold) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}
	req := review.Request
	answer := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	pod := first(req.UserInfo.Extra[podNameExtra])
	h.mu.Lock()
	h.seen = append(h.seen, fmt.Sprintf("%s %s %s/%s by %s (pod %q, dry run %t)", time.Now().Format("15:04:05.000"), req.Operation, req.Namespace, req.Name, req.UserInfo.Username, pod, req.DryRun != nil && *req.DryRun))
	hold := false
	switch {
	case req.DryRun != nil && *req.DryRun:
		h.probed = true
	case pod != "" && !h.taken:
		h.taken, hold = true, true
	}
	h.mu.Unlock()
	if hold {
		h.held <- heldDelete{Pod: pod, PodUID: first(req.UserInfo.Extra[podUIDExtra]), User: req.UserInfo.Username, Name: req.Name, Received: time.Now()}
		select {
		case <-h.release:
		case <-r.Context().Done():
			h.mu.Lock()
			h.dropped = true
			h.mu.Unlock()
		}
		answer.Allowed = false
		answer.Result = &metav1.Status{Message: "held by the e2e suite while the pod that asked for it was killed", Code: http.StatusConflict}
	}
	review.Response = answer
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// heldRequest waits for the held delete.
func (h *deleteHold) heldRequest(t *testing.T, timeout time.Duration, state func() string) heldDelete {
	t.Helper()
	select {
	case d := <-h.held:
		return d
	case <-time.After(timeout):
		t.Fatalf("no pod of the install deleted the HelmChartProxy within %s (the webhook saw: %v); %s", timeout, h.requests(), state())
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
	return heldDelete{}
}

// releaseHeld ends the hold; it reports whether the API server had given the
// held request up before (its caller's connection closed).
func (h *deleteHold) releaseHeld() (dropped bool) {
	h.once.Do(func() { close(h.release) })
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// requests are the admission requests the webhook saw, one line each.
func (h *deleteHold) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// serviceAccountUser is the user name of the ServiceAccount the install's
// pods run as.
func (in *installation) serviceAccountUser(ctx context.Context) (string, error) {
	kind, name, _ := strings.Cut(in.cfg.workload, "/")
	if kind != "deployment" {
		return "", errors.New("the ServiceAccount is read from a Deployment only (deploy/without-knative)")
	}
	d, err := in.clientset.AppsV1().Deployments(in.cfg.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading Deployment %s/%s: %w", in.cfg.namespace, name, err)
	}
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return "system:serviceaccount:" + in.cfg.namespace + ":" + sa, nil
}
