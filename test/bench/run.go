package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/konnector-hooks/konnector-hooks/test/managementcluster"
)

// server is a way to start one of the measured processes.
type server struct {
	name   string
	binary string
	env    []string
	// args returns the command line for a process listening on port.
	args  func(port int) ([]string, error)
	https bool
	roots *x509.CertPool
}

// start execs the server on a free port and returns it with its base URL.
func (s server) start(extraEnv ...string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	var args []string
	if s.args != nil {
		if args, err = s.args(port); err != nil {
			return nil, "", err
		}
	}
	env := append(slices.Clone(s.env), fmt.Sprintf("PORT=%d", port))
	c, err := startChild(s.binary, args, append(env, extraEnv...))
	if err != nil {
		return nil, "", err
	}
	scheme := "http"
	if s.https {
		scheme = "https"
	}
	return c, fmt.Sprintf("%s://127.0.0.1:%d", scheme, port), nil
}

// startAndWait starts the server and waits for its first discovery answer.
func (s server) startAndWait(discovery []byte, extraEnv ...string) (*child, string, error) {
	c, base, err := s.start(extraEnv...)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := firstAnswer(c, base, pathDiscovery, discovery, s.roots, 60*time.Second); err != nil {
		c.stop()
		return nil, "", fmt.Errorf("%s: %w", s.name, err)
	}
	return c, base, nil
}

// bench holds what every phase uses.
type bench struct {
	o          options
	rep        *Report
	env        *managementcluster.Env
	fx         *fixtures
	kubeconfig string
	dir        string

	hooks, trivial, probe server
	// startup are the start-up experiments: binaries that link part of what
	// the function links and answer discovery with a fixed body.
	startup []server
	peer    *server

	apiserverPID, etcdPID int
	discovery             []byte
}

func run(ctx context.Context, o options) (*Report, error) {
	rep := &Report{GeneratedAt: time.Now().UTC().Format(time.RFC3339), Floor: map[string]Stats{}}
	rep.Machine = machineInfo(o.repo)
	startBusy := machineBusySeconds()
	startSelf, _ := readProcStat(os.Getpid())
	before := snapshotProcesses()
	startLoad := time.Now()

	logf("starting the management API server (envtest)")
	t := time.Now()
	env, err := managementcluster.Start()
	if err != nil {
		return rep, err
	}
	defer func() { _ = env.Stop() }()
	rep.EnvtestS = time.Since(t).Seconds()
	rep.Machine.OtherProcesses = busyOthers(before, time.Since(startLoad))

	dir, err := os.MkdirTemp("", "konnector-hooks-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, rep: rep, env: env, dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := env.WriteKubeconfig(b.kubeconfig); err != nil {
		return rep, err
	}
	if b.fx, err = newFixtures(env.Config, o.repo); err != nil {
		return rep, err
	}
	b.discovery = b.fx.templates["discovery.json"]
	if pids := childrenNamed(os.Getpid(), "kube-apiserver"); len(pids) == 1 {
		b.apiserverPID = pids[0]
	}
	if pids := childrenNamed(os.Getpid(), "etcd"); len(pids) == 1 {
		b.etcdPID = pids[0]
	}

	kubeEnv := []string{"KUBECONFIG=" + b.kubeconfig}
	b.hooks = server{name: "konnector-hooks", binary: o.hooks, env: kubeEnv}
	b.trivial = server{name: "trivial", binary: o.trivial}
	b.probe = server{name: "hooksprobe", binary: o.probe, env: kubeEnv}
	b.startup = []server{{name: expNoCAAPH, binary: o.nocaaph}, {name: expRESTOnly, binary: o.restonly}}
	rep.Peer = Peer{Module: "sigs.k8s.io/cluster-api/test/extension", Version: o.peerVersion, Discovery: map[string]Stats{}, Ratios: map[string]float64{}}
	if o.peer != "" {
		certDir := filepath.Join(dir, "peer-certs")
		if err := os.MkdirAll(certDir, 0o700); err != nil {
			return rep, err
		}
		roots, err := servingCert(certDir)
		if err != nil {
			return rep, err
		}
		b.peer = &server{name: "peer", binary: o.peer, https: true, roots: roots,
			args: func(port int) ([]string, error) { return peerArgs(b.kubeconfig, certDir, port) }}
		rep.Peer.Built = true
	} else {
		rep.Peer.Error = "not built"
		if o.peerError != "" {
			if msg, err := os.ReadFile(o.peerError); err == nil {
				rep.Peer.Error = strings.TrimSpace(string(msg))
			}
		}
	}
	for _, bin := range []struct{ name, path string }{{"konnector-hooks", o.hooks}, {"trivial", o.trivial}, {expNoCAAPH, o.nocaaph}, {expRESTOnly, o.restonly}, {"peer", o.peer}} {
		if bin.path != "" {
			size := fileSize(bin.path)
			rep.Binaries = append(rep.Binaries, Binary{Name: bin.name, Path: bin.path, SizeBytes: size, SizeMiB: float64(size) / (1 << 20), Packages: linkedPackages(bin.name, o.repo, o.peer)})
		}
	}

	phases := []struct {
		name string
		run  func(context.Context) error
	}{
		{"package init traces", b.initTraces},
		{"cold starts", b.coldStarts},
		{"API requests through the counting proxy", b.countRequests},
		{"warm latency, memory and throughput", b.warm},
		{"CPU profile", b.profile},
		{"memory experiment", b.experiment},
		{"peer discovery latency and memory", b.peerWarm},
		{"in-process micro-benchmarks", b.microBenchmarks},
		{"sync of every cluster against the naive sync", b.syncBench},
	}
	var failed error
	for _, p := range phases {
		if !o.runsPhase(p.name) {
			continue
		}
		logf("phase: %s", p.name)
		if err := p.run(ctx); err != nil {
			failed = fmt.Errorf("%s: %w", p.name, err)
			rep.Notes = append(rep.Notes, "phase "+p.name+" failed: "+err.Error())
			break
		}
	}

	// Load from outside the benchmark: machine busy time less ours.
	self, _ := readProcStat(os.Getpid())
	ours := float64(self.Ticks+self.ChildTicks-startSelf.Ticks-startSelf.ChildTicks)/clockTicks +
		cpuSeconds(b.apiserverPID) + cpuSeconds(b.etcdPID)
	wall := time.Since(startLoad).Seconds()
	rep.Machine.OtherCPUSeconds = max(0, machineBusySeconds()-startBusy-ours)
	rep.Machine.OtherLoadCores = rep.Machine.OtherCPUSeconds / wall
	rep.Machine.LoadAvgEnd = loadAvg()

	rep.Notes = append(rep.Notes,
		"p99 is the nearest-rank percentile: with fewer than 100 runs (the cold starts) it is the slowest run.",
		"konnector-hooks is built from the work tree when the run starts (`go build ./cmd/konnector-hooks`, as `make build` does); the commit and whether the tree had uncommitted changes are in the Machine table.",
		"The peer runs as deployed except for ports and certificate: diagnostics endpoint over HTTPS with authentication, health endpoint, leader election off (one replica).",
		"hooksprobe (test/bench/hooksprobe) starts exactly as cmd/konnector-hooks and only adds the CPU and heap profiles; every other figure of konnector-hooks is of the product binary.",
		"Latency and throughput on this 2-core machine include the API server, etcd, the function and the load generator sharing the cores; the floor shares them too.",
	)
	analyze(rep)
	return rep, failed
}

