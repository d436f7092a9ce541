package main

import (
	"fmt"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotLatency draws the added latency of every mode against concurrency
// (log scale): p50 as a solid line with points, p99 dashed, one colour per
// mode, and saves it as a PNG at path.
func (r *report) plotLatency(path string) error {
	p := plot.New()
	p.Title.Text = "Latency added by ReliAPI over a direct call (solid p50, dashed p99)"
	p.X.Label.Text = "concurrency (closed loop)"
	p.Y.Label.Text = "added latency (ms)"
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	for _, l := range r.levels {
		ticks = append(ticks, plot.Tick{Value: float64(l.conc), Label: strconv.Itoa(l.conc)})
	}
	p.X.Tick.Marker = ticks
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true

	for i, mode := range modes {
		for _, q := range []float64{0.5, 0.99} {
			pts := make(plotter.XYs, len(r.levels))
			for j, l := range r.levels {
				pts[j] = plotter.XY{X: float64(l.conc), Y: msf(l.added(mode, q))}
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("plotting %s: %w", mode, err)
			}
			line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
			line.Width = vg.Points(1.5)
			points.Shape = plotutil.Shape(i)
			if q == 0.5 {
				p.Legend.Add(mode, line, points)
			} else {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(line, points)
		}
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}
