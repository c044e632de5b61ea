// Command loadbench is a reproducible load test of the real pagebff binary
// against fakesvc processes, side by side with two baselines: a plain
// concurrent BFF with a tuned pool (bench/plain), the one to beat, and a
// deliberately naive sequential one (bench/naive). `make loadbench` builds everything and runs it; see
// docs/bench.md.
//
// Each scenario starts a fresh BFF process, warms it up, then sends pages at
// a fixed rate, open loop: every page's latency counts from its scheduled
// start, so a stall shows in every page it delays instead of hiding behind
// coordinated omission. Per scenario it reports latency percentiles, failed
// pages and sections, the BFF's CPU time per page and peak RSS (from
// /proc), and the downstream calls per page (from the fakes' request
// counts). Then it pushes each BFF to saturation, closed loop, for its page
// throughput. Output: a table on the terminal, optionally the same table
// written into docs/bench.md between markers, and a PNG plot of the
// latency percentiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pagebff/pagebff/chaos"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	bff, plain, naive, fakesvc string
	rate                       float64
	duration, warmup           time.Duration
	saturate                   time.Duration
	workers, rounds            int
	png, doc                   string
	only                       string
	compare                    bool
	bffEnv                     []string
	minLatency, maxLatency     time.Duration
	profile                    string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.bff, "bff", "bin/bff", "pagebff binary")
	fs.StringVar(&o.plain, "plain", "bin/plain-bff", "plain concurrent BFF binary with a tuned pool (bench/plain), the baseline to beat")
	fs.StringVar(&o.naive, "naive", "bin/naive-bff", "naive sequential BFF binary (bench/naive); empty leaves it out")
	fs.StringVar(&o.fakesvc, "fakesvc", "bin/fakesvc", "fakesvc binary")
	fs.BoolVar(&o.compare, "compare", true, "also run every scenario against the plain and the naive BFF")
	fs.Float64Var(&o.rate, "rate", 200, "pages per second, open loop")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per scenario")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each scenario")
	fs.DurationVar(&o.saturate, "saturate", 4*time.Second, "closed-loop saturation run per BFF (0 skips it)")
	fs.IntVar(&o.workers, "workers", 64, "concurrent clients of the saturation run")
	fs.IntVar(&o.rounds, "rounds", 3, "saturation rounds, the BFFs taking turns in each; each figure is the median over the rounds")
	fs.StringVar(&o.png, "png", "", "write the latency plot here (e.g. docs/bench.png)")
	fs.StringVar(&o.doc, "doc", "", "rewrite the results between the loadbench markers of this Markdown file (e.g. docs/bench.md)")
	fs.StringVar(&o.only, "only", "", `run only the scenarios whose names contain this ("saturation": only the saturation runs)`)
	fs.DurationVar(&o.minLatency, "min-latency", 5*time.Millisecond, "fastest healthy service answer")
	fs.DurationVar(&o.maxLatency, "max-latency", 15*time.Millisecond, "slowest healthy service answer (equal to -min-latency: a fixed latency, so page latency minus it is the BFF's overhead)")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of pagebff's saturation run here (through /admin/debug/pprof)")
	fs.Func("bff-env", "extra environment for pagebff in every scenario, KEY=value (repeatable)", func(kv string) error {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("want KEY=value, got %q", kv)
		}
		o.bffEnv = append(o.bffEnv, kv)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}
	if o.rate <= 0 || o.duration <= 0 {
		return fmt.Errorf("-rate and -duration must be positive")
	}
	if o.minLatency < 0 || o.maxLatency < o.minLatency {
		return fmt.Errorf("want 0 <= -min-latency <= -max-latency")
	}

	began := time.Now()
	c, err := chaos.StartCluster(ctx, chaos.Config{
		Bin:      chaos.Binaries{BFF: o.bff, Fakesvc: o.fakesvc},
		FakeArgs: []string{"--min-latency", o.minLatency.String(), "--max-latency", o.maxLatency.String()},
	})
	if err != nil {
		return err
	}
	defer c.Close()

	bffs := []bffUnderTest{{name: "pagebff", bin: o.bff, pagebff: true}}
	if o.compare {
		for _, b := range []bffUnderTest{{name: "plain", bin: o.plain}, {name: "naive", bin: o.naive}} {
			if b.bin != "" { // -naive "" leaves the naive BFF out
				bffs = append(bffs, b)
			}
		}
	}
	fmt.Fprintf(stdout, "loadbench: %s; %.0f pages/s for %v per scenario, after %v of warm-up; services answer in %v–%v\n",
		machine(), o.rate, o.duration, o.warmup, o.minLatency, o.maxLatency)

	var rows []row
	for _, sc := range scenarios {
		if o.only != "" && (o.only == "saturation" || !strings.Contains(sc.name, o.only)) {
			continue
		}
		for _, b := range bffs {
			if !b.pagebff && sc.pagebffOnly {
				continue
			}
			r, err := measure(ctx, c, o, sc, b)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", sc.name, b.name, err)
			}
			fmt.Fprintln(stdout, r.line())
			rows = append(rows, r)
		}
	}
	var sat []saturation
	if o.saturate > 0 && (o.only == "" || o.only == "saturation") {
		// Rounds take turns, so a noisy neighbour slows every BFF alike
		// rather than whichever ran at the time.
		runs := make([][]saturation, len(bffs))
		for round := range o.rounds {
			for i, b := range bffs {
				s, err := saturate(ctx, c, o, b, round == 0)
				if err != nil {
					return fmt.Errorf("saturation, %s: %w", b.name, err)
				}
				fmt.Fprintln(stdout, s.line())
				runs[i] = append(runs[i], s)
			}
		}
		for _, r := range runs {
			sat = append(sat, medianSaturation(r))
		}
	}

	rep := report{machine: machine(), o: o, rows: rows, sat: sat, took: time.Since(began)}
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, rep.terminal())
	if o.png != "" {
		if err := plotLatencies(o.png, rows); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loadbench: wrote %s\n", o.png)
	}
	if o.doc != "" {
		if err := updateDoc(o.doc, rep.markdown()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loadbench: updated %s\n", o.doc)
	}
	fmt.Fprintf(stdout, "loadbench: done in %.0fs\n", time.Since(began).Seconds())
	return nil
}
