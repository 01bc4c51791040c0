package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/fogleman/gg"
	"github.com/golang/freetype/truetype"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gobolditalic"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
)

// Limits of the PNG size. An automatic size stays under maxAutoPixels, so a
// huge lab still gives an image that tools can open. An explicit width is
// honoured up to maxSide pixels on either side.
const (
	minAutoWidth    = 1920
	autoScale       = 2.0
	maxAutoPixels   = 16 << 20
	maxSide         = 16384
	defaultFontSize = 14
)

// layoutJSON is the part of Graphviz's json output the PNG needs: xdot
// drawing operations of the graph, its subgraphs, nodes and edges, in
// points with the origin at the bottom left.
type layoutJSON struct {
	BB      string       `json:"bb"`
	Draw    []xdotOp     `json:"_draw_"`
	LDraw   []xdotOp     `json:"_ldraw_"`
	Objects []layoutItem `json:"objects"`
	Edges   []layoutItem `json:"edges"`
}

// layoutItem is a subgraph, node or edge of the json output. Subgraphs come
// first in Objects and are the ones with a bounding box.
type layoutItem struct {
	Name   string   `json:"name"`
	BB     string   `json:"bb"`
	Style  string   `json:"style"`
	Draw   []xdotOp `json:"_draw_"`
	LDraw  []xdotOp `json:"_ldraw_"`
	HDraw  []xdotOp `json:"_hdraw_"`
	TDraw  []xdotOp `json:"_tdraw_"`
	HLDraw []xdotOp `json:"_hldraw_"`
	TLDraw []xdotOp `json:"_tldraw_"`
	Tail   int      `json:"tail"`
	Head   int      `json:"head"`
}

// xdotOp is one xdot drawing operation, as Graphviz's json output writes it.
type xdotOp struct {
	Op       string       `json:"op"`
	Color    string       `json:"color"`
	Grad     string       `json:"grad"`
	Points   [][2]float64 `json:"points"`
	Rect     [4]float64   `json:"rect"`
	Pt       [2]float64   `json:"pt"`
	Align    string       `json:"align"`
	Width    float64      `json:"width"`
	Text     string       `json:"text"`
	Size     float64      `json:"size"`
	Face     string       `json:"face"`
	Style    string       `json:"style"`
	Fontchar int          `json:"fontchar"`
}

func parseLayout(data []byte) (*layoutJSON, error) {
	var l layoutJSON
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("decoding graphviz json output: %w", err)
	}
	return &l, nil
}

// canvas returns the drawing's extent in points: the background polygon,
// which includes the pad, or else the bounding box.
func (l *layoutJSON) canvas() (minX, minY, maxX, maxY float64, err error) {
	for _, op := range l.Draw {
		if (op.Op == "P" || op.Op == "p") && len(op.Points) > 0 {
			minX, minY = math.Inf(1), math.Inf(1)
			maxX, maxY = math.Inf(-1), math.Inf(-1)
			for _, p := range op.Points {
				minX, maxX = math.Min(minX, p[0]), math.Max(maxX, p[0])
				minY, maxY = math.Min(minY, p[1]), math.Max(maxY, p[1])
			}
			return minX, minY, maxX, maxY, nil
		}
	}
	var bb [4]float64
	fields := strings.Split(l.BB, ",")
	if len(fields) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("invalid graph bounding box %q", l.BB)
	}
	for i, f := range fields {
		if bb[i], err = strconv.ParseFloat(f, 64); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("invalid graph bounding box %q: %w", l.BB, err)
		}
	}
	pad := padInches * 72
	return bb[0] - pad, bb[1] - pad, bb[2] + pad, bb[3] + pad, nil
}

// drawPNG draws the layout in Graphviz json output data as a PNG of the
// given width in pixels, 0 for the automatic width. Like fitSVG, it centres
// the drawing on a white 16:9 canvas.
func drawPNG(data []byte, width int) ([]byte, error) {
	l, err := parseLayout(data)
	if err != nil {
		return nil, err
	}
	p, err := newPainter(l, width)
	if err != nil {
		return nil, err
	}
	p.paint(l)

	var buf bytes.Buffer
	// Diagrams are mostly flat colour, which the fastest compression level
	// already packs well; higher levels triple the time of a large PNG.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, p.dc.Image()); err != nil {
		return nil, fmt.Errorf("encoding png: %w", err)
	}
	return buf.Bytes(), nil
}

// painter draws xdot operations on a gg context, mapping points to pixels.
type painter struct {
	dc         *gg.Context
	scale      float64
	minX, maxY float64
	faces      map[faceKey]font.Face
}

// errEmptyLayout is returned when the layout has no area to draw.
var errEmptyLayout = errors.New("diagram layout is empty")