// runsPhase reports whether -phases selects the phase.
func (o options) runsPhase(name string) bool {
	if o.phases == "" {
		return true
	}
	for _, word := range strings.Split(o.phases, ",") {
		if word != "" && strings.Contains(name, word) {
			return true
		}
	}
	return false
}

func machineInfo(repo string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.GitHead = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		m.GitDirty = len(strings.TrimSpace(string(out))) > 0
	}
	return m
}

// linkedPackages counts the packages a binary of this repository links.
func linkedPackages(name, repo, peerBinary string) int {
	var cmd *exec.Cmd
	switch name {
	case "konnector-hooks":
		cmd = exec.Command("go", "list", "-deps", "./cmd/konnector-hooks")
		cmd.Dir = repo
	case "trivial":
		cmd = exec.Command("go", "list", "-deps", "./trivialserver")
	case "peer":
		// hack/bench.sh builds the peer from a throwaway module beside it.
		cmd = exec.Command("go", "list", "-deps", "sigs.k8s.io/cluster-api/test/extension")
		cmd.Dir = filepath.Join(filepath.Dir(peerBinary), "module")
	case expNoCAAPH, expRESTOnly:
		cmd = exec.Command("go", "list", "-deps", "./startup/"+strings.TrimPrefix(name, "experiment "))
	default:
		return 0
	}
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	return strings.Count(string(out), "\n")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// snapshotProcesses records every process's CPU ticks.
func snapshotProcesses() map[int]procStat {
	out := map[int]procStat{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscan(filepath.Base(d), &pid); err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil {
			out[pid] = st
		}
	}
	return out
}

// busyOthers names the processes outside the benchmark that used more than
// 10% of a core since the snapshot.
func busyOthers(before map[int]procStat, window time.Duration) []string {
	var busy []string
	self := os.Getpid()
	for pid, now := range snapshotProcesses() {
		if pid == self || now.PPID == self {
			continue
		}
		was, ok := before[pid]
		if !ok {
			continue
		}
		used := float64(now.Ticks-was.Ticks) / clockTicks
		if used > 0.1*window.Seconds() {
			busy = append(busy, fmt.Sprintf("%s (pid %d, %.0f%% of a core)", now.Comm, pid, 100*used/window.Seconds()))
		}
	}
	slices.Sort(busy)
	return busy
}
