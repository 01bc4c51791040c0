package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/render"
)

func newPredictCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "predict FILE",
		Short: "Predict every probe's result from Docker's rules, without building anything",
		Long: `Apply Docker's networking rules to the plan of FILE and print the expected
result of every probe with its reason: the file's probes, or the default set
when it lists none. The file's expectations are checked against the
prediction; a contradiction exits with status 1. Needs no privileges.`,
		Example: `  topolab predict alpine-net
  topolab predict --format json lab.yaml > predicted.json`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runPredict(g, args[0])
		},
	}
}

func runPredict(g *globalOptions, arg string) error {
	if err := g.checkFormat("table", "json", "markdown", "csv"); err != nil {
		return err
	}
	plan, err := loadPlan(arg)
	if err != nil {
		return err
	}
	report, err := predictReport(probe.NewModel(plan))
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if err := render.WriteMatrix(g.Out, report, g.format, render.MatrixOptions{Color: g.color(), Plan: plan}); err != nil {
		return err
	}
	if failed := failedChecks(report.Expectations); len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintf(g.ErrOut, "expectation contradicts the prediction: %s: %s; predicted because: %s\n",
				describeCheck(f), f.Failure, f.Reason)
		}
		return &exitError{code: exitFailed, err: fmt.Errorf("%w: %d of %d expectations contradict the prediction",
			errSilent, len(failed), len(report.Expectations))}
	}
	return nil
}

// describeCheck names the probe of an expectation the way a file writes it.
func describeCheck(c probe.ExpectationResult) string {
	s := fmt.Sprintf("%s -> %s %s by %s", c.From, c.To, c.Kind, c.By)
	if c.To == "" {
		s = fmt.Sprintf("%s %s", c.From, c.Kind)
	}
	if c.Network != "" {
		s += " on " + c.Network
	}
	if c.Name != "" {
		s += " name " + c.Name
	}
	if c.Via != "" {
		s += " via " + c.Via
	}
	if c.Port != 0 {
		s += fmt.Sprintf(" port %d", c.Port)
	}
	return s
}
