package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server process the harness started: the function, the trivial
// server or the peer extension.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	stdout  *tail
	stderr  *tail
	done    chan struct{}
	err     error
}

// startChild execs binary with the harness's environment less the variables
// that would change what is measured, plus env.
func startChild(binary string, args, env []string) (*child, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	c := &child{cmd: cmd, stdout: newTail(64 << 10), stderr: newTail(1 << 20), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "KUBECONFIG", name == "PORT", name == "GODEBUG", name == "FUNCTION_TARGET",
			name == "GOMAXPROCS", name == "GOGC", name == "GOMEMLIMIT",
			strings.HasPrefix(name, "KONNECTOR_"), strings.HasPrefix(name, "BENCH_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL if the process is still there after 5s.
func (c *child) stop() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// describe says how the process ended and what it last wrote, for errors.
func (c *child) describe() string {
	state := "still running"
	if c.exited() {
		state = fmt.Sprintf("exited: %v", c.err)
	}
	return fmt.Sprintf("%s %s\nstderr: %s\nstdout: %s", c.cmd.Path, state, c.stderr.last(2000), c.stdout.last(2000))
}

// tail keeps the last bytes written to it.
type tail struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func newTail(limit int) *tail { return &tail{limit: limit} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.limit; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (t *tail) last(n int) string {
	s := t.String()
	return s[max(0, len(s)-n):]
}

// freePort returns a loopback TCP port that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
