package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/capture"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/render"
	"github.com/topolab/topolab/topology"
)

// capturePoints returns the lab host's interfaces to capture on: every
// host-side veth, every bridge and, for the netns runtime, the uplink and
// loopback. The
// docker runtime's host is this machine, whose eth0 is not the lab's.
func capturePoints(lab topology.Lab, runtime string) ([]capture.Point, error) {
	host := lab.Node(topology.HostNode)
	if host == nil {
		return nil, fmt.Errorf("lab %s has no host node to capture in", lab.Plan().Lab)
	}
	plan := lab.Plan()
	var points []capture.Point
	if runtime == "netns" {
		// Loopback carries the client side of the userland proxy.
		points = append(points,
			capture.Point{Label: "uplink", Ifname: "eth0", Do: host.Do},
			capture.Point{Label: "host lo", Ifname: "lo", Do: host.Do})
	}
	for _, n := range plan.Networks {
		if n.Bridge != "" && networkUsed(plan, n.Name) {
			points = append(points, capture.Point{Label: n.Bridge + " (" + n.Name + ")", Ifname: n.Bridge, Do: host.Do})
		}
	}
	for _, c := range plan.Containers {
		for _, i := range c.Interfaces {
			if i.HostVeth == "" || plan.Network(i.Network).Bridge == "" {
				continue
			}
			points = append(points, capture.Point{
				Label:  fmt.Sprintf("%s %s (%s)", c.Name, i.Name, i.Network),
				Ifname: i.HostVeth,
				Do:     host.Do,
			})
		}
	}
	return points, nil
}

// networkUsed reports whether any container is attached to the network; a
// bridge without ports has no carrier to capture on.
func networkUsed(plan *topology.Plan, network string) bool {
	for _, c := range plan.Containers {
		if c.Interface(network) != nil {
			return true
		}
	}
	return false
}

// recorder is a packet capture running during a lab's probes.
type recorder struct {
	lab     topology.Lab
	session *capture.Session
}

// captureResult is the packets of a stopped recorder and the conntrack
// entries read when it stopped. A nil *captureResult writes nothing.
type captureResult struct {
	capture *capture.Capture
	// entries and ports are the conntrack entries and published ports that
	// annotate pairs into translations once flows carry their probes.
	entries      []capture.Translation
	ports        []capture.PortMapping
	translations []capture.Translation
}

func startCapture(ctx context.Context, lab topology.Lab, runtime string) (*recorder, error) {
	points, err := capturePoints(lab, runtime)
	if err != nil {
		return nil, err
	}
	session, err := capture.Start(ctx, points, capture.Options{})
	if err != nil {
		return nil, fmt.Errorf("starting packet capture: %w", err)
	}
	return &recorder{lab: lab, session: session}, nil
}

// stop ends the capture and reads the lab host's conntrack table.
func (r *recorder) stop(ctx context.Context) (*captureResult, error) {
	c, err := r.session.Stop()
	if err != nil {
		return nil, fmt.Errorf("stopping packet capture: %w", err)
	}
	out := &captureResult{capture: c}
	entries, err := capture.ReadConntrack(r.lab.Node(topology.HostNode).Do)
	if err != nil {
		return out, fmt.Errorf("reading conntrack: %w", err)
	}
	out.entries = entries
	for _, pc := range r.lab.Plan().Containers {
		for _, b := range pc.Ports {
			out.ports = append(out.ports, capture.PortMapping{HostIP: b.HostIP, HostPort: b.HostPort,
				ContainerIP: b.ContainerIP, ContainerPort: b.ContainerPort, Proto: b.Proto})
		}
	}
	return out, nil
}

// captureSummary is the capture part of results.json.
type captureSummary struct {
	Summary    string                `json:"summary"`
	Packets    int                   `json:"packets"`
	Lost       uint64                `json:"lost"`
	Interfaces []capture.PointStats  `json:"interfaces"`
	NAT        []capture.Translation `json:"nat"`
}

// sourceAddresses returns a function that gives the source address, before
// any NAT, of a probe from a node to dst. Outside hosts bind their own
// address, a container with one interface has one address, and the host
// sends from the address of its interface towards dst. For other sources
// the function returns the zero Addr, because routing decides.
func sourceAddresses(plan *topology.Plan) func(from string, dst netip.Addr) netip.Addr {
	outside := map[string]netip.Addr{}
	for _, o := range plan.Outside {
		outside[o.Name] = o.Address
	}
	return func(from string, dst netip.Addr) netip.Addr {
		if a, ok := outside[from]; ok {
			return a
		}
		if from == topology.HostNode {
			if dst.IsLoopback() {
				return dst
			}
			for _, n := range plan.Networks {
				if n.Bridge != "" && n.Subnet.Contains(dst) {
					if dst == n.Gateway {
						return dst
					}
					return n.Gateway
				}
			}
			return plan.Uplink.Addr()
		}
		if c := plan.Container(from); c != nil {
			if owner := plan.NetnsOwner(c); owner != nil && len(owner.Interfaces) == 1 && !dst.IsLoopback() {
				return owner.Interfaces[0].Address.Addr()
			}
		}
		return netip.Addr{}
	}
}

