package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/docker"
)

type discoverOptions struct {
	*globalOptions
	name    string
	labels  []string
	all     bool
	output  string
	host    string
	noCheck bool
}

func newDiscoverCommand(g *globalOptions) *cobra.Command {
	o := &discoverOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "discover [CONTAINER...]",
		Short: "Write a topology file from the networks and containers of a Docker host",
		Long: `Read the networks and containers of a live Docker host and write them as a
topology file that topolab can validate, draw, predict and run: networks with
driver, subnet, gateway, internal, icc and driver options; containers with
their image, networks (aliases, static addresses, gw_priority), network mode,
published ports and hostname. The ports an image exposes become its listen
ports.

Without arguments every running container is read, with --all also stopped
ones; CONTAINER names or IDs select containers, and --label selects
containers and networks by label. Networks the selected containers use are
always included. discover only reads: it changes nothing on the host.`,
		Example: `  topolab discover > lab.yaml
  topolab discover web db -o shop.yaml --name shop
  topolab discover --label com.docker.compose.project=shop --name shop`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), args)
		},
	}
	c.Flags().StringVar(&o.name, "name", "discovered", "lab name written into the file")
	c.Flags().StringArrayVar(&o.labels, "label", nil, "select containers and networks with this label, KEY or KEY=VALUE (repeatable: all must match)")
	c.Flags().BoolVarP(&o.all, "all", "a", false, "include stopped containers")
	c.Flags().StringVarP(&o.output, "output", "o", "", "write the file to this path instead of stdout")
	c.Flags().StringVar(&o.host, "host", "", "Docker daemon address, as DOCKER_HOST takes it (default: DOCKER_HOST or the local socket)")
	c.Flags().BoolVar(&o.noCheck, "no-check", false, "write the file even when topolab cannot plan it")
	return c
}

func (o *discoverOptions) run(ctx context.Context, args []string) error {
	if err := o.checkFormat("table"); err != nil {
		return err
	}
	if len(args) > 0 && len(o.labels) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w: give container names or --label, not both", errUsage)}
	}

	rt, err := docker.New(docker.Options{Logger: o.logger(), Host: o.host})
	if err != nil {
		return fmt.Errorf("%w: %v", topology.ErrEnvironment, err)
	}
	defer rt.Close()
	found, err := rt.Discover(ctx, docker.DiscoverOptions{Name: o.name, Containers: args, Labels: o.labels, All: o.all})
	if err != nil {
		return err
	}

	for _, w := range found.Warnings {
		fmt.Fprintln(o.ErrOut, "warning:", w)
	}
	if !o.noCheck {
		if err := checkDiscovered(o.name, found.YAML); err != nil {
			return err
		}
	}

	if o.output == "" {
		_, err := o.Out.Write(found.YAML)
		return err
	}
	if err := os.WriteFile(o.output, found.YAML, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	fmt.Fprintf(o.ErrOut, "%s: %d networks, %d containers\n", o.output, len(found.Networks), len(found.Containers))
	return nil
}

// checkDiscovered loads and plans a discovered file, so that discover
// writes only files that the other commands accept, unless --no-check is
// given.
func checkDiscovered(name string, data []byte) error {
	topo, err := topology.Parse(name+".yaml", data)
	if err != nil {
		return fmt.Errorf("checking the discovered topology (write it anyway with --no-check): %w", err)
	}
	if _, err := topology.PlanTopology(topo); err != nil {
		return fmt.Errorf("planning the discovered topology (write it anyway with --no-check): %w", err)
	}
	return nil
}
