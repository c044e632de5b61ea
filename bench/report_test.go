package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleRows() []row {
	lat := func(base time.Duration) []time.Duration {
		ds := make([]time.Duration, 100)
		for i := range ds {
			ds[i] = base + time.Duration(i)*time.Millisecond
		}
		return ds
	}
	return []row{
		{scenario: "healthy", bff: "pagebff", pages: 2000, lat: lat(10 * time.Millisecond), sectionsOK: 1, cpuPerPage: 250 * time.Microsecond, peakRSS: 20 << 20, callsPerPage: 2.4, extra: -0.2, hedges: 10},
		{scenario: "healthy", bff: "naive", pages: 2000, lat: lat(30 * time.Millisecond), sectionsOK: 1, cpuPerPage: 400 * time.Microsecond, peakRSS: 12 << 20, callsPerPage: 3, hedges: -1},
		{scenario: "tail/hedge-on", bff: "pagebff", pages: 2000, lat: lat(12 * time.Millisecond), failed: 1, sectionsOK: 0.99, stale: 0.01, callsPerPage: 3.1, extra: 0.033, hedges: 70},
	}
}

func TestRowCells(t *testing.T) {
	rows := sampleRows()
	got := strings.Join(rows[0].cells(), "|")
	want := "healthy|pagebff|2000|59.0ms|99.0ms|108ms|109ms|0|100.0%|250µs|20.0 MiB|2.40 (-20.0%)|10 (0.5%)"
	if got != want {
		t.Errorf("cells =\n%s\nwant\n%s", got, want)
	}
	if got := rows[1].cells()[12]; got != "—" {
		t.Errorf("naive hedges = %q, want —", got)
	}
	if got := rows[1].cells()[11]; got != "3.00" {
		t.Errorf("naive calls/page = %q, want no change shown", got)
	}
	if got := rows[2].cells()[8]; got != "99.0% (+1.0% stale)" {
		t.Errorf("sections ok = %q", got)
	}
}

func TestMarkdownAndDocUpdate(t *testing.T) {
	rep := report{machine: "2-core Test CPU", o: options{rate: 200, duration: 10 * time.Second, warmup: time.Second, saturate: 4 * time.Second},
		rows: sampleRows(), sat: []saturation{{bff: "pagebff", workers: 64, pagesPerS: 2800, cpuPerPage: 240 * time.Microsecond, cpuUse: .7}}, took: 150 * time.Second}
	md := rep.markdown()
	for _, want := range []string{"2-core Test CPU", "| scenario | BFF |", "| healthy | naive |", "| pagebff | 64 | 2800 |", "took 150s"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if term := rep.terminal(); !strings.Contains(term, "tail/hedge-on") || !strings.Contains(term, "pages/s at saturation") {
		t.Errorf("terminal table:\n%s", term)
	}

	doc := "# Bench\n\nprose\n\n" + beginMarker + "\nold results\n" + endMarker + "\n\nmore prose\n"
	out, err := replaceBetween(doc, "new results\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Bench\n\nprose\n\n" + beginMarker + "\nnew results\n" + endMarker + "\n\nmore prose\n"
	if out != want {
		t.Errorf("replaceBetween =\n%s\nwant\n%s", out, want)
	}
	if _, err := replaceBetween("no markers", "x"); err == nil {
		t.Error("replaceBetween without markers succeeded")
	}

	path := filepath.Join(t.TempDir(), "bench.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateDoc(path, "new results\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Errorf("updated doc:\n%s", b)
	}
}

func TestPlotLatencies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.png")
	if err := plotLatencies(path, sampleRows()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 200 {
		t.Errorf("image is %v", r)
	}
	if err := plotLatencies(path, nil); err == nil {
		t.Error("plotting nothing succeeded")
	}
}

func TestMachine(t *testing.T) {
	if m := machine(); !strings.Contains(m, "core") || !strings.Contains(m, "go1") {
		t.Errorf("machine() = %q", m)
	}
}

func TestMedianSaturation(t *testing.T) {
	runs := []saturation{
		{bff: "pagebff", pagesPerS: 3000, cpuPerPage: 300 * time.Microsecond, failed: 1},
		{bff: "pagebff", pagesPerS: 1000, cpuPerPage: 200 * time.Microsecond},
		{bff: "pagebff", pagesPerS: 2000, cpuPerPage: 900 * time.Microsecond, failed: 2},
	}
	m := medianSaturation(runs)
	if m.pagesPerS != 2000 || m.cpuPerPage != 300*time.Microsecond || m.failed != 3 || m.rounds != 3 {
		t.Fatalf("median of %+v = %+v", runs, m)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median of an even count = %v, want 2.5", got)
	}
}
