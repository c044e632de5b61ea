// Command bff is pagebff: a Backend-for-Frontend that renders the home page
// from the User, Catalog and Activity services. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pagebff/pagebff/internal/app"
	"github.com/pagebff/pagebff/internal/config"
	"github.com/pagebff/pagebff/internal/fakesvc"
	"github.com/pagebff/pagebff/internal/observability"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second
	// Ctrl-C or SIGTERM during the drain ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bff:", err)
		os.Exit(1)
	}
}

// reloadDebounce folds the several events an editor's save makes into one
// reload.
const reloadDebounce = 250 * time.Millisecond

// run starts pagebff and serves until ctx ends, reading the environment
// only from environ ("KEY=value" entries, as from os.Environ). Start-up
// problems are returned (main prints them to stderr and exits 1); logs go
// to stdout.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) error {
	getenv := lookupIn(environ)
	fs := flag.NewFlagSet("bff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default $BFF_CONFIG, else config/bff.yaml if present)")
	demo := fs.Bool("demo", false, "start built-in fake User, Catalog and Activity services and use them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h and --help asked for the usage, which is printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Catch SIGHUP from the start: its default action ends the process,
	// and one may come while the demo or the listener is still starting.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	path, _ := config.FilePath(*configPath, getenv)
	cfg, err := config.Load(path, getenv, *demo)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	defer observability.RedirectStdLog(log)()
	for _, w := range append(config.EnvWarnings(environ, cfg), cfg.Deprecated...) {
		log.Warn(w)
	}
	logGC(log, app.TuneGC(getenv, "/sys/fs/cgroup"))

	var demoURLs map[string]string
	if *demo {
		d, err := fakesvc.StartDemo()
		if err != nil {
			return fmt.Errorf("start demo services: %w", err)
		}
		defer d.Close()
		demoURLs = d.URLs
		if cfg, err = withDemoURLs(cfg, demoURLs, log); err != nil {
			return err
		}
		cfg.Server.Addr = loopbackIfUnspecified(cfg.Server.Addr)
	}

	tp, err := observability.NewTracerProvider(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}()

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	defer ln.Close()
	var adminLn net.Listener
	if cfg.Server.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.Server.AdminAddr); err != nil {
			return fmt.Errorf("listen on admin.addr %s: %w", cfg.Server.AdminAddr, err)
		}
		defer adminLn.Close()
	}
	a, err := app.New(cfg, log, app.WithLevel(level), app.WithTracer(tp))
	if err != nil {
		return err
	}
	defer a.Close()

	var reloading sync.Mutex // the watcher and SIGHUP must not interleave load and swap
	reload := func(why string) {
		reloading.Lock()
		defer reloading.Unlock()
		next, err := config.Load(path, getenv, *demo)
		if err == nil && *demo {
			next, err = withDemoURLs(next, demoURLs, nil)
			next.Server.Addr = loopbackIfUnspecified(next.Server.Addr)
		}
		if err != nil {
			a.RecordRejected()
			log.Error("config reload rejected; the running config stays", slog.String("trigger", why), slog.String("error", err.Error()))
			return
		}
		changed, err := a.Reload(next)
		switch {
		case errors.Is(err, app.ErrUnchanged):
			log.Info("config reload: nothing changed", slog.String("trigger", why))
		case err != nil:
			log.Error("config reload failed; the running config stays", slog.String("trigger", why), slog.String("error", err.Error()))
		default:
			log.Info("config reloaded", slog.String("trigger", why), slog.Any("changed", changed))
		}
	}
	if path != "" {
		if err := config.Watch(ctx, path, reloadDebounce, func() { reload("file") }); err != nil {
			log.Warn("config file not watched; SIGHUP still reloads", slog.String("error", err.Error()))
		}
	}
	stopHUP := onSignal(ctx, hup, func() { reload("SIGHUP") })
	defer stopHUP()

	return a.Serve(ctx, ln, adminLn)
}

// loopbackIfUnspecified binds an address without a host (":8080") to
// 127.0.0.1: the demo is for the person at this machine, and its fake
// services and open admin endpoints should not face the network. An address
// naming a host is kept.
func loopbackIfUnspecified(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// lookupIn returns a getenv over environ; the first entry for a name wins,
// as with os.Getenv.
func lookupIn(environ []string) func(string) string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, seen := m[k]; !seen {
				m[k] = v
			}
		}
	}
	return func(k string) string { return m[k] }
}

// onSignal calls f on its own goroutine for every signal on ch until ctx
// ends; the returned func stops it and waits for it.
func onSignal(ctx context.Context, ch <-chan os.Signal, f func()) (stop func()) {
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				f()
			case <-ctx.Done():
				return
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// withDemoURLs points every service without a URL at the demo's fake, and
// refuses services the demo has no fake for. log, if not nil, is told.
func withDemoURLs(cfg config.Config, urls map[string]string, log *slog.Logger) (config.Config, error) {
	cfg.Services = append([]config.Service(nil), cfg.Services...)
	var errs []error
	for i, s := range cfg.Services {
		if s.Downstream.URL != "" {
			continue
		}
		u, ok := urls[s.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("services.%s.url is not set and --demo has no fake %q service", s.Name, s.Name))
			continue
		}
		cfg.Services[i].Downstream.URL = u
		if log != nil {
			log.Info("demo service", "service", s.Name, "url", u)
		}
	}
	return cfg, errors.Join(errs...)
}

// logGC says which garbage collector settings are in force.
func logGC(log *slog.Logger, gc app.GCSettings) {
	limit := "none"
	if gc.MemoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(gc.MemoryLimit>>20, 10) + " MiB"
	}
	log.Info("garbage collector", slog.Int("gogc", gc.Percent), slog.String("memory_limit", limit),
		slog.Any("from_env", gc.FromEnv))
}
