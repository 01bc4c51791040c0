package render

import (
	"errors"
	"fmt"
	"strings"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// DiagramOptions selects what a diagram shows. The zero value draws the plan
// alone, titled with the lab name.
type DiagramOptions struct {
	// Results are probe results, observed or predicted. They are drawn only
	// when Overlay is true.
	Results []probe.Result
	// Overlay draws one reachability edge per source, target and way of
	// addressing (by ip or by name), summarising the results of that
	// triple.
	Overlay bool
	// Title is the diagram's heading; empty means the lab name.
	Title string
	// Width is the PNG width in pixels. Zero picks 2 pixels per point of
	// the layout, and at least 1920. The height follows the layout's 16:9
	// aspect ratio.
	Width int
}

// ErrNoPlan is returned by the diagram functions when the plan is nil.
var ErrNoPlan = errors.New("no plan to draw")

// Node IDs of the diagram. Containers, networks and outside hosts get a
// prefix, so a container may share its name with a network.
const (
	idHost   = "host"
	idRouter = "router"
	idLegend = "legend"
)

func containerID(name string) string { return "ctr:" + name }
func networkID(name string) string   { return "net:" + name }
func outsideID(name string) string   { return "outside:" + name }

// DOT returns the Graphviz source of plan's diagram. It needs no Graphviz and
// is deterministic: the same plan and options give the same bytes.
func DOT(plan *topology.Plan, opts DiagramOptions) ([]byte, error) {
	if plan == nil {
		return nil, ErrNoPlan
	}
	d := &diagram{plan: plan, opts: opts, legend: newLegend()}
	d.write()
	return d.g.buf.Bytes(), nil
}

// diagram builds the DOT of one plan.
type diagram struct {
	plan   *topology.Plan
	opts   DiagramOptions
	g      dotGraph
	legend *legend
}

func (d *diagram) write() {
	title := d.opts.Title
	if title == "" {
		title = d.plan.Lab
	}
	d.g.open("digraph %s", quoteID(d.plan.Lab))
	d.g.defaults("graph",
		attr{"label", html("<b>" + escapeHTML(title) + "</b>")},
		attr{"labelloc", "t"},
		attr{"fontname", fontName},
		attr{"fontsize", titleSize},
		attr{"rankdir", "TB"},
		attr{"ratio", fmt.Sprintf("%.4f", slideRatio)},
		attr{"pad", fmt.Sprintf("%g", padInches)},
		attr{"nodesep", "0.35"},
		attr{"ranksep", "0.45"},
		attr{"newrank", "true"},
		attr{"outputorder", "edgesfirst"},
		attr{"bgcolor", "#FFFFFF"},
	)
	d.g.defaults("node",
		attr{"fontname", fontName},
		attr{"fontsize", nodeSize},
		attr{"shape", "box"},
		attr{"style", "rounded,filled"},
		attr{"fillcolor", colorContainer},
		attr{"color", colorInk},
		attr{"fontcolor", colorInk},
		attr{"penwidth", "1.2"},
		attr{"margin", "0.2,0.08"},
	)
	d.g.defaults("edge",
		attr{"fontname", fontName},
		attr{"fontsize", edgeSize},
		attr{"fontcolor", colorDetail},
		attr{"color", colorDetail},
		attr{"arrowhead", "none"},
		attr{"penwidth", "1.6"},
	)

	d.writeOutside()
	d.writeHost()
	d.writeNetworks()
	d.writeContainers()
	d.writePorts()
	if d.opts.Overlay {
		d.writeOverlay()
	}
	d.writeLegend()
	d.g.close()
}

// writeOutside draws the simulated internet: the router at the uplink's
// gateway and the outside hosts behind it.
func (d *diagram) writeOutside() {
	d.g.open("subgraph %s", quoteID("cluster_outside"))
	d.g.defaults("graph",
		attr{"label", "outside (simulated internet)"},
		attr{"fontsize", legendSize},
		attr{"fontcolor", colorOutside},
		attr{"style", "rounded,dashed"},
		attr{"color", colorOutside},
	)
	d.g.node(idRouter,
		attr{"label", htmlLines("router", colorDetail, d.plan.Router.String()+" · gateway and DNS")},
		attr{"fillcolor", colorOutFill},
		attr{"color", colorOutside},
	)
	for _, o := range d.plan.Outside {
		d.g.node(outsideID(o.Name),
			attr{"label", htmlLines(o.Name, colorDetail, o.Address.String())},
			attr{"fillcolor", colorOutFill},
			attr{"color", colorOutside},
		)
		d.g.edge(outsideID(o.Name), idRouter, attr{"color", colorOutside})
	}
	d.g.close()
}

// writeHost draws the Docker host, with its uplink, and the containers
// that share its network namespace.
func (d *diagram) writeHost() {
	var hostMode []*topology.PlannedContainer
	for _, c := range d.plan.Containers {
		if c.Mode == topology.ModeHost {
			hostMode = append(hostMode, c)
		}
	}
	if len(hostMode) > 0 {
		d.g.open("subgraph %s", quoteID("cluster_host"))
		d.g.defaults("graph",
			attr{"label", "Docker host network namespace"},
			attr{"fontsize", legendSize},
			attr{"fontcolor", colorDetail},
			attr{"style", "rounded,filled"},
			attr{"fillcolor", "#FAFAFA"},
			attr{"color", colorMuted},
		)
	}
	d.g.node(idHost,
		attr{"label", htmlLines("Docker host", colorDetail,
			"eth0 "+d.plan.Uplink.String()+" · uplink",
			"lo "+topology.Localhost.String())},
		attr{"fillcolor", colorHostFill},
		attr{"penwidth", "1.8"},
	)
	if len(hostMode) > 0 {
		for _, c := range hostMode {
			d.writeContainerNode(c)
		}
		ids := []string{quoteID(idHost)}
		for _, c := range hostMode {
			ids = append(ids, quoteID(containerID(c.Name)))
		}
		d.g.line("{rank=same; %s;}", strings.Join(ids, "; "))
		d.g.close()
		d.legend.add(legendHostMode)
	}
	d.g.edge(idRouter, idHost,
		attr{"label", "eth0 " + d.plan.Uplink.Addr().String()},
		attr{"color", colorOutside},
		attr{"penwidth", "2.2"},
	)
}

func (d *diagram) writeNetworks() {
	for _, n := range d.plan.Networks {
		if !d.drawNetwork(n) {
			continue
		}
		st := networkStyle(n)
		d.legend.addNetwork(st)
		details := []string{networkKind(n) + " · " + n.Subnet.String()}
		var flags []string
		if n.Internal {
			flags = append(flags, "internal: no outside access")
			d.legend.add(legendInternal)
		}
		if !n.ICC {
			flags = append(flags, "icc off: no container-to-container traffic")
		}
		if n.Default {
			flags = append(flags, "no embedded DNS")
		}
		if n.Driver == topology.DriverMacvlan || n.Driver == topology.DriverIPvlan {
			flags = append(flags, "the host cannot reach its containers")
		}
		details = append(details, flags...)
		style := "rounded,filled"
		if n.Internal {
			style = "rounded,filled,dashed"
		}
		d.g.node(networkID(n.Name),
			attr{"label", htmlLines(n.Name, colorDetail, details...)},
			attr{"fillcolor", st.Fill},
			attr{"color", st.Line},
			attr{"penwidth", "2.4"},
			attr{"style", style},
		)
		edge := []attr{
			{"label", networkUplinkLabel(n)},
			{"color", st.Line},
			{"fontcolor", st.Line},
			{"penwidth", "2.2"},
		}
		if n.Internal || n.Driver == topology.DriverMacvlan || n.Driver == topology.DriverIPvlan {
			edge = append(edge, attr{"style", "dashed"})
		}
		d.g.edge(idHost, networkID(n.Name), edge...)
	}
}

// drawNetwork reports whether n appears in the diagram: every user-defined
// network does, the default bridge only when a container uses it, so a
// topology without default-bridge containers is not cluttered by docker0.
func (d *diagram) drawNetwork(n *topology.PlannedNetwork) bool {
	if !n.Default {
		return true
	}
	for _, c := range d.plan.Containers {
		if c.Interface(n.Name) != nil {
			return true
		}
	}
	return false
}

func networkKind(n *topology.PlannedNetwork) string {
	if n.Default {
		return "default bridge"
	}
	kind := n.Driver
	for _, key := range []string{"macvlan_mode", "ipvlan_mode"} {
		if mode := n.Options[key]; mode != "" {
			kind += " " + mode
		}
	}
	return kind
}

// networkUplinkLabel labels the edge between the Docker host and n with the
// host side of the network: the bridge device and gateway address, or the
// parent interface for macvlan and ipvlan.
func networkUplinkLabel(n *topology.PlannedNetwork) string {
	gw := ""
	if n.Gateway.IsValid() {
		gw = " " + n.Gateway.String()
	}
	switch {
	case n.Bridge != "":
		return n.Bridge + gw
	case n.Driver == topology.DriverMacvlan || n.Driver == topology.DriverIPvlan:
		parent := n.Options["parent"]
		if parent == "" {
			return "dummy parent" + gw
		}
		return "parent " + parent + gw
	case n.Driver == topology.DriverOverlay:
		return "VXLAN" + gw
	}
	return strings.TrimSpace(gw)
}

func (d *diagram) writeContainers() {
	for _, c := range d.plan.Containers {
		if c.Mode == topology.ModeHost {
			continue
		}
		d.writeContainerNode(c)
		switch c.Mode {
		case topology.ModeNone:
			// An invisible edge puts it on the containers' rank.
			d.g.edge(idHost, containerID(c.Name), attr{"style", "invis"}, attr{"minlen", 2})
			d.legend.add(legendNoneMode)
		case topology.ModeContainer:
			d.g.edge(containerID(c.ModeTarget), containerID(c.Name),
				attr{"label", "same network namespace"},
				attr{"style", "dotted"},
				attr{"penwidth", "2"},
			)
			d.legend.add(legendContainerMode)
		}
		d.writeInterfaces(c)
	}
}

func (d *diagram) writeContainerNode(c *topology.PlannedContainer) {
	var details []string
	fill, color, style := colorContainer, colorInk, "rounded,filled"
	switch c.Mode {
	case topology.ModeHost:
		details = append(details, "network_mode: host")
		fill = colorHostFill
	case topology.ModeNone:
		details = append(details, "network_mode: none", "lo 127.0.0.1 only")
		fill, color, style = colorNoneFill, colorMuted, "rounded,filled,dashed"
	case topology.ModeContainer:
		details = append(details, "network_mode: container:"+c.ModeTarget)
	}
	if c.Image != "" {
		details = append(details, "image "+c.Image)
	}
	if c.Hostname != "" && c.Hostname != c.ShortID {
		details = append(details, "hostname "+c.Hostname)
	}
	if len(c.Listen) > 0 {
		ports := make([]string, len(c.Listen))
		for i, l := range c.Listen {
			ports[i] = fmt.Sprintf("%d/%s", l.Port, l.Proto)
		}
		details = append(details, "listens "+strings.Join(ports, ", "))
	}
	d.g.node(containerID(c.Name),
		attr{"label", htmlLines(c.Name, colorDetail, details...)},
		attr{"fillcolor", fill},
		attr{"color", color},
		attr{"style", style},
	)
}

// writeInterfaces draws one edge per interface of c, from its network. The
// interface carrying the default route is marked when c has several.
func (d *diagram) writeInterfaces(c *topology.PlannedContainer) {
	for _, i := range c.Interfaces {
		n := d.plan.Network(i.Network)
		if n == nil {
			continue
		}
		st := networkStyle(n)
		label := escapeHTML(i.Name + " " + i.Address.Addr().String())
		width := "2"
		var notes []string
		if len(i.Aliases) > 0 {
			notes = append(notes, "alias "+strings.Join(i.Aliases, ", "))
		}
		if len(c.Interfaces) > 1 && c.Gateway == i {
			notes = append(notes, "default route")
			width = "3.2"
		}
		for _, note := range notes {
			label += fmt.Sprintf(`<br/><font point-size="%d">%s</font>`, detailSize-1, escapeHTML(note))
		}
		d.g.edge(networkID(n.Name), containerID(c.Name),
			attr{"label", html(label)},
			attr{"color", st.Line},
			attr{"fontcolor", colorInk},
			attr{"penwidth", width},
		)
	}
}

// writePorts draws the published ports of each container as one edge from
// the Docker host, labelled host address:port → container:port/protocol.
func (d *diagram) writePorts() {
	for _, c := range d.plan.Containers {
		if len(c.Ports) == 0 {
			continue
		}
		lines := make([]string, len(c.Ports))
		for i, p := range c.Ports {
			lines[i] = fmt.Sprintf("%s:%d → %s:%d/%s", p.HostIP, p.HostPort, c.Name, p.ContainerPort, p.Proto)
		}
		d.g.edge(idHost, containerID(c.Name),
			attr{"label", strings.Join(lines, "\n")},
			attr{"color", colorPort},
			attr{"fontcolor", colorPort},
			attr{"penwidth", "2.4"},
			attr{"style", "bold"},
			attr{"arrowhead", "normal"},
		)
		d.legend.add(legendPort)
	}
}
