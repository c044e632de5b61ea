package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// quantiles are the points plotted for each run.
var quantiles = []struct {
	label string
	q     float64
}{{"p50", .5}, {"p90", .9}, {"p99", .99}, {"p99.9", .999}, {"max", 1}}

var styles = map[string]struct {
	color  color.Color
	dashes []vg.Length
	shape  draw.GlyphDrawer
}{
	"pagebff": {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, nil, draw.CircleGlyph{}},
	"plain":   {color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, []vg.Length{vg.Points(2), vg.Points(2)}, draw.TriangleGlyph{}},
	"naive":   {color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, []vg.Length{vg.Points(6), vg.Points(3)}, draw.SquareGlyph{}},
}

// plotLatencies draws one panel per scenario: latency (log scale) at each
// quantile, a line per BFF, and writes it as a PNG.
func plotLatencies(path string, rows []row) error {
	var order []string
	by := map[string][]row{}
	for _, r := range rows {
		if _, ok := by[r.scenario]; !ok {
			order = append(order, r.scenario)
		}
		by[r.scenario] = append(by[r.scenario], r)
	}
	if len(order) == 0 {
		return fmt.Errorf("plot: no results")
	}
	cols := min(3, len(order))
	rowsN := (len(order) + cols - 1) / cols

	// One y range for every panel, so panels compare at a glance.
	lo, hi := math.Inf(1), 0.0
	for _, r := range rows {
		for _, q := range quantiles {
			v := msf(r.q(q.q))
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	lo = math.Max(1, math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1)))))
	hi = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, 10))))

	plots := make([][]*plot.Plot, rowsN)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, name := range order {
		p := plot.New()
		p.Title.Text = name
		p.Y.Label.Text = "page latency, ms (log)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo, hi
		p.Add(plotter.NewGrid())
		labels := make([]string, len(quantiles))
		for j, q := range quantiles {
			labels[j] = q.label
		}
		p.NominalX(labels...)
		p.Legend.Top = true
		p.Legend.Left = true
		for _, r := range by[name] {
			xys := make(plotter.XYs, len(quantiles))
			for j, q := range quantiles {
				xys[j] = plotter.XY{X: float64(j), Y: math.Max(msf(r.q(q.q)), lo)}
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return fmt.Errorf("plot %s: %w", name, err)
			}
			st := styles[r.bff]
			line.Color, line.Dashes, line.Width = st.color, st.dashes, vg.Points(2)
			points.Color, points.Shape, points.Radius = st.color, st.shape, vg.Points(3)
			p.Add(line, points)
			p.Legend.Add(r.bff, line, points)
		}
		plots[i/cols][i%cols] = p
	}
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] == nil {
				plots[i][j] = plot.New()
				plots[i][j].HideAxes()
			}
		}
	}

	img := vgimg.New(vg.Points(float64(cols)*330), vg.Points(float64(rowsN)*260))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rowsN, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
