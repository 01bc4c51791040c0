package render

import "github.com/topolab/topolab/topology"

// Font sizes in points. Graphviz sizes every box from these and from its
// width estimate of Helvetica, the font named in the SVG.
const (
	fontName   = "Helvetica"
	titleSize  = 24
	nodeSize   = 14
	detailSize = 11
	edgeSize   = 11
	legendSize = 12
)

// slideRatio is height divided by width of a 16:9 slide. Graphviz stretches
// the layout, never the boxes, until the drawing has this aspect ratio.
const slideRatio = 9.0 / 16.0

// Colours, chosen from the Okabe-Ito palette where they mark a category so
// that colour-blind readers can tell them apart.
const (
	colorInk       = "#222222"
	colorDetail    = "#555555"
	colorMuted     = "#888888"
	colorHostFill  = "#EDEDED"
	colorOutside   = "#6E6E6E"
	colorOutFill   = "#F6F6F6"
	colorNoneFill  = "#F2F2F2"
	colorPort      = "#5E3C99"
	colorOK        = "#1A9641"
	colorBlocked   = "#D7191C"
	colorNoName    = "#E66101"
	colorMixed     = "#8C6D1F"
	colorContainer = "#FFFFFF"
)

// driverStyle is the colour scheme of one kind of network.
type driverStyle struct {
	// Name is the legend text.
	Name string
	// Line is the colour of the network's border and of its edges.
	Line string
	// Fill is a light tint of Line for the network box.
	Fill string
}

var (
	styleDefaultBridge = driverStyle{"default bridge (docker0)", "#56B4E9", "#E3F3FC"}
	styleBridge        = driverStyle{"bridge network", "#0072B2", "#D9EAF5"}
	styleMacvlan       = driverStyle{"macvlan network", "#CC79A7", "#F7E6EF"}
	styleIPvlan        = driverStyle{"ipvlan network", "#E69F00", "#FCEFD1"}
	styleOverlay       = driverStyle{"overlay network", "#009E73", "#D6F0E8"}
	styleUnknown       = driverStyle{"other network", "#777777", "#EEEEEE"}
)

// networkStyle returns the style of n's driver. The default bridge has a
// style of its own, so it differs from user-defined bridges at a glance.
func networkStyle(n *topology.PlannedNetwork) driverStyle {
	if n.Default {
		return styleDefaultBridge
	}
	switch n.Driver {
	case topology.DriverBridge:
		return styleBridge
	case topology.DriverMacvlan:
		return styleMacvlan
	case topology.DriverIPvlan:
		return styleIPvlan
	case topology.DriverOverlay:
		return styleOverlay
	}
	return styleUnknown
}
