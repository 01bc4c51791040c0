package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/render"
	"github.com/topolab/topolab/topology"
)

type runOptions struct {
	*globalOptions
	runtimeOptions
	output  string
	strict  bool
	timeout time.Duration
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "run FILE",
		Short: "Build a lab, probe it, compare with the prediction, write the results and tear it down",
		Long: `Build the lab of FILE, run every probe from inside its nodes (the file's
probes, or the default set, plus its expectations), compare what the kernel
did with what Docker's rules predict, write the output folder and tear the
lab down. The output folder holds diagram.svg, diagram.png, matrix.md,
results.json, capture.pcapng, nat.md and diagram.dot, plus
nat-path-KIND.svg for each kind of NAT translation seen.

Exits 1 when an expectation fails, or with --strict when an observation
differs from the prediction.`,
		Example: `  topolab run alpine-net
  topolab run lab.yaml -o out/ --strict
  topolab run nat --runtime docker --format json`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), args[0])
		},
	}
	o.addFlags(c)
	c.Flags().StringVarP(&o.output, "output", "o", "", "output folder (default: topolab-<lab> in the current folder)")
	c.Flags().BoolVar(&o.strict, "strict", false, "exit 1 when an observed result differs from the prediction")
	c.Flags().DurationVar(&o.timeout, "timeout", time.Second, "time each probe exchange may take before it counts as timed out")
	return c
}

func (o *runOptions) run(ctx context.Context, arg string) error {
	if err := o.checkFormat("table", "json", "markdown", "csv"); err != nil {
		return err
	}
	if err := positiveDuration("timeout", o.timeout); err != nil {
		return err
	}
	plan, err := loadPlan(arg)
	if err != nil {
		return err
	}
	// A probe set too large to run is a usage error, found before any lab
	// is built.
	if _, err := probe.NewModel(plan).ProbeSet(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	rt, err := o.newRuntime(o.globalOptions)
	if err != nil {
		return err
	}
	log := o.logger()
	log.Info("building lab", "lab", plan.Lab, "runtime", rt.Name())
	lab, err := rt.Up(ctx, plan)
	if err != nil {
		return fmt.Errorf("building lab %s: %w", plan.Lab, err)
	}
	defer closeLab(lab, o.globalOptions)

	rec, err := startCapture(ctx, lab, rt.Name())
	if err != nil {
		return err
	}
	m := probe.NewModel(labPlan(lab, plan))
	report, err := probeLab(ctx, lab, m, rt.Name(), probe.RunOptions{Timeout: o.timeout, Logger: log})
	if err != nil {
		rec.stop(ctx)
		return err
	}
	captured, capErr := rec.stop(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if capErr != nil {
		log.Warn("packet capture failed", "error", capErr)
	}
	captured.annotate(report, lab.Plan())
	if captured != nil && captured.capture != nil && captured.capture.Lost() > 0 {
		fmt.Fprintf(o.ErrOut, "warning: the packet capture is incomplete: %s\n", captured.capture.Summary())
	}

	dir := o.output
	if dir == "" {
		dir = "topolab-" + plan.Lab
	}
	if err := writeOutputs(ctx, dir, plan, report, captured); err != nil {
		return err
	}
	if err := render.WriteMatrix(o.Out, report, o.format, render.MatrixOptions{Color: o.color(), Plan: plan}); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "wrote %s\n", filepath.Clean(dir)+string(filepath.Separator))
	return verdictOf(o.globalOptions, report, o.strict)
}

// labPlan returns the plan a lab was built as, which the docker runtime
// corrects with the addresses Docker really assigned, keeping the file's
// probes and expectations of the planned one.
func labPlan(lab topology.Lab, planned *topology.Plan) *topology.Plan {
	p := lab.Plan()
	if p.Topology == nil {
		p.Topology = planned.Topology
	}
	return p
}

// probeLab runs the probe set and the expectations of m on lab.
func probeLab(ctx context.Context, lab topology.Lab, m *probe.Model, runtime string, opts probe.RunOptions) (*probe.Report, error) {
	specs, err := m.ProbeSet()
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	expect := m.ExpectSpecs()
	all := probe.Run(ctx, lab, m, append(append([]topology.ProbeSpec(nil), specs...), expect...), opts)
	results := all[:len(specs)]
	return &probe.Report{
		SchemaVersion: probe.SchemaVersion,
		Lab:           m.Plan.Lab,
		Runtime:       runtime,
		Results:       results,
		Surprises:     probe.Surprises(results),
		Expectations:  m.CheckAll(all[len(specs):]),
	}, nil
}

// verdictOf prints failed expectations and surprises, and returns the
// error that gives the exit code.
func verdictOf(g *globalOptions, report *probe.Report, strict bool) error {
	failed := failedChecks(report.Expectations)
	for _, f := range failed {
		fmt.Fprintf(g.ErrOut, "FAIL %s: %s; predicted %s because: %s\n", describeCheck(f), f.Failure, f.Predicted, f.Reason)
	}
	if report.Surprises > 0 {
		fmt.Fprintf(g.ErrOut, "%d of %d results differ from the prediction\n", report.Surprises, len(report.Results))
	}
	switch {
	case len(failed) > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%w: %d of %d expectations failed", errSilent, len(failed), len(report.Expectations))}
	case strict && report.Surprises > 0:
		return &exitError{code: exitFailed, err: fmt.Errorf("%w: %d surprises", errSilent, report.Surprises)}
	}
	return nil
}

// closeLab tears a lab down even when the command's context was cancelled.
func closeLab(lab topology.Lab, g *globalOptions) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lab.Close(ctx); err != nil {
		g.logger().Error("tearing down lab", "lab", lab.Plan().Lab, "error", err)
	}
}

// writeOutputs writes the output folder of a run.
//
// The files are written into a temporary folder beside dir and moved into
// dir only when all of them are complete, so an interrupted or failed run
// leaves no folder that looks finished.
func writeOutputs(ctx context.Context, dir string, plan *topology.Plan, report *probe.Report, captured *captureResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating output folder: %w", err)
	}
	staging, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".topolab-output-")
	if err != nil {
		return fmt.Errorf("creating output folder: %w", err)
	}
	defer os.RemoveAll(staging)
	if err := writeOutputFiles(ctx, staging, plan, report, captured); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("moving %s into the output folder: %w", e.Name(), err)
		}
	}
	return nil
}

// writeOutputFiles writes every file of the output folder into dir.
func writeOutputFiles(ctx context.Context, dir string, plan *topology.Plan, report *probe.Report, captured *captureResult) error {
	write := func(name string, data []byte) error {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		return nil
	}
	diagram, err := render.RenderDiagram(ctx, plan, render.DiagramOptions{Results: report.Results, Overlay: true})
	if err != nil {
		return fmt.Errorf("drawing %s: %w", plan.Lab, err)
	}
	var md bytes.Buffer
	if err := render.WriteMatrix(&md, report, "markdown", render.MatrixOptions{Plan: plan}); err != nil {
		return err
	}
	results, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"diagram.svg", diagram.SVG},
		{"diagram.png", diagram.PNG},
		{"diagram.dot", diagram.DOT},
		{"matrix.md", md.Bytes()},
		{"results.json", append(results, '\n')},
	}
	for _, f := range files {
		if err := write(f.name, f.data); err != nil {
			return err
		}
	}
	return captured.write(ctx, dir)
}
