package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// recorder is a packet capture running during a lab's probes.
type recorder struct{}

// captureResult is what a recorder captured.
type captureResult struct{}

// TODO: capture the lab's host-side veths, bridges and uplink here.
func startCapture(ctx context.Context, lab topology.Lab, g *globalOptions) (*recorder, error) {
	return &recorder{}, nil
}

func (r *recorder) stop(ctx context.Context) (*captureResult, error) { return &captureResult{}, nil }

func (c *captureResult) annotate(report *probe.Report) {}

func (c *captureResult) write(dir string) error { return nil }

func newCaptureCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{Use: "capture NAME", Short: "Capture packets on a running lab's interfaces", Hidden: true,
		Example: "  topolab capture alpine-net -w lab.pcapng --duration 10s"}
}
