package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/render"
	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/netns"
)

func newTestCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "test FILE...",
		Short: "Build each lab, check its expectations on the real network and tear it down",
		Long: `For each FILE, build the lab, run the probes of its expect section and check
each result. Every failure is printed with the prediction's reason. Exits 1
when any expectation fails.`,
		Example: `  topolab test alpine-net nat default-bridge
  topolab test lab.yaml --runtime docker`,
		Args: minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.test(c.Context(), args)
		},
	}
	o.addFlags(c)
	c.Flags().DurationVar(&o.timeout, "timeout", time.Second, "time each probe exchange may take before it counts as timed out")
	return c
}

func (o *runOptions) test(ctx context.Context, args []string) error {
	if err := o.checkFormat("table", "json"); err != nil {
		return err
	}
	if err := positiveDuration("timeout", o.timeout); err != nil {
		return err
	}
	// Every file must have expectations before any lab is built: a test of
	// nothing would pass.
	plans := make([]*topology.Plan, len(args))
	for i, arg := range args {
		plan, err := loadPlan(arg)
		if err != nil {
			return err
		}
		if len(plan.Topology.Expect) == 0 {
			return &exitError{code: exitUsage, err: fmt.Errorf(
				"%s has no expectations to test; add an expect: section, or use topolab run to probe it", arg)}
		}
		plans[i] = plan
	}
	rt, err := o.newRuntime(o.globalOptions)
	if err != nil {
		return err
	}
	var reports []*probe.Report
	failed := 0
	for i, arg := range args {
		report, err := o.testOne(ctx, rt, plans[i])
		if err != nil {
			return err
		}
		reports = append(reports, report)
		bad := failedChecks(report.Expectations)
		failed += len(bad)
		if o.format == "table" {
			fmt.Fprintf(o.Out, "%s: %d of %d expectations passed\n", arg, len(report.Expectations)-len(bad), len(report.Expectations))
		}
		for _, f := range bad {
			fmt.Fprintf(o.Out, "  FAIL %s: %s\n       predicted %s: %s\n", describeCheck(f), f.Failure, f.Predicted, f.Reason)
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"schema_version": probe.SchemaVersion, "reports": reports}); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%w: %d expectations failed", errSilent, failed)}
	}
	return nil
}

func (o *runOptions) testOne(ctx context.Context, rt topology.Runtime, plan *topology.Plan) (*probe.Report, error) {
	lab, err := rt.Up(ctx, plan)
	if err != nil {
		return nil, fmt.Errorf("building lab %s: %w", plan.Lab, err)
	}
	defer closeLab(lab, o.globalOptions)
	m := probe.NewModel(labPlan(lab, plan))
	results := probe.Run(ctx, lab, m, m.ExpectSpecs(), probe.RunOptions{Timeout: o.timeout, Logger: o.logger()})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return &probe.Report{
		SchemaVersion: probe.SchemaVersion,
		Lab:           plan.Lab,
		Runtime:       rt.Name(),
		Results:       results,
		Surprises:     probe.Surprises(results),
		Expectations:  m.CheckAll(results),
	}, nil
}

type upOptions struct {
	*globalOptions
	runtimeOptions
}

func newUpCommand(g *globalOptions) *cobra.Command {
	o := &upOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "up FILE",
		Short: "Build a lab and leave it running",
		Long: `Build the lab of FILE and leave it running for probe, exec, inspect and
capture. With the netns runtime a small supervisor process holds the
namespaces and servers; topolab down NAME stops it and removes everything.`,
		Example: `  topolab up alpine-net
  topolab up lab.yaml --runtime docker`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), args[0])
		},
	}
	o.addFlags(c)
	return c
}