func newPainter(l *layoutJSON, width int) (*painter, error) {
	minX, minY, maxX, maxY, err := l.canvas()
	if err != nil {
		return nil, err
	}
	if maxX <= minX || maxY <= minY {
		return nil, errEmptyLayout
	}
	w, h, left, top := slideBox(maxX-minX, maxY-minY)
	minX, maxY = minX-left, maxY+top
	scale := float64(width) / w
	if width <= 0 {
		scale = math.Max(autoScale, minAutoWidth/w)
		if pixels := w * h * scale * scale; pixels > maxAutoPixels {
			scale *= math.Sqrt(maxAutoPixels / pixels)
		}
	}
	scale = math.Min(scale, maxSide/math.Max(w, h))
	pw := int(math.Round(w * scale))
	ph := int(math.Round(float64(pw) * slideRatio))
	if pw < 1 || ph < 1 {
		return nil, errEmptyLayout
	}
	dc := gg.NewContext(pw, ph)
	dc.SetRGB(1, 1, 1)
	dc.Clear()
	return &painter{dc: dc, scale: scale, minX: minX, maxY: maxY, faces: map[faceKey]font.Face{}}, nil
}

// paint draws in the order of Graphviz's SVG with outputorder=edgesfirst:
// the graph, the clusters, the edges, then the nodes on top.
func (p *painter) paint(l *layoutJSON) {
	p.ops(l.Draw)
	p.ops(l.LDraw)
	var nodes []layoutItem
	for _, o := range l.Objects {
		if o.BB != "" {
			p.ops(o.Draw)
			p.ops(o.LDraw)
		} else {
			nodes = append(nodes, o)
		}
	}
	for _, e := range l.Edges {
		for _, ops := range [][]xdotOp{e.Draw, e.TDraw, e.HDraw, e.LDraw, e.TLDraw, e.HLDraw} {
			p.ops(ops)
		}
	}
	for _, n := range nodes {
		p.ops(n.Draw)
		p.ops(n.LDraw)
	}
}

func (p *painter) x(v float64) float64 { return (v - p.minX) * p.scale }
func (p *painter) y(v float64) float64 { return (p.maxY - v) * p.scale }

// drawState is the xdot state within one list of operations. Every list
// starts afresh, as in Graphviz's own xdot renderers.
type drawState struct {
	pen, fill color.NRGBA
	lineWidth float64 // points
	dash      []float64
	invisible bool
	fontSize  float64
	fontFace  string
	fontChar  int
}

func (p *painter) ops(ops []xdotOp) {
	st := drawState{
		pen:       color.NRGBA{0, 0, 0, 255},
		lineWidth: 1,
		fontSize:  defaultFontSize,
		fontFace:  fontName,
	}
	for _, op := range ops {
		switch op.Op {
		case "c":
			st.pen = parseColor(op.Color)
		case "C":
			st.fill = parseColor(op.Color)
		case "S":
			st.setStyle(op.Style)
		case "F":
			st.fontSize, st.fontFace = op.Size, op.Face
		case "t":
			st.fontChar = op.Fontchar
		case "T":
			p.text(&st, op)
		default:
			if !st.invisible {
				p.shape(&st, op)
			}
		}
	}
}

func (st *drawState) setStyle(style string) {
	switch {
	case style == "solid":
		st.dash = nil
	case style == "dashed":
		st.dash = []float64{5, 2}
	case style == "dotted":
		st.dash = []float64{1, 5}
	case style == "bold":
		st.lineWidth = 2
	case style == "invis" || style == "invisible":
		st.invisible = true
	case strings.HasPrefix(style, "setlinewidth(") && strings.HasSuffix(style, ")"):
		v := strings.TrimSuffix(strings.TrimPrefix(style, "setlinewidth("), ")")
		if w, err := strconv.ParseFloat(v, 64); err == nil {
			st.lineWidth = w
		}
	}
}

// shape draws a polygon, polyline, B-spline or ellipse. Upper-case
// operations are filled with the fill colour and outlined with the pen.
func (p *painter) shape(st *drawState, op xdotOp) {
	dc := p.dc
	dc.NewSubPath()
	switch op.Op {
	case "P", "p", "L":
		for i, pt := range op.Points {
			if i == 0 {
				dc.MoveTo(p.x(pt[0]), p.y(pt[1]))
			} else {
				dc.LineTo(p.x(pt[0]), p.y(pt[1]))
			}
		}
		if op.Op != "L" {
			dc.ClosePath()
		}
	case "B", "b":
		pts := op.Points
		if len(pts) == 0 {
			return
		}
		dc.MoveTo(p.x(pts[0][0]), p.y(pts[0][1]))
		for i := 1; i+2 < len(pts); i += 3 {
			dc.CubicTo(p.x(pts[i][0]), p.y(pts[i][1]), p.x(pts[i+1][0]), p.y(pts[i+1][1]),
				p.x(pts[i+2][0]), p.y(pts[i+2][1]))
		}
		// A filled B-spline is not closed: Graphviz writes edges as
		// filled splines with no fill colour, and closing them would
		// draw a chord. Filling closes the area by itself.
	case "E", "e":
		dc.DrawEllipse(p.x(op.Rect[0]), p.y(op.Rect[1]), op.Rect[2]*p.scale, op.Rect[3]*p.scale)
	default:
		// Images ("I") and unknown operations have no counterpart in
		// the diagrams this package writes.
		dc.ClearPath()
		return
	}

	filled := op.Op == "P" || op.Op == "b" || op.Op == "E"
	if filled && st.fill.A > 0 {
		dc.SetColor(st.fill)
		dc.FillPreserve()
	}
	if st.pen.A > 0 {
		dc.SetColor(st.pen)
		dc.SetLineWidth(st.lineWidth * p.scale)
		dc.SetDash(scaled(st.dash, p.scale)...)
		dc.StrokePreserve()
	}
	dc.ClearPath()
}

