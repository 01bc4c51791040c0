package render

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/goccy/go-graphviz"
	"github.com/goccy/go-graphviz/gvc"
	"github.com/topolab/topolab/topology"
)

// padInches is the margin Graphviz leaves around the drawing, in inches.
const padInches = 0.3

// engine serialises every use of Graphviz. go-graphviz runs one WebAssembly
// instance for the whole process, compiled when the package is initialised,
// and that instance is not safe for concurrent use.
var engine struct {
	mu  sync.Mutex
	gvc *gvc.Context // created on first use, kept for the process
}

// layout lays out the DOT source src once with the dot engine and writes it
// in each of the given Graphviz output formats, such as "svg" or "json".
func layout(ctx context.Context, src []byte, formats ...string) (out [][]byte, err error) {
	engine.mu.Lock()
	defer engine.mu.Unlock()
	if engine.gvc == nil {
		c, err := gvc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("starting graphviz: %w", err)
		}
		engine.gvc = c
	}

	g, err := graphviz.ParseBytes(src)
	if err != nil {
		return nil, fmt.Errorf("parsing diagram source: %w", err)
	}
	defer g.Close()

	// graphviz.Render would lay the graph out again for every format, and
	// the layout takes most of the time, so the formats share one layout.
	if err := engine.gvc.Layout(ctx, g, string(graphviz.DOT)); err != nil {
		return nil, fmt.Errorf("laying out diagram: %w", err)
	}
	defer func() {
		if ferr := engine.gvc.FreeLayout(ctx, g); ferr != nil && err == nil {
			err = fmt.Errorf("freeing diagram layout: %w", ferr)
		}
	}()
	for _, f := range formats {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := engine.gvc.RenderData(ctx, g, f, &buf); err != nil {
			return nil, fmt.Errorf("writing diagram as %s: %w", f, err)
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}

// SVG returns plan's diagram as SVG, laid out by Graphviz.
func SVG(ctx context.Context, plan *topology.Plan, opts DiagramOptions) ([]byte, error) {
	d, err := renderDiagram(ctx, plan, opts, false, true)
	if err != nil {
		return nil, err
	}
	return d.SVG, nil
}

// PNG returns plan's diagram as a PNG image drawn from the same layout as
// SVG, with the Go fonts. Its width is opts.Width pixels.
func PNG(ctx context.Context, plan *topology.Plan, opts DiagramOptions) ([]byte, error) {
	d, err := renderDiagram(ctx, plan, opts, true, false)
	if err != nil {
		return nil, err
	}
	return d.PNG, nil
}

// Diagram is a diagram in every output format, from a single layout.
type Diagram struct {
	DOT []byte
	SVG []byte
	PNG []byte
}

// RenderDiagram returns plan's diagram as DOT, SVG and PNG. It lays the
// graph out once, so it is faster than calling SVG and PNG in turn, and the
// two images are guaranteed to show the same layout.
func RenderDiagram(ctx context.Context, plan *topology.Plan, opts DiagramOptions) (*Diagram, error) {
	return renderDiagram(ctx, plan, opts, true, true)
}

func renderDiagram(ctx context.Context, plan *topology.Plan, opts DiagramOptions, wantPNG, wantSVG bool) (*Diagram, error) {
	src, err := DOT(plan, opts)
	if err != nil {
		return nil, err
	}
	var formats []string
	if wantSVG {
		formats = append(formats, "svg")
	}
	if wantPNG {
		formats = append(formats, "json")
	}
	out, err := layout(ctx, src, formats...)
	if err != nil {
		return nil, fmt.Errorf("drawing diagram of lab %s: %w", plan.Lab, err)
	}
	d := &Diagram{DOT: src}
	if wantSVG {
		if d.SVG, err = fitSVG(out[0]); err != nil {
			return nil, fmt.Errorf("drawing SVG of lab %s: %w", plan.Lab, err)
		}
		out = out[1:]
	}
	if wantPNG {
		d.PNG, err = drawPNG(out[0], opts.Width)
		if err != nil {
			return nil, fmt.Errorf("drawing PNG of lab %s: %w", plan.Lab, err)
		}
	}
	return d, nil
}

// SVGFromDOT lays out any Graphviz DOT source, such as a NAT path from the
// capture package, and returns it as SVG.
func SVGFromDOT(ctx context.Context, src []byte) ([]byte, error) {
	out, err := layout(ctx, src, "svg")
	if err != nil {
		return nil, err
	}
	return out[0], nil
}
