package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// report is a whole run's results.
type report struct {
	machine string
	o       options
	rows    []row
	sat     []saturation
	took    time.Duration
}

var header = []string{"scenario", "BFF", "pages", "p50", "p90", "p99", "max", "failed pages", "sections ok", "CPU/page", "peak RSS", "downstream calls/page", "hedges sent (per page)"}

func (r row) cells() []string {
	ok := fmt.Sprintf("%.1f%%", 100*r.sectionsOK)
	if r.stale >= 0.0005 {
		ok += fmt.Sprintf(" (+%.1f%% stale)", 100*r.stale)
	}
	calls := fmt.Sprintf("%.2f", r.callsPerPage)
	if r.extra > 0.0005 || r.extra < -0.0005 {
		calls += fmt.Sprintf(" (%+.1f%%)", 100*r.extra)
	}
	return []string{r.scenario, r.bff, fmt.Sprint(r.pages), ms(r.q(.5)), ms(r.q(.9)), ms(r.q(.99)), ms(r.q(1)),
		fmt.Sprint(r.failed), ok, us(r.cpuPerPage), mib(r.peakRSS), calls, r.hedgeCell()}
}

var satHeader = []string{"BFF", "clients", "pages/s at saturation", "failed", "CPU/page", "BFF cores used", "allocations/page", "vs plain: CPU/page, pages/s"}

// cells renders s; ref is the plain BFF's run, if there was one, for the
// ratios.
func (s saturation) cells(ref *saturation) []string {
	ratio := "—"
	if ref != nil && ref.cpuPerPage > 0 && ref.pagesPerS > 0 {
		ratio = fmt.Sprintf("%.2fx, %.2fx", float64(s.cpuPerPage)/float64(ref.cpuPerPage), s.pagesPerS/ref.pagesPerS)
	}
	return []string{s.bff, fmt.Sprint(s.workers), fmt.Sprintf("%.0f", s.pagesPerS), fmt.Sprint(s.failed), us(s.cpuPerPage),
		fmt.Sprintf("%.2f", s.cpuUse), s.allocsCell(), ratio}
}

// plainSat returns the plain BFF's saturation run, or nil.
func (rep report) plainSat() *saturation {
	for i := range rep.sat {
		if rep.sat[i].bff == "plain" {
			return &rep.sat[i]
		}
	}
	return nil
}

// terminal renders the tables aligned for a terminal.
func (rep report) terminal() string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rep.rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	tw.Flush()
	if len(rep.sat) > 0 {
		fmt.Fprintln(&b)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(satHeader, "\t"))
		for _, s := range rep.sat {
			fmt.Fprintln(tw, strings.Join(s.cells(rep.plainSat()), "\t"))
		}
		tw.Flush()
	}
	return b.String()
}

// markdown renders the results section of docs/bench.md.
func (rep report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on %s, %s. Each scenario: %.0f pages/s, open loop, for %v after %v of warm-up, on a fresh BFF process; services answer healthy calls in %v–%v. The whole run took %.0fs.\n\n",
		rep.machine, time.Now().UTC().Format("2006-01-02"), rep.o.rate, rep.o.duration, rep.o.warmup, rep.o.minLatency, rep.o.maxLatency, rep.took.Seconds())
	mdTable(&b, header, func(add func([]string)) {
		for _, r := range rep.rows {
			add(r.cells())
		}
	})
	if len(rep.sat) > 0 {
		fmt.Fprintf(&b, "\nThroughput at saturation (healthy services, %v closed loop per run; the load generator, the three services and the BFF share the machine's cores; %d rounds, the BFFs taking turns, each figure the median):\n\n", rep.o.saturate, rep.o.rounds)
		mdTable(&b, satHeader, func(add func([]string)) {
			for _, s := range rep.sat {
				add(s.cells(rep.plainSat()))
			}
		})
	}
	return b.String()
}

func mdTable(b *strings.Builder, header []string, rows func(add func([]string))) {
	line := func(cells []string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	rows(line)
}

const (
	beginMarker = "<!-- loadbench:begin -->"
	endMarker   = "<!-- loadbench:end -->"
)

// updateDoc replaces what lies between the loadbench markers of the
// Markdown file at path with content.
func updateDoc(path, content string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceBetween(string(b), content)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

func replaceBetween(doc, content string) (string, error) {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %s … %s markers", beginMarker, endMarker)
	}
	return doc[:i+len(beginMarker)] + "\n" + content + doc[j:], nil
}

// machine describes the computer the run is on.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d-core %s%s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}