func (o *upOptions) run(ctx context.Context, arg string) error {
	plan, err := loadPlan(arg)
	if err != nil {
		return err
	}
	// For netns, newRuntime re-executes an unprivileged up in a user
	// namespace, where the supervisor it starts then runs as well.
	rt, err := o.newRuntime(o.globalOptions)
	if err != nil {
		return err
	}
	if o.runtime != "netns" {
		if _, err := rt.Up(ctx, plan); err != nil {
			return fmt.Errorf("building lab %s: %w", plan.Lab, err)
		}
		fmt.Fprintf(o.Out, "lab %s is up on %s; stop it with: topolab down %s --runtime %s\n", plan.Lab, rt.Name(), plan.Lab, rt.Name())
		return nil
	}
	labs, err := netns.New(netns.Options{}).List(ctx)
	if err != nil {
		return fmt.Errorf("listing labs: %w", err)
	}
	for _, l := range labs {
		if l.Name == plan.Lab {
			return fmt.Errorf("%w: lab %s (supervisor pid %d); stop it with: topolab down %s",
				topology.ErrLabExists, plan.Lab, l.PID, plan.Lab)
		}
	}
	return o.startSupervisor(ctx, arg, plan)
}

// startSupervisor starts "topolab supervise FILE" in a new session and
// waits until it reports the lab ready on a pipe, or fails.
func (o *upOptions) startSupervisor(ctx context.Context, arg string, plan *topology.Plan) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the topolab executable: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	args := []string{"supervise", arg}
	for i := 0; i < o.verbose; i++ {
		args = append(args, "-v")
	}
	cmd := exec.Command(self, args...)
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stderr = o.ErrOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		readyW.Close()
		return fmt.Errorf("starting the supervisor of %s: %w", plan.Lab, err)
	}
	readyW.Close()
	done := make(chan error, 1)
	go func() { done <- readReady(readyR) }()
	select {
	case err := <-done:
		if err != nil {
			cmd.Wait()
			if err.Error() == "" {
				return fmt.Errorf("%w: the supervisor of %s exited before the lab was up", errSilent, plan.Lab)
			}
			return fmt.Errorf("building lab %s: %w", plan.Lab, err)
		}
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return ctx.Err()
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	fmt.Fprintf(o.Out, "lab %s is up (supervisor pid %d); stop it with: topolab down %s\n", plan.Lab, pid, plan.Lab)
	return nil
}

func newDownCommand(g *globalOptions) *cobra.Command {
	o := &runtimeOptions{}
	c := &cobra.Command{
		Use:   "down NAME",
		Short: "Stop a lab and remove everything it created, leftovers of a crashed run included",
		Example: `  topolab down alpine-net
  topolab down nat --runtime docker`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			rt, err := o.newRuntime(g)
			if err != nil {
				return err
			}
			if err := rt.Down(c.Context(), args[0]); err != nil {
				if errors.Is(err, topology.ErrNoLab) && o.runtime == "netns" {
					return fmt.Errorf("%w (for a lab started with --runtime docker, add --runtime docker)", err)
				}
				return err
			}
			fmt.Fprintf(g.Out, "lab %s is down\n", args[0])
			return nil
		},
	}
	o.addFlags(c)
	return c
}

func newLsCommand(g *globalOptions) *cobra.Command {
	o := &runtimeOptions{}
	c := &cobra.Command{
		Use:   "ls",
		Short: "List running labs",
		Long: `List the running labs of the netns runtime and, when Docker Engine answers,
of the docker runtime; --runtime lists one runtime only.`,
		Example: "  topolab ls\n  topolab ls --runtime docker --format json",
		Args:    exactArgs(0),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.checkFormat("table", "json"); err != nil {
				return err
			}
			runtimes := []string{o.runtime}
			if !c.Flags().Changed("runtime") {
				runtimes = []string{"netns", "docker"}
			}
			labs := []topology.LabInfo{}
			for _, name := range runtimes {
				found, err := listLabs(c.Context(), g, name)
				if err != nil {
					// Docker is listed only where it answers, unless asked for.
					if name == "docker" && len(runtimes) > 1 {
						continue
					}
					return err
				}
				labs = append(labs, found...)
			}
			if g.format == "json" {
				return json.NewEncoder(g.Out).Encode(map[string]any{"schema_version": 1, "labs": labs})
			}
			tw := tabwriter.NewWriter(g.Out, 10, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRUNTIME\tPID\tFILE")
			for _, l := range labs {
				pid := "-"
				if l.PID != 0 {
					pid = fmt.Sprint(l.PID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Name, l.Runtime, pid, l.File)
			}
			return tw.Flush()
		},
	}
	o.addFlags(c)
	return c
}

// listLabs lists the running labs of one runtime.
func listLabs(ctx context.Context, g *globalOptions, runtime string) ([]topology.LabInfo, error) {
	o := runtimeOptions{runtime: runtime}
	rt, err := o.newRuntime(g)
	if err != nil {
		return nil, err
	}
	labs, err := rt.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing %s labs: %w", runtime, err)
	}
	return labs, nil
}

