// Command bff is pagebff: a Backend-for-Frontend that renders the home page
// from the User, Catalog and Activity services. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bff:", err)
		os.Exit(1)
	}
}

// run starts pagebff and serves until ctx ends. Start-up problems are
// returned (main prints them to stderr and exits 1); logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default $BFF_CONFIG, else config/bff.yaml if present)")
	demo := fs.Bool("demo", false, "start built-in fake User, Catalog and Activity services and use them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	path, _ := config.FilePath(*configPath, getenv)
	cfg, err := config.Load(path, getenv, *demo)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log, err := observability.NewLogger(stdout, cfg.LogLevel)
	if err != nil {
		return err
	}

	if *demo {
		d, err := fakesvc.StartDemo()
		if err != nil {
			return fmt.Errorf("start demo services: %w", err)
		}
		defer d.Close()
		for i, s := range cfg.Services {
			if s.Downstream.URL == "" {
				cfg.Services[i].Downstream.URL = d.URLs[s.Name]
				log.Info("demo service", "service", s.Name, "url", d.URLs[s.Name])
			}
		}
		if err := missingDemoURLs(cfg); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Serve(ctx, ln)
}

// missingDemoURLs reports services the demo has no fake for and the config
// gives no URL.
func missingDemoURLs(cfg config.Config) error {
	var errs []error
	for _, s := range cfg.Services {
		if s.Downstream.URL == "" {
			errs = append(errs, fmt.Errorf("services.%s.url is not set and --demo has no fake %q service", s.Name, s.Name))
		}
	}
	return errors.Join(errs...)
}
