package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The charts are plain SVG written by hand: a title, axes with a few round
// ticks, bars or lines, a legend. No scripts, no external fonts.

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

const (
	chartW = 760
	chartH = 380
	padL   = 70
	padR   = 20
	padT   = 50
	padB   = 70
)

type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func (s *svg) open(title string) {
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	s.f(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	s.f(`<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(title))
}

func (s *svg) close() string {
	s.f("</svg>\n")
	return s.b.String()
}

func esc(t string) string { return html.EscapeString(t) }

// axis maps values to the plot's y pixels, linear or log10.
type axis struct {
	lo, hi float64
	log    bool
	top    float64 // pixel y of the plot's top
}

func (a axis) y(v float64) float64 {
	top, bottom := a.top, float64(chartH-padB)
	var f float64
	if a.log {
		v = math.Max(v, a.lo)
		f = (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	} else {
		f = (v - a.lo) / (a.hi - a.lo)
	}
	return bottom - f*(bottom-top)
}

// niceAxis picks a range and ticks that cover [0 or min, max].
func niceAxis(minV, maxV float64, log bool) (axis, []float64) {
	if log {
		if minV <= 0 {
			minV = maxV / 1000
		}
		if maxV <= 0 {
			maxV, minV = 1, 0.1
		}
		lo := math.Pow(10, math.Floor(math.Log10(minV)))
		hi := math.Pow(10, math.Ceil(math.Log10(maxV)))
		if hi <= lo {
			hi = lo * 10
		}
		var ticks []float64
		for v := lo; v <= hi*1.0001; v *= 10 {
			ticks = append(ticks, v)
		}
		return axis{lo, hi, true, padT}, ticks
	}
	if maxV <= 0 {
		maxV = 1
	}
	raw := maxV / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	hi := math.Ceil(maxV/step) * step
	var ticks []float64
	for v := 0.0; v <= hi+step/2; v += step {
		ticks = append(ticks, v)
	}
	return axis{0, hi, false, padT}, ticks
}

func tickLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e4:
		return trimFloat(v/1e3) + "k"
	case v >= 1:
		return trimFloat(v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func (s *svg) yAxis(a axis, ticks []float64, unit string) {
	for _, t := range ticks {
		y := a.y(t)
		s.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", padL, chartW-padR, y, y)
		s.f(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#444">%s</text>`+"\n", padL-6, y, tickLabel(t))
	}
	mid := (int(a.top) + chartH - padB) / 2
	s.f(`<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle" fill="#444">%s</text>`+"\n", mid, mid, esc(unit))
	s.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#888"/>`+"\n", padL, chartW-padR, chartH-padB, chartH-padB)
}

// legend draws the series names under the title, wrapping to more rows
// when needed, and returns the y where the plot may begin.
func (s *svg) legend(ss []series, lines bool) float64 {
	x, y := padL, 36
	for _, se := range ss {
		w := 28 + 7*len(se.name)
		if x+w > chartW-padR && x > padL {
			x, y = padL, y+16
		}
		c := palette[se.color%len(palette)]
		switch {
		case !lines:
			s.f(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, y-6, c)
		case se.dashed:
			s.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="4 3"/>`+"\n", x, x+16, y, y, c)
		default:
			s.f(`<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x, x+16, y, y, c)
		}
		s.f(`<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", x+20, y, esc(se.name))
		x += w
	}
	return float64(y + 20)
}

// series is one named set of values, one per group (bars) or per x (lines).
type series struct {
	name   string
	values []float64 // NaN = missing
	dashed bool
	color  int
}

// barChart draws grouped bars: one group per label, one bar per series.
func barChart(title, unit string, groups []string, ss []series, log bool) string {
	var s svg
	s.open(title)
	maxV, minV := 0.0, math.Inf(1)
	for _, se := range ss {
		for _, v := range se.values {
			if !math.IsNaN(v) && v > 0 {
				maxV = math.Max(maxV, v)
				minV = math.Min(minV, v)
			}
		}
	}
	a, ticks := niceAxis(minV, maxV, log)
	for i := range ss {
		ss[i].color = i
	}
	a.top = s.legend(ss, false)
	s.yAxis(a, ticks, unit)
	plotW := float64(chartW - padL - padR)
	gw := plotW / float64(max(1, len(groups)))
	bw := gw * 0.8 / float64(max(1, len(ss)))
	base := a.y(a.lo)
	for g, label := range groups {
		gx := float64(padL) + gw*float64(g) + gw*0.1
		for i, se := range ss {
			v := se.values[g]
			x := gx + bw*float64(i)
			if math.IsNaN(v) {
				s.f(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#999" font-size="10">n/a</text>`+"\n", x+bw/2, base-4)
				continue
			}
			y := a.y(v)
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				x, y, bw-2, math.Max(0, base-y), palette[i%len(palette)], esc(label), esc(se.name), valueLabel(v))
			s.f(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+bw/2-1, y-3, valueLabel(v))
		}
		s.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+gw*0.4, chartH-padB+18, esc(label))
	}
	return s.close()
}

