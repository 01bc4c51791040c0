package render

import (
	"fmt"
	"strings"
)

// legendEntry is one row of the legend other than a network colour.
type legendEntry int

// Legend rows, in the order they are listed.
const (
	legendInternal legendEntry = iota
	legendPort
	legendHostMode
	legendNoneMode
	legendContainerMode
	legendOK
	legendBlocked
	legendNoName
	legendMixed
	legendArrowheads
	legendSurprise
	legendCount
)

// legend collects what a diagram uses, so that the legend lists only that.
type legend struct {
	networks []driverStyle
	entries  [legendCount]bool
}

func newLegend() *legend { return &legend{} }

func (l *legend) addNetwork(st driverStyle) {
	for _, s := range l.networks {
		if s == st {
			return
		}
	}
	l.networks = append(l.networks, st)
}

func (l *legend) add(e legendEntry) { l.entries[e] = true }

// lineSample returns a legend cell that shows a line style as text: a row
// of long dashes for a solid line, spaced short ones for a dashed line, dots
// for a dotted one.
func lineSample(color, style string) string {
	sample := "———"
	switch style {
	case "dashed":
		sample = "– – –"
	case "dotted":
		sample = "· · · ·"
	}
	return fmt.Sprintf(`<td><font color="%s"><b>%s</b></font></td>`, color, sample)
}

// swatch returns a legend cell filled with a network's colours. Its style
// is only ever "rounded": go-graphviz v0.2.10 writes corrupt json output
// for a table cell styled "dashed".
func swatch(fill, line, style string) string {
	return fmt.Sprintf(`<td width="30" height="14" fixedsize="true" bgcolor="%s" color="%s" border="1" style="%s"></td>`,
		fill, line, style)
}

// rows returns the legend's table rows in a fixed order.
func (l *legend) rows() []string {
	var rows []string
	row := func(sample, text string) {
		rows = append(rows, "<tr>"+sample+`<td align="left">`+escapeHTML(text)+"</td></tr>")
	}
	for _, st := range l.networks {
		row(swatch(st.Fill, st.Line, "rounded"), st.Name)
	}
	texts := [legendCount]string{
		legendInternal:      "dashed border: internal network",
		legendPort:          "published port: host address:port → container:port",
		legendHostMode:      "network_mode host: shares the Docker host's namespace",
		legendNoneMode:      "network_mode none: loopback only",
		legendContainerMode: "network_mode container: shares another container's namespace",
		legendOK:            "probe result ok",
		legendBlocked:       "blocked: timeout, refused or unreachable",
		legendNoName:        "name does not resolve",
		legendMixed:         "some probes ok, some not",
		legendArrowheads:    "overlay: ping between containers, by ip and by name",
		legendSurprise:      "thick edge, !: observed differs from predicted",
	}
	samples := [legendCount]string{
		legendInternal:      lineSample(colorInk, "dashed"),
		legendPort:          lineSample(colorPort, "solid"),
		legendHostMode:      swatch(colorHostFill, colorInk, "rounded"),
		legendNoneMode:      swatch(colorNoneFill, colorMuted, "rounded"),
		legendContainerMode: lineSample(colorDetail, "dotted"),
		legendOK:            lineSample(colorOK, "solid"),
		legendBlocked:       lineSample(colorBlocked, "dashed"),
		legendNoName:        lineSample(colorNoName, "dotted"),
		legendMixed:         lineSample(colorMixed, "solid"),
		legendArrowheads:    `<td><b>→</b></td>`,
		legendSurprise:      `<td><font color="` + colorBlocked + `"><b>!</b></font></td>`,
	}
	for e := legendEntry(0); e < legendCount; e++ {
		if l.entries[e] {
			row(samples[e], texts[e])
		}
	}
	return rows
}

func (d *diagram) writeLegend() {
	rows := d.legend.rows()
	if len(rows) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(`<table border="1" color="` + colorMuted + `" cellborder="0" cellspacing="3" cellpadding="2">`)
	b.WriteString(`<tr><td colspan="2" align="left"><b>Legend</b></td></tr>`)
	for _, r := range rows {
		b.WriteString(r)
	}
	b.WriteString("</table>")
	d.g.node(idLegend,
		attr{"shape", "plain"},
		attr{"label", html(b.String())},
		attr{"fontsize", legendSize},
	)
	d.g.line("{rank=same; %s; %s;}", quoteID(idRouter), quoteID(idLegend))
}
