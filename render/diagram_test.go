package render

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/topolab/topolab/topology"
)

// svgText returns the character data of every text element of an SVG,
// failing the test when the document is not well-formed XML.
func svgText(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	// Graphviz declares the SVG 1.1 DTD, which the decoder never fetches.
	dec.Strict = true
	var texts []string
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	return texts
}

// expectedLabels lists texts the diagram of plan must show: every
// container and network name, every interface label and every published
// port.
func expectedLabels(plan *topology.Plan) []string {
	want := []string{"Docker host", "router", plan.Router.String()}
	for _, o := range plan.Outside {
		want = append(want, o.Name, o.Address.String())
	}
	for _, c := range plan.Containers {
		want = append(want, c.Name)
		for _, i := range c.Interfaces {
			want = append(want, i.Name+" "+i.Address.Addr().String())
		}
		for _, p := range c.Ports {
			want = append(want, p.HostIP.String()+":"+strconv.Itoa(int(p.HostPort))+" → "+c.Name+":"+strconv.Itoa(int(p.ContainerPort))+"/"+p.Proto)
		}
	}
	for _, n := range plan.Networks {
		if n.Default && !usesNetwork(plan, n.Name) {
			continue
		}
		want = append(want, n.Name)
	}
	return want
}

func usesNetwork(plan *topology.Plan, name string) bool {
	for _, c := range plan.Containers {
		if c.Interface(name) != nil {
			return true
		}
	}
	return false
}

func TestSVGShowsEveryLabel(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			plan := fixturePlan(t, name)
			svg, err := SVG(context.Background(), plan, DiagramOptions{})
			if err != nil {
				t.Fatal(err)
			}
			texts := svgText(t, svg)
			all := strings.Join(texts, "\n")
			for _, want := range expectedLabels(plan) {
				if !strings.Contains(all, want) {
					t.Errorf("svg has no text %q", want)
				}
			}
		})
	}
}

func TestSVGOverlayShowsResults(t *testing.T) {
	plan := fixturePlan(t, "alpine-net")
	report := fixtureReport(t, plan)
	svg, err := SVG(context.Background(), plan, DiagramOptions{Results: report.Results, Overlay: true, Title: "alpine-net probed"})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(svgText(t, svg), "\n")
	for _, want := range []string{"alpine-net probed", "name ok", "name timeout ! predicted ok", "ip ok"} {
		if !strings.Contains(all, want) {
			t.Errorf("overlay svg has no text %q", want)
		}
	}
	if !strings.Contains(string(svg), `stroke="`+strings.ToLower(colorBlocked)+`"`) {
		t.Errorf("overlay svg has no edge in the blocked colour %s", colorBlocked)
	}
}

func TestSVGIsSlideShaped(t *testing.T) {
	plan := fixturePlan(t, "host")
	svg, err := SVG(context.Background(), plan, DiagramOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := svgRoot.FindSubmatch(svg)
	if m == nil {
		t.Fatal("no svg element with a viewBox")
	}
	var w, h float64
	if _, err := fmt.Sscan(string(m[3])+" "+string(m[4]), &w, &h); err != nil {
		t.Fatal(err)
	}
	if math.Abs(h/w-slideRatio) > 0.001 {
		t.Errorf("svg viewBox is %gx%g, ratio %g, want %g", w, h, h/w, slideRatio)
	}
}

func TestDiagramNilPlan(t *testing.T) {
	if _, err := DOT(nil, DiagramOptions{}); !errors.Is(err, ErrNoPlan) {
		t.Errorf("DOT(nil) error = %v, want ErrNoPlan", err)
	}
	if _, err := PNG(context.Background(), nil, DiagramOptions{}); !errors.Is(err, ErrNoPlan) {
		t.Errorf("PNG(nil) error = %v, want ErrNoPlan", err)
	}
}

func TestDOTEscapesNames(t *testing.T) {
	if got, want := quoteID(`a"b\N`), `"a\"b\\N"`; got != want {
		t.Errorf("quoteID = %s, want %s", got, want)
	}
	if got, want := escapeHTML(`<b>&"`), "&lt;b&gt;&amp;&quot;"; got != want {
		t.Errorf("escapeHTML = %s, want %s", got, want)
	}
}

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("png does not decode: %v", err)
	}
	return img
}

func isBackground(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xf000 && g > 0xf000 && b > 0xf000
}

