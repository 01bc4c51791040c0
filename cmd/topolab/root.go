package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// streams are a command's input and output, so tests can capture them.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutIsTerminal enables colour on Out.
	OutIsTerminal bool
}

func defaultStreams() streams {
	return streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutIsTerminal: term.IsTerminal(int(os.Stdout.Fd()))}
}

// globalOptions are the flags every command takes.
type globalOptions struct {
	streams
	format  string
	verbose int
}

// color reports whether tables get ANSI colour: only on a terminal that is
// not TERM=dumb, and never when NO_COLOR is set to a non-empty value.
func (g *globalOptions) color() bool {
	return g.OutIsTerminal && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

func (g *globalOptions) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose >= 2:
		level = slog.LevelDebug
	case g.verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(g.ErrOut, &slog.HandlerOptions{Level: level}))
}

// checkFormat rejects a --format value the command does not support.
func (g *globalOptions) checkFormat(allowed ...string) error {
	for _, f := range allowed {
		if g.format == f {
			return nil
		}
	}
	return fmt.Errorf("%w: --format %s is not supported here; use one of %s", errUsage, g.format, strings.Join(allowed, ", "))
}

func newRootCommand(s streams) *cobra.Command {
	g := &globalOptions{streams: s}
	root := &cobra.Command{
		Use:   "topolab",
		Short: "Build, probe, capture and draw container network topologies",
		Long: `topolab turns a topology file (networks, containers, published ports, outside
hosts) into real Linux networking or real Docker containers, probes every pair
from inside the containers, compares what it sees with what Docker's rules
predict, and draws the result.

A FILE argument is a topology file, or the name of an embedded fixture
(see topolab fixtures).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.PersistentFlags().StringVar(&g.format, "format", "table", "output format: table, json, markdown or csv (where a command supports it)")
	root.PersistentFlags().CountVarP(&g.verbose, "verbose", "v", "log more to stderr: -v for progress, -vv for every probe")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})

	root.AddCommand(
		newValidateCommand(g),
		newPredictCommand(g),
		newDrawCommand(g),
		newFixturesCommand(g),
		newVersionCommand(g),
		newDiscoverCommand(g),
	)
	addRuntimeCommands(root, g)
	return root
}

// exactArgs and minArgs wrap cobra's argument checks so that their errors
// exit with the usage code.
func exactArgs(n int) cobra.PositionalArgs {
	return usageArgs(cobra.ExactArgs(n))
}

func minArgs(n int) cobra.PositionalArgs {
	return usageArgs(cobra.MinimumNArgs(n))
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return usageArgs(cobra.RangeArgs(lo, hi))
}

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w; usage: %s", c.Name(), err, c.UseLine())}
		}
		return nil
	}
}

// positiveDuration rejects a duration flag that is zero or negative.
func positiveDuration(flag string, d time.Duration) error {
	if d <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("--%s %s: give a positive duration such as 1s", flag, d)}
	}
	return nil
}
