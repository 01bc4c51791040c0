package render

import (
	"net/netip"
	"strings"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// overlayGroup is the results of one source, target and way of addressing,
// drawn as one edge.
type overlayGroup struct {
	from, to string // diagram node IDs
	lines    []string
	ok, fail int
	noName   int
	surprise bool
}

// writeOverlay draws the reachability edges of d.opts.Results between
// containers. Results from or to the host and the outside are left out: the
// matrix shows them, and on a slide their edges would hide the topology.
func (d *diagram) writeOverlay() {
	var groups []*overlayGroup
	index := map[string]*overlayGroup{}
	for i := range d.opts.Results {
		r := &d.opts.Results[i]
		target := targetNode(d.plan, r)
		// Pings are the reachability; the other kinds stay in the matrix,
		// so that a slide shows one short label per pair.
		if r.Kind != topology.KindPing || d.plan.Container(r.From) == nil || d.plan.Container(target) == nil {
			continue
		}
		from := d.nodeID(r.From)
		to := d.nodeID(target)
		if from == "" || to == "" {
			continue
		}
		key := from + "\x00" + to
		g := index[key]
		if g == nil {
			g = &overlayGroup{from: from, to: to}
			index[key] = g
			groups = append(groups, g)
		}
		g.add(r)
	}
	for _, g := range groups {
		d.writeOverlayEdge(g)
	}
}

func (g *overlayGroup) add(r *probe.Result) {
	how := "ip"
	if r.By == topology.ByName {
		how = "name"
	} else if r.Network != "" {
		how = "ip on " + r.Network
	}
	line := how + " " + r.Result
	if r.Surprise {
		line += " ! predicted " + r.Predicted
		g.surprise = true
	}
	for _, l := range g.lines {
		if l == line {
			return
		}
	}
	g.lines = append(g.lines, line)
	switch r.Result {
	case probe.OK:
		g.ok++
	case probe.NoName:
		g.noName++
		g.fail++
	default:
		g.fail++
	}
}

func (d *diagram) writeOverlayEdge(g *overlayGroup) {
	color, style, entry := colorMixed, "solid", legendMixed
	switch {
	case g.fail == 0:
		color, entry = colorOK, legendOK
	case g.ok == 0 && g.noName == g.fail:
		color, style, entry = colorNoName, "dotted", legendNoName
	case g.ok == 0:
		color, style, entry = colorBlocked, "dashed", legendBlocked
	}
	d.legend.add(entry)
	d.legend.add(legendArrowheads)

	width := "2.2"
	if g.surprise {
		width = "3.6"
		d.legend.add(legendSurprise)
	}
	d.g.edge(g.from, g.to,
		attr{"label", strings.Join(g.lines, "\n")},
		attr{"color", color},
		attr{"fontcolor", color},
		attr{"style", style},
		attr{"penwidth", width},
		attr{"arrowhead", "normal"},
		attr{"arrowsize", "1.1"},
		// The overlay must not move the plan's nodes, so that the
		// diagram with and without it can be compared side by side.
		// NOTE: dot reserves no room for the labels of such edges, so
		// labels of edges between containers of one rank may overlap.
		attr{"constraint", "false"},
	)
}

// nodeID returns the diagram node of a probe source or target name, or ""
// when the diagram has no such node.
func (d *diagram) nodeID(name string) string {
	switch {
	case name == "":
		return ""
	case name == topology.HostNode:
		return idHost
	case d.plan.Container(name) != nil:
		return containerID(name)
	}
	for _, o := range d.plan.Outside {
		if o.Name == name {
			return outsideID(name)
		}
	}
	return ""
}

// targetNode returns the node a result's probe went to: its To, or for a
// probe given only a via address, the node owning that address. It returns
// "" when no node owns it.
func targetNode(plan *topology.Plan, r *probe.Result) string {
	if r.To != "" || r.Via == "" {
		return r.To
	}
	host, _, ok := strings.Cut(r.Via, ":")
	if !ok {
		return ""
	}
	switch host {
	case "localhost":
		// Loopback reaches the source's own namespace.
		return r.From
	case "uplink", "gateway":
		return topology.HostNode
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || plan == nil {
		return ""
	}
	return addressOwner(plan, addr)
}

// addressOwner returns the node that has addr, or "" if none has.
func addressOwner(plan *topology.Plan, addr netip.Addr) string {
	if addr.IsLoopback() || addr.IsUnspecified() {
		return ""
	}
	for _, a := range plan.HostAddresses() {
		if a == addr {
			return topology.HostNode
		}
	}
	for _, c := range plan.Containers {
		for _, i := range c.Interfaces {
			if i.Address.Addr() == addr {
				return c.Name
			}
		}
	}
	for _, o := range plan.Outside {
		if o.Address == addr {
			return o.Name
		}
	}
	return ""
}
