package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writeChart draws events/s of every rate scenario on a log scale, one row
// per scenario, one marker per run.
func writeChart(path string, sel []scenario, runs []run) error {
	var names []string
	var rows []string
	for _, s := range sel {
		for _, r := range runs {
			if res, ok := r.results[s.name]; ok && res.Rate > 0 && s.name != "backlog-build" {
				rows = append(rows, s.name)
				break
			}
		}
	}
	// Top to bottom in suite order: NominalY puts index 0 at the bottom.
	for i := len(rows) - 1; i >= 0; i-- {
		names = append(names, rows[i])
	}
	p := plot.New()
	p.Title.Text = "walbatch and alternatives: events/s (log scale)"
	p.X.Label.Text = "events/s"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.NominalY(names...)
	p.Add(plotter.NewGrid())
	colors := []color.Color{color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}}
	for i, r := range runs {
		var pts plotter.XYs
		for y, name := range names {
			if res, ok := r.results[name]; ok && res.Rate > 0 {
				pts = append(pts, plotter.XY{X: res.Rate, Y: float64(y)})
			}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = colors[i%len(colors)]
		sc.GlyphStyle.Shape = shapes[i%len(shapes)]
		sc.GlyphStyle.Radius = vg.Points(4)
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("run %d", i+1), sc)
	}
	p.Legend.Top = true
	return p.Save(9*vg.Inch, 6*vg.Inch, path)
}
