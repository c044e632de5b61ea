package testutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a real redis-server on a loopback port, in a temporary
// directory, persisting nothing. It talks to it by hand (RESP) so that
// testutil needs no Redis client.
type RedisServer struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	args []string // extra arguments, kept for Restart
	pass string   // --requirepass, if given

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu; nil once stopped
	exited chan struct{} // closed when cmd has been waited for; guarded by mu
	out    *lockedBuffer // the server's output, for failure messages
}

// StartRedis starts redis-server on a free loopback port with
// persistence off and waits until it answers PING; it is stopped when the
// test ends. args are added to the command line (e.g. "--requirepass",
// "secret"). Without redis-server on PATH the test is skipped, except
// with CI=true in the environment, where it fails: CI must not skip.
func StartRedis(tb testing.TB, args ...string) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const msg = "redis-server not installed: apt-get install redis-server"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	r := &RedisServer{tb: tb, bin: bin, dir: tb.TempDir(), args: args}
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			r.pass = args[i+1]
		}
	}
	tb.Cleanup(r.Stop)
	// The free port may be taken (by a client's ephemeral port, say)
	// before redis-server binds it: then it exits, and another is tried.
	for attempt := 1; ; attempt++ {
		if r.port, err = freePort(); err != nil {
			tb.Fatalf("start redis: %v", err)
		}
		err = r.start()
		if err == nil {
			return r
		}
		if !errors.Is(err, errExited) || attempt == 5 {
			tb.Fatalf("start redis: %v", err)
		}
	}
}

// errExited is start's error when redis-server ended before answering.
var errExited = errors.New("redis-server exited")

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (r *RedisServer) start() error {
	args := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
		"--logfile", "", "--daemonize", "no", "--protected-mode", "no",
	}, r.args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited, r.out = cmd, exited, out
	r.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%w: %s", errExited, out.String())
		default:
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server on %s never answered PING (%v): %s", r.Addr(), err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends PING and expects PONG, or NOAUTH from a server with a
// password: either way it is up.
func (r *RedisServer) ping() error {
	conn, err := net.DialTimeout("tcp", r.Addr(), 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
}

// Addr returns the server's host:port.
func (r *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL returns redis://[:password@]host:port/0, with the --requirepass
// password if one was given.
func (r *RedisServer) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr(), Path: "/0"}
	if r.pass != "" {
		u.User = url.UserPassword("", r.pass)
	}
	return u.String()
}

func (r *RedisServer) signal(sig syscall.Signal) {
	r.tb.Helper()
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if cmd == nil {
		r.tb.Fatalf("redis-server on %s is not running", r.Addr())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("signal redis-server: %v", err)
	}
}

// Pause stops the server with SIGSTOP: connections are accepted by the
// kernel but nothing is answered, as with a Redis stuck or far away.
func (r *RedisServer) Pause() {
	r.tb.Helper()
	r.signal(syscall.SIGSTOP)
}

// Resume continues a paused server (SIGCONT).
func (r *RedisServer) Resume() {
	r.tb.Helper()
	r.signal(syscall.SIGCONT)
}

// Kill ends the server with SIGKILL and waits for it; what it held is
// lost. Restart starts it again.
func (r *RedisServer) Kill() {
	r.tb.Helper()
	r.kill()
}

func (r *RedisServer) kill() {
	cmd, exited := r.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // SIGKILL ends a stopped process too
	<-exited
}

// take hands over the running server's process (nil when none runs), which
// the caller then ends.
func (r *RedisServer) take() (*exec.Cmd, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd, exited := r.cmd, r.exited
	r.cmd = nil
	return cmd, exited
}

// Restart kills the server if it runs and starts it again, empty, on the
// same port.
func (r *RedisServer) Restart() {
	r.tb.Helper()
	r.kill()
	if err := r.start(); err != nil {
		r.tb.Fatalf("restart redis: %v", err)
	}
}

// Stop ends the server (it is called at the test's cleanup; calling it
// again does nothing).
func (r *RedisServer) Stop() {
	cmd, exited := r.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Output returns what the server has written to its log.
func (r *RedisServer) Output() string {
	r.mu.Lock()
	out := r.out
	r.mu.Unlock()
	if out == nil {
		return ""
	}
	return out.String()
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