// lineChart draws one polyline per series over x positions. xs are the x
// values (numeric); when categorical, xs are 0..n-1 and xlabels name them.
func lineChart(title, unit, xunit string, xs []float64, xlabels []string, ss []series, log bool, threshold float64) string {
	var s svg
	s.open(title)
	maxV, minV := 0.0, math.Inf(1)
	for _, se := range ss {
		for _, v := range se.values {
			if !math.IsNaN(v) && v > 0 {
				maxV = math.Max(maxV, v)
				minV = math.Min(minV, v)
			}
		}
	}
	if threshold > 0 {
		maxV = math.Max(maxV, threshold)
		minV = math.Min(minV, threshold)
	}
	a, ticks := niceAxis(minV, maxV, log)
	a.top = s.legend(ss, true)
	s.yAxis(a, ticks, unit)
	xmin, xmax := 0.0, 1.0
	if len(xs) > 0 {
		xmin, xmax = xs[0], xs[len(xs)-1]
		for _, x := range xs {
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		}
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	px := func(x float64) float64 {
		return float64(padL+20) + (x-xmin)/(xmax-xmin)*float64(chartW-padL-padR-40)
	}
	if xlabels != nil {
		for i, l := range xlabels {
			s.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(xs[i]), chartH-padB+18, esc(l))
		}
	} else {
		_, xt := niceAxis(0, xmax, false)
		for _, t := range xt {
			if t < xmin || t > xmax {
				continue
			}
			s.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(t), chartH-padB+18, tickLabel(t))
		}
	}
	s.f(`<text x="%d" y="%d" text-anchor="middle" fill="#444">%s</text>`+"\n", (padL+chartW-padR)/2, chartH-padB+40, esc(xunit))
	if threshold > 0 {
		y := a.y(threshold)
		s.f(`<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="2 4"/>`+"\n", padL, chartW-padR, y, y)
		s.f(`<text x="%d" y="%.1f" text-anchor="end" fill="#777" font-size="10">%s</text>`+"\n", chartW-padR, y-4, esc("limit "+valueLabel(threshold)+" "+unit))
	}
	for _, se := range ss {
		c := palette[se.color%len(palette)]
		var pts []string
		for i, v := range se.values {
			if i >= len(xs) || math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[i]), a.y(v)))
		}
		if len(pts) == 0 {
			continue
		}
		dash := ""
		if se.dashed {
			dash = ` stroke-dasharray="5 4"`
		}
		s.f(`<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", c, dash, strings.Join(pts, " "))
		if len(pts) <= 20 {
			for _, p := range pts {
				xy := strings.Split(p, ",")
				s.f(`<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], c)
			}
		}
	}
	return s.close()
}

func valueLabel(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