// annotate labels each captured flow with the probe that caused it, and
// adds the capture summary to the report.
// NOTE: probes carry no start and end times, so every annotation spans the
// whole capture. A flow to an address and port that several probes tried
// may be attributed to the wrong one of them.
func (c *captureResult) annotate(report *probe.Report, plan *topology.Plan) {
	if c == nil || c.capture == nil {
		return
	}
	sources := sourceAddresses(plan)
	var notes []capture.Annotation
	results := append([]probe.Result(nil), report.Results...)
	for _, x := range report.Expectations {
		results = append(results, x.Result)
	}
	for _, r := range results {
		dst, err := netip.ParseAddr(r.Address)
		if err != nil {
			continue
		}
		note := capture.Annotation{
			Probe: describeCheck(probe.ExpectationResult{Result: r}),
			Start: c.capture.Start, End: c.capture.End, Dst: dst,
			Proto: capture.ProtoTCP, Port: uint16(r.Port), Src: sources(r.From, dst),
		}
		switch r.Kind {
		case topology.KindPing:
			note.Proto, note.Port = capture.ProtoICMP, 0
		case topology.KindUDP:
			note.Proto = capture.ProtoUDP
		case topology.KindDNS:
			// A lookup's packets go to the resolver, not to the address
			// it returns.
			continue
		}
		if r.Via != "" {
			if ap, err := netip.ParseAddrPort(strings.Replace(r.Via, strings.Split(r.Via, ":")[0], dst.String(), 1)); err == nil {
				note.Port = ap.Port()
			}
		}
		notes = append(notes, note)
	}
	c.capture.Annotate(notes...)
	c.translations = c.capture.NAT(c.entries, c.ports)
	report.Capture = captureSummary{
		Summary:    c.capture.Summary(),
		Packets:    len(c.capture.Packets),
		Lost:       c.capture.Lost(),
		Interfaces: c.capture.Stats,
		NAT:        c.translations,
	}
}

// write writes capture.pcapng, nat.md and the NAT path diagrams into dir.
func (c *captureResult) write(ctx context.Context, dir string) error {
	if c == nil || c.capture == nil {
		return nil
	}
	var pcap bytes.Buffer
	if err := c.capture.WritePcapng(&pcap); err != nil {
		return fmt.Errorf("writing capture.pcapng: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "capture.pcapng"), pcap.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing capture.pcapng: %w", err)
	}
	var nat bytes.Buffer
	if err := capture.WriteNATMarkdown(&nat, c.translations); err != nil {
		return fmt.Errorf("writing nat.md: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nat.md"), nat.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing nat.md: %w", err)
	}
	return c.writePaths(ctx, dir)
}

// writePaths draws, for each kind of translation, the path of its first
// confirmed connection through the lab with the addresses at each hop:
// nat-path-masquerade.svg, nat-path-dnat.svg and so on.
func (c *captureResult) writePaths(ctx context.Context, dir string) error {
	drawn := map[string]bool{}
	for _, t := range c.translations {
		if !t.Confirmed || drawn[t.Kind] {
			continue
		}
		drawn[t.Kind] = true
		var dot bytes.Buffer
		if err := capture.WriteDOT(&dot, t.Path()); err != nil {
			return err
		}
		svg, err := render.SVGFromDOT(ctx, dot.Bytes())
		if err != nil {
			return fmt.Errorf("drawing the %s path: %w", t.Kind, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nat-path-"+t.Kind+".svg"), svg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type captureOptions struct {
	*globalOptions
	runtimeOptions
	interfaces []string
	output     string
	duration   time.Duration
}

func newCaptureCommand(g *globalOptions) *cobra.Command {
	o := &captureOptions{globalOptions: g}
	c := &cobra.Command{
		Use:   "capture NAME -w FILE",
		Short: "Capture packets on a running lab's interfaces into a pcapng file",
		Long: `Capture on the lab host's interfaces of the running lab NAME (every host-side
veth, every bridge and the uplink, or those given with -i) until --duration
has passed or the command is interrupted, then write one pcapng file with an
interface block per interface and print the NAT translations seen.`,
		Example: `  topolab capture alpine-net -w lab.pcapng --duration 10s
  topolab capture nat -i uplink -i docker0 -w nat.pcapng`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), args[0])
		},
	}
	o.addFlags(c)
	c.Flags().StringArrayVarP(&o.interfaces, "interface", "i", nil, "interface to capture, by name or label (repeatable; default: all)")
	c.Flags().StringVarP(&o.output, "write", "w", "", "pcapng file to write")
	c.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to capture")
	c.MarkFlagRequired("write")
	return c
}

func (o *captureOptions) run(ctx context.Context, name string) error {
	if err := positiveDuration("duration", o.duration); err != nil {
		return err
	}
	lab, err := o.attach(ctx, o.globalOptions, name)
	if err != nil {
		return err
	}
	defer lab.Close(context.Background())
	points, err := capturePoints(lab, o.runtime)
	if err != nil {
		return err
	}
	if len(o.interfaces) > 0 {
		points, err = selectPoints(points, o.interfaces)
		if err != nil {
			return err
		}
	}
	session, err := capture.Start(ctx, points, capture.Options{})
	if err != nil {
		return fmt.Errorf("starting packet capture: %w", err)
	}
	select {
	case <-time.After(o.duration):
	case <-ctx.Done():
	}
	c, err := session.Stop()
	if err != nil {
		return fmt.Errorf("stopping packet capture: %w", err)
	}
	var buf bytes.Buffer
	if err := c.WritePcapng(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(o.output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	fmt.Fprintf(o.ErrOut, "wrote %s: %s\n", o.output, c.Summary())
	return ctx.Err()
}

func selectPoints(points []capture.Point, wanted []string) ([]capture.Point, error) {
	var out []capture.Point
	for _, w := range wanted {
		found := false
		for _, p := range points {
			if p.Ifname == w || p.Label == w {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			var names []string
			for _, p := range points {
				names = append(names, p.Ifname+" ("+p.Label+")")
			}
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("-i %s: no such interface in the lab; its interfaces: %s",
				w, strings.Join(names, ", "))}
		}
	}
	return out, nil
}
