package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/docker"
	"github.com/topolab/topolab/topology/netns"
)

// runtimeOptions select the runtime of a command that builds or finds labs.
type runtimeOptions struct {
	runtime string
}

func (o *runtimeOptions) addFlags(c *cobra.Command) {
	c.Flags().StringVar(&o.runtime, "runtime", "netns", "runtime: netns (namespaces built by topolab) or docker (Docker Engine)")
}

// attacher is implemented by runtimes whose labs other processes can reach:
// the netns runtime through its supervisor, the docker runtime through the
// engine.
type attacher interface {
	Attach(ctx context.Context, lab string) (topology.Lab, error)
}

// newRuntime returns the runtime the options name.
func (o *runtimeOptions) newRuntime(g *globalOptions) (topology.Runtime, error) {
	switch o.runtime {
	case "netns":
		// Without root, the rest of the command runs again in a new user
		// and network namespace, and this process only passes on its exit
		// code.
		reexecuted, code, err := netns.EnterUserNamespace()
		if err != nil {
			return nil, err
		}
		if reexecuted {
			return nil, &exitError{code: code, err: errSilent}
		}
		return netns.New(netns.Options{Logger: g.logger()}), nil
	case "docker":
		rt, err := docker.New(docker.Options{Logger: g.logger()})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", topology.ErrEnvironment, err)
		}
		return rt, nil
	}
	return nil, &exitError{code: exitUsage, err: fmt.Errorf("--runtime %s: use netns or docker", o.runtime)}
}

// attach finds a running lab by name.
func (o *runtimeOptions) attach(ctx context.Context, g *globalOptions, lab string) (topology.Lab, error) {
	rt, err := o.newRuntime(g)
	if err != nil {
		return nil, err
	}
	a, ok := rt.(attacher)
	if !ok {
		return nil, fmt.Errorf("%w: the %s runtime cannot attach to running labs", topology.ErrEnvironment, rt.Name())
	}
	l, err := a.Attach(ctx, lab)
	if errors.Is(err, topology.ErrNoLab) && o.runtime == "netns" {
		return nil, fmt.Errorf("%w (for a lab started with --runtime docker, add --runtime docker)", err)
	}
	return l, err
}

func addRuntimeCommands(root *cobra.Command, g *globalOptions) {
	root.AddCommand(
		newRunCommand(g),
		newTestCommand(g),
		newUpCommand(g),
		newDownCommand(g),
		newLsCommand(g),
		newInspectCommand(g),
		newExecCommand(g),
		newProbeCommand(g),
		newCaptureCommand(g),
		newSuperviseCommand(g),
	)
}
