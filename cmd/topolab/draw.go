package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/render"
)

type drawOptions struct {
	*globalOptions
	output  string
	overlay bool
	title   string
}

func newDrawCommand(g *globalOptions) *cobra.Command {
	o := &drawOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "draw FILE",
		Short: "Draw a topology as an SVG, PNG or DOT diagram",
		Long: `Draw the plan of FILE: networks as boxes, containers with one edge per
interface, the Docker host, the outside and the published ports. The format
follows the extension of --output (.svg, .png or .dot). With --overlay the
predicted reachability between containers is drawn on top.`,
		Example: `  topolab draw alpine-net -o alpine-net.svg
  topolab draw lab.yaml -o lab.png --overlay`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, args[0])
		},
	}
	c.Flags().StringVarP(&o.output, "output", "o", "diagram.svg", "file to write; its extension .svg, .png or .dot selects the format")
	c.Flags().BoolVar(&o.overlay, "overlay", false, "draw predicted reachability between containers")
	c.Flags().StringVar(&o.title, "title", "", "diagram title (default: the lab name)")
	return c
}

func (o *drawOptions) run(c *cobra.Command, arg string) error {
	if err := o.checkFormat("table"); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (draw takes its format from the extension of --output)", err)}
	}
	ext := strings.ToLower(filepath.Ext(o.output))
	if ext != ".svg" && ext != ".png" && ext != ".dot" {
		return &exitError{code: exitUsage, err: fmt.Errorf("--output %s: use a file name ending in .svg, .png or .dot", o.output)}
	}
	plan, err := loadPlan(arg)
	if err != nil {
		return err
	}
	opts := render.DiagramOptions{Overlay: o.overlay, Title: o.title}
	if o.overlay {
		m := probe.NewModel(plan)
		specs, err := m.ProbeSet()
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		opts.Results = m.PredictAll(specs)
	}
	var data []byte
	switch ext {
	case ".dot":
		data, err = render.DOT(plan, opts)
	case ".png":
		data, err = render.PNG(c.Context(), plan, opts)
	default:
		data, err = render.SVG(c.Context(), plan, opts)
	}
	if err != nil {
		return fmt.Errorf("drawing %s: %w", plan.Lab, err)
	}
	if err := os.WriteFile(o.output, data, 0o644); err != nil {
		return fmt.Errorf("writing diagram: %w", err)
	}
	fmt.Fprintf(o.ErrOut, "wrote %s\n", o.output)
	return nil
}