func TestPNGSizeAndContent(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			plan := fixturePlan(t, name)
			data, err := PNG(context.Background(), plan, DiagramOptions{})
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, data)
			b := img.Bounds()
			if b.Dx() < minAutoWidth {
				t.Errorf("png is %d pixels wide, want at least %d", b.Dx(), minAutoWidth)
			}
			if ratio := float64(b.Dy()) / float64(b.Dx()); math.Abs(ratio-slideRatio) > 0.002 {
				t.Errorf("png is %dx%d, ratio %.4f, want %.4f", b.Dx(), b.Dy(), ratio, slideRatio)
			}
			inked := 0
			for y := b.Min.Y; y < b.Max.Y; y += 2 {
				for x := b.Min.X; x < b.Max.X; x += 2 {
					if !isBackground(img.At(x, y)) {
						inked++
					}
				}
			}
			if share := float64(inked) / float64(b.Dx()*b.Dy()/4); share < 0.01 {
				t.Errorf("png is almost blank: %.2f%% of pixels drawn", share*100)
			}
		})
	}
}

func TestPNGWidthOption(t *testing.T) {
	plan := fixturePlan(t, "none")
	data, err := PNG(context.Background(), plan, DiagramOptions{Width: 1280})
	if err != nil {
		t.Fatal(err)
	}
	b := decodePNG(t, data).Bounds()
	if b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("png is %dx%d, want 1280x720", b.Dx(), b.Dy())
	}
}

// TestPNGShowsLayout checks that the PNG draws what the SVG draws: both come
// from one layout, so every edge of it must have ink along its path and
// every text must have ink in its box.
func TestPNGShowsLayout(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			plan := fixturePlan(t, name)
			report := fixtureReport(t, plan)
			src, err := DOT(plan, DiagramOptions{Results: report.Results, Overlay: true})
			if err != nil {
				t.Fatal(err)
			}
			out, err := layout(context.Background(), src, "json")
			if err != nil {
				t.Fatal(err)
			}
			data, err := drawPNG(out[0], 0)
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, data)
			l, err := parseLayout(out[0])
			if err != nil {
				t.Fatal(err)
			}
			p, err := newPainter(l, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := img.Bounds().Dx(), p.dc.Width(); got != want {
				t.Fatalf("png is %d wide, painter %d", got, want)
			}

			edges := 0
			for _, e := range l.Edges {
				for _, op := range e.Draw {
					if op.Op != "B" && op.Op != "b" {
						continue
					}
					edges++
					for _, pt := range sampleSpline(op.Points, 12) {
						x, y := p.x(pt[0]), p.y(pt[1])
						if !inkNear(img, int(x), int(y), 3) {
							t.Errorf("edge %d -> %d has no ink at (%.0f, %.0f)", e.Tail, e.Head, x, y)
							break
						}
					}
				}
			}
			if edges == 0 {
				t.Fatal("layout has no edges")
			}

			items := append(append([]layoutItem{}, l.Objects...), l.Edges...)
			for _, it := range items {
				for _, op := range append(append([]xdotOp{}, it.LDraw...), it.HLDraw...) {
					if op.Op != "T" || strings.TrimSpace(op.Text) == "" {
						continue
					}
					x, y := p.x(op.Pt[0]), p.y(op.Pt[1])
					w := op.Width * p.scale
					switch op.Align {
					case "c":
						x -= w / 2
					case "r":
						x -= w
					}
					if !inkInBox(img, int(x), int(y-8*p.scale), int(x+w), int(y)) {
						t.Errorf("text %q of %s has no ink in its box", op.Text, it.Name)
					}
				}
			}
		})
	}
}

// sampleSpline returns n+1 points along a piecewise cubic Bézier curve
// given as xdot writes it: a start point, then three points per segment.
func sampleSpline(pts [][2]float64, n int) [][2]float64 {
	var out [][2]float64
	for i := 0; i+3 < len(pts); i += 3 {
		p0, p1, p2, p3 := pts[i], pts[i+1], pts[i+2], pts[i+3]
		for k := 0; k <= n; k++ {
			s := float64(k) / float64(n)
			u := 1 - s
			var q [2]float64
			for d := 0; d < 2; d++ {
				q[d] = u*u*u*p0[d] + 3*u*u*s*p1[d] + 3*u*s*s*p2[d] + s*s*s*p3[d]
			}
			out = append(out, q)
		}
	}
	return out
}

func inkNear(img image.Image, x, y, r int) bool {
	return inkInBox(img, x-r, y-r, x+r, y+r)
}

func inkInBox(img image.Image, x0, y0, x1, y1 int) bool {
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			if (image.Point{x, y}).In(img.Bounds()) && !isBackground(img.At(x, y)) {
				return true
			}
		}
	}
	return false
}

func TestRenderDiagramConcurrent(t *testing.T) {
	plan := fixturePlan(t, "nat")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = RenderDiagram(context.Background(), plan, DiagramOptions{Width: 800})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("render %d: %v", i, err)
		}
	}
}
