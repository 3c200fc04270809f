package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// apiRequest is one request the function made, as the counting proxy saw it.
type apiRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// StartMs and DurationMs are relative to the start of the hook call, so
	// the requests of one call read as a waterfall.
	StartMs    float64 `json:"startMs"`
	DurationMs float64 `json:"durationMs"`
	Status     int     `json:"status"`

	// rawPath and rawQuery are the request as made, before genericPath.
	rawPath, rawQuery string
}

// countingProxy sits between a function and the API server: the function's
// kubeconfig points at it over plain HTTP, and it forwards every request with
// the administrator's credentials, recording method, path and timing.
type countingProxy struct {
	listener net.Listener
	server   *http.Server

	mu       sync.Mutex
	origin   time.Time
	requests []apiRequest
}

func startCountingProxy(admin *rest.Config) (*countingProxy, error) {
	target, err := url.Parse(admin.Host)
	if err != nil {
		return nil, err
	}
	transport, err := rest.TransportFor(admin)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{listener: l, origin: time.Now()}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: transport,
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		p.mu.Lock()
		p.requests = append(p.requests, apiRequest{
			Method:     r.Method,
			Path:       r.URL.Path,
			rawPath:    r.URL.Path,
			rawQuery:   r.URL.RawQuery,
			StartMs:    ms(start.Sub(p.origin)),
			DurationMs: ms(time.Since(start)),
			Status:     rec.status,
		})
		p.mu.Unlock()
	})}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// reset forgets the recorded requests and starts the clock of a new call.
func (p *countingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests, p.origin = nil, time.Now()
}

// take returns the requests recorded since reset.
func (p *countingProxy) take() []apiRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.requests
	p.requests = nil
	return out
}

func (p *countingProxy) close() { _ = p.server.Close() }

// writeKubeconfig writes a kubeconfig that reaches the API server through
// the proxy, without credentials: the proxy adds them.
func (p *countingProxy) writeKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["counted"] = &clientcmdapi.Cluster{Server: "http://" + p.listener.Addr().String()}
	cfg.AuthInfos["anonymous"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["counted"] = &clientcmdapi.Context{Cluster: "counted", AuthInfo: "anonymous"}
	cfg.CurrentContext = "counted"
	return clientcmd.WriteToFile(*cfg, path)
}

// genericPath replaces the namespace and names of one hook call with
// placeholders, so that calls for different clusters read the same.
func genericPath(path, namespace, cluster string) string {
	path = strings.ReplaceAll(path, "/konnector-agent-"+cluster, "/{konnector-agent-cluster}")
	path = strings.ReplaceAll(path, "/namespaces/"+namespace+"/", "/namespaces/{ns}/")
	path = strings.ReplaceAll(path, "/"+cluster, "/{cluster}")
	return path
}

// rounds counts the sequential round trips in a call's requests (see
// splitRounds).
func rounds(reqs []apiRequest) int { return len(splitRounds(reqs)) }

// span is when a call's last request ended.
func span(reqs []apiRequest) float64 {
	end := 0.0
	for _, r := range reqs {
		end = max(end, r.StartMs+r.DurationMs)
	}
	return end
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
