package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/fixtures"
)

func newFixturesCommand(g *globalOptions) *cobra.Command {
	var show string
	c := &cobra.Command{
		Use:   "fixtures [NAME]",
		Short: "List the embedded lesson topologies, or print one",
		Long: `Without an argument, list the embedded topology files of Docker's classic
networking lessons, one line each. With a NAME, print that file, ready to copy
and edit. Every command accepts a fixture name wherever it accepts a file.`,
		Example: `  topolab fixtures
  topolab fixtures alpine-net > my-lab.yaml`,
		Args: rangeArgs(0, 1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				show = args[0]
			}
			return runFixtures(g, show)
		},
	}
	return c
}

func runFixtures(g *globalOptions, show string) error {
	if err := g.checkFormat("table", "json"); err != nil {
		return err
	}
	if show != "" {
		f, ok := fixtures.Get(show)
		if !ok {
			return fmt.Errorf("%w: no fixture named %s; run topolab fixtures for the list", fixtures.ErrNotFound, show)
		}
		if g.format == "json" {
			enc := json.NewEncoder(g.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"schema_version": 1, "name": f.Name, "summary": f.Summary, "content": string(f.Data)})
		}
		_, err := g.Out.Write(f.Data)
		return err
	}
	list := fixtures.List()
	if g.format == "json" {
		enc := json.NewEncoder(g.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"schema_version": 1, "fixtures": list})
	}
	tw := tabwriter.NewWriter(g.Out, 0, 4, 3, ' ', 0)
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%s\n", f.Name, f.Summary)
	}
	return tw.Flush()
}