func scaled(dash []float64, scale float64) []float64 {
	out := make([]float64, len(dash))
	for i, d := range dash {
		out[i] = d * scale
	}
	return out
}

// text draws a text operation. Graphviz sized the boxes with its width
// estimate for the font named in the DOT source. The Go font may be wider,
// so the text is shrunk to that width and never overflows its box.
func (p *painter) text(st *drawState, op xdotOp) {
	if st.invisible || op.Text == "" || st.pen.A == 0 {
		return
	}
	// The Go fonts draw U+002D as a minus sign, as wide as a digit, so
	// names like alpine-net would look odd. Their soft hyphen glyph is a
	// true hyphen.
	text := strings.ReplaceAll(op.Text, "-", "\u00ad")
	ttf := fontFor(st.fontFace, st.fontChar)
	size := st.fontSize * p.scale
	face := p.faceOf(ttf, size)
	measured := font.MeasureString(face, text)
	width := float64(measured) / 64
	if want := op.Width * p.scale; want > 0 && width > want {
		size *= want / width
		face = p.faceOf(ttf, size)
		width = float64(font.MeasureString(face, text)) / 64
	}

	x := p.x(op.Pt[0])
	switch op.Align {
	case "c":
		x -= width / 2
	case "r":
		x -= width
	}
	p.dc.SetFontFace(face)
	p.dc.SetColor(st.pen)
	p.dc.DrawString(text, x, p.y(op.Pt[1]))
}

// xdot font characteristics: the "t" operation's bit flags.
const (
	fontCharBold   = 1
	fontCharItalic = 2
)

// Fonts used for the PNG: the Go fonts, embedded, so the image looks the
// same on every machine.
var (
	fontsOnce sync.Once
	fonts     map[string]*truetype.Font
)

func fontFor(face string, char int) *truetype.Font {
	fontsOnce.Do(func() {
		fonts = map[string]*truetype.Font{}
		for name, data := range map[string][]byte{
			"regular": goregular.TTF, "bold": gobold.TTF, "italic": goitalic.TTF,
			"bolditalic": gobolditalic.TTF, "mono": gomono.TTF,
		} {
			f, err := truetype.Parse(data)
			if err != nil {
				panic("parsing embedded Go font " + name + ": " + err.Error())
			}
			fonts[name] = f
		}
	})
	lower := strings.ToLower(face)
	if strings.Contains(lower, "courier") || strings.Contains(lower, "mono") {
		return fonts["mono"]
	}
	bold := char&fontCharBold != 0 || strings.Contains(lower, "bold")
	italic := char&fontCharItalic != 0 || strings.Contains(lower, "italic") || strings.Contains(lower, "oblique")
	switch {
	case bold && italic:
		return fonts["bolditalic"]
	case bold:
		return fonts["bold"]
	case italic:
		return fonts["italic"]
	}
	return fonts["regular"]
}

type faceKey struct {
	font *truetype.Font
	size float64
}

// faceOf returns a face of f at size pixels, cached by size in steps of an
// eighth of a pixel. The cache belongs to the painter because a truetype
// face is not safe for concurrent use.
func (p *painter) faceOf(f *truetype.Font, size float64) font.Face {
	key := faceKey{f, math.Round(size*8) / 8}
	face := p.faces[key]
	if face == nil {
		face = truetype.NewFace(f, &truetype.Options{Size: key.size, DPI: 72, Hinting: font.HintingNone})
		p.faces[key] = face
	}
	return face
}

// parseColor parses an xdot colour: #rrggbb or #rrggbbaa, or one of the few
// names Graphviz writes unconverted. Anything else is black.
func parseColor(s string) color.NRGBA {
	switch strings.ToLower(s) {
	case "", "none", "transparent":
		return color.NRGBA{}
	case "white":
		return color.NRGBA{255, 255, 255, 255}
	case "black":
		return color.NRGBA{0, 0, 0, 255}
	}
	hex := strings.TrimPrefix(s, "#")
	if len(hex) != 6 && len(hex) != 8 {
		return color.NRGBA{0, 0, 0, 255}
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return color.NRGBA{0, 0, 0, 255}
	}
	if len(hex) == 6 {
		v = v<<8 | 0xff
	}
	return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}
}
