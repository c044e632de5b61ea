package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Process is a child process whose output is kept (the last lines) and
// scanned for the {"msg":"listening","addr":...} line that pagebff and
// fakesvc log once they serve. It is safe for concurrent use.
type Process struct {
	Name string
	cmd  *exec.Cmd

	addr   chan string   // the first listening address logged
	exited chan struct{} // closed when the process has been waited for
	err    error         // Wait's error; read after exited is closed

	mu      sync.Mutex
	lines   []string // the last keepLines lines of output; guarded by mu
	watches []*Watch // guarded by mu
}

// Watch counts the lines of a process's output that contain a string,
// however many lines the process writes. It is safe for concurrent use.
type Watch struct {
	substr string
	n      atomic.Int64
	mu     sync.Mutex
	first  []string // the first watchKeep lines seen; guarded by mu
}

const watchKeep = 3

// Count returns how many lines contained the string so far.
func (w *Watch) Count() int64 { return w.n.Load() }

// First returns the first few lines that contained the string.
func (w *Watch) First() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.first...)
}

func (w *Watch) see(line string) {
	if !strings.Contains(line, w.substr) {
		return
	}
	w.n.Add(1)
	w.mu.Lock()
	if len(w.first) < watchKeep {
		w.first = append(w.first, line)
	}
	w.mu.Unlock()
}

// Watch starts counting the lines of output, from now on, that contain
// substr. Unlike Lines it sees every line, not only the last ones kept.
func (p *Process) Watch(substr string) *Watch {
	w := &Watch{substr: substr}
	p.mu.Lock()
	p.watches = append(p.watches, w)
	p.mu.Unlock()
	return w
}

const keepLines = 200

// droppedEnv are variables of the calling environment a child must not
// inherit: a CI box's BFF_* settings would change the system under test.
var droppedEnv = []string{"BFF_", "USER_SERVICE_URL=", "CATALOG_SERVICE_URL=", "ACTIVITY_SERVICE_URL=", "FAKESVC_"}

// StartProcess starts bin with args. The child inherits the environment
// (minus pagebff's and fakesvc's own variables) plus env ("KEY=value"). It
// dies with the calling process where the platform allows (Linux).
func StartProcess(name, bin string, args, env []string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !hasAnyPrefix(kv, droppedEnv) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = sysProcAttr()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	pw.Close() // the child holds its own copy
	p := &Process{Name: name, cmd: cmd, addr: make(chan string, 1), exited: make(chan struct{})}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		p.scan(pr)
	}()
	go func() {
		err := cmd.Wait()
		// A grandchild may still hold the pipe open: read what is left
		// for a moment, then cut it.
		select {
		case <-scanned:
		case <-time.After(time.Second):
		}
		pr.Close()
		<-scanned
		p.err = err
		close(p.exited)
	}()
	return p, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (p *Process) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.lines = append(p.lines, line)
		if len(p.lines) > 2*keepLines {
			p.lines = append(p.lines[:0], p.lines[len(p.lines)-keepLines:]...)
		}
		for _, w := range p.watches {
			w.see(line)
		}
		p.mu.Unlock()
		if !found && strings.Contains(line, `"listening"`) {
			var m struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "listening" && m.Addr != "" {
				found = true
				p.addr <- m.Addr
			}
		}
	}
	// A child that is killed may leave the pipe with an error; the lines
	// read so far are what there is.
	_, _ = io.Copy(io.Discard, r)
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// WaitListening waits for the listening line and returns its address
// ("127.0.0.1:NNNN"). It fails if the process ends first or timeout
// passes, with the process's last lines of output.
func (p *Process) WaitListening(timeout time.Duration) (string, error) {
	select {
	case a := <-p.addr:
		return a, nil
	case <-p.exited:
		return "", fmt.Errorf("%s exited before listening (%v); output:\n%s", p.Name, p.err, p.Tail(30))
	case <-time.After(timeout):
		return "", fmt.Errorf("%s (pid %d, %s) did not log its listening address within %v; output:\n%s", p.Name, p.Pid(), procState(p.Pid()), timeout, p.Tail(30))
	}
}

// Tail returns the last n lines of the process's output.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// Lines returns the kept lines of output that contain substr.
func (p *Process) Lines(substr string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// Stop sends SIGTERM and waits up to grace for the process to end, then
// kills it. It returns an error if the process had to be killed or exited
// with a failure status after SIGTERM.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exitErr()
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed; output:\n%s", p.Name, grace, p.Tail(20))
	}
}

// Kill ends the process at once and waits for it.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *Process) exitErr() error {
	if p.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return fmt.Errorf("%s: %v; output:\n%s", p.Name, p.err, p.Tail(20))
	}
	return p.err
}

// procState describes a process from /proc for a diagnostic: its state
// and, when asleep, where in the kernel.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "state unknown"
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	state := "state " + f[0]
	if w, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid)); err == nil && len(w) > 0 {
		state += ", waiting in " + string(w)
	}
	return state
}