func newExecCommand(g *globalOptions) *cobra.Command {
	o := &runtimeOptions{}
	c := &cobra.Command{
		Use:   "exec NAME NODE -- COMMAND [ARG...]",
		Short: "Run a program inside a node of a running lab",
		Long: `Run COMMAND inside the network namespace of NODE (a container, host, or an
outside host) of the running lab NAME, with this terminal's input and output.
The program comes from this machine's file system.`,
		Example: `  topolab exec alpine-net alpine1 -- ip addr
  topolab exec alpine-net alpine1 -- sh`,
		Args: func(c *cobra.Command, args []string) error {
			if c.ArgsLenAtDash() != 2 || len(args) < 3 {
				return &exitError{code: exitUsage, err: fmt.Errorf("exec: give the lab, the node, then -- and the command; usage: %s", c.UseLine())}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			lab, err := o.attach(c.Context(), g, args[0])
			if err != nil {
				return err
			}
			defer lab.Close(context.Background())
			node := lab.Node(args[1])
			if node == nil {
				var names []string
				for _, n := range lab.Nodes() {
					names = append(names, n.Name())
				}
				return &exitError{code: exitUsage, err: fmt.Errorf("lab %s has no node %s; its nodes: %s",
					args[0], args[1], strings.Join(names, ", "))}
			}
			err = node.Exec(c.Context(), args[2:], g.In, g.Out, g.ErrOut)
			// Both runtimes' errors for a program that ran and failed
			// carry its exit status, which becomes topolab's.
			var status interface{ ExitCode() int }
			if errors.As(err, &status) && status.ExitCode() >= 0 {
				return &exitError{code: status.ExitCode(), err: fmt.Errorf("%w: %v", errSilent, err)}
			}
			return err
		},
	}
	o.addFlags(c)
	return c
}

func newProbeCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "probe NAME",
		Short: "Probe a running lab and print the reachability matrix",
		Example: `  topolab probe alpine-net
  topolab probe alpine-net --format json`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.checkFormat("table", "json", "markdown", "csv"); err != nil {
				return err
			}
			if err := positiveDuration("timeout", o.timeout); err != nil {
				return err
			}
			lab, err := o.attach(c.Context(), g, args[0])
			if err != nil {
				return err
			}
			defer lab.Close(context.Background())
			m := probe.NewModel(lab.Plan())
			report, err := probeLab(c.Context(), lab, m, o.runtime, probe.RunOptions{Timeout: o.timeout, Logger: g.logger()})
			if err != nil {
				return err
			}
			if err := render.WriteMatrix(g.Out, report, g.format, render.MatrixOptions{Color: g.color(), Plan: lab.Plan()}); err != nil {
				return err
			}
			return verdictOf(g, report, o.strict)
		},
	}
	o.addFlags(c)
	c.Flags().BoolVar(&o.strict, "strict", false, "exit 1 when an observed result differs from the prediction")
	c.Flags().DurationVar(&o.timeout, "timeout", time.Second, "time each probe exchange may take before it counts as timed out")
	return c
}
