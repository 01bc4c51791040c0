package capture

import (
	"fmt"
	"io"
	"strings"
)

// WriteNATMarkdown writes translations as the Markdown table of nat.md: per
// translation its kind, the connection before and after the rewrite, the
// capture points that saw each side, and the probe that caused it.
func WriteNATMarkdown(w io.Writer, translations []Translation) error {
	var b strings.Builder
	b.WriteString("# NAT translations\n\n")
	if len(translations) == 0 {
		b.WriteString("No connection was rewritten.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("| kind | before | seen before on | after | seen after on | confirmed | probe |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, t := range translations {
		confirmed := "yes"
		if !t.Confirmed {
			confirmed = "no"
		}
		if t.Note != "" {
			confirmed += " (" + t.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			t.Kind, mdCell(t.Original.String()), mdCell(pointsOf(t.Before)),
			mdCell(t.Translated.String()), mdCell(pointsOf(t.After)), mdCell(confirmed), mdCell(t.Probe))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pointsOf(r *FlowRef) string {
	if r == nil || len(r.Points) == 0 {
		return "not captured"
	}
	return strings.Join(r.Points, ", ")
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Path is the way of one connection through the lab: the capture points it
// crossed in order, with the addresses it carried at each.
type Path struct {
	Title string
	Steps []PathStep
}

// PathStep is one capture point on a Path, or the rewrite between two.
type PathStep struct {
	// Point is the capture point's label, empty for a rewrite step.
	Point string
	// Key is the connection as this step saw it.
	Key FlowKey
	// NAT is the translation kind of a rewrite step, empty otherwise.
	NAT string
}

// Path returns the points f crossed with its addresses.
func (f Flow) Path() Path {
	p := Path{Title: f.Key.String()}
	for _, h := range f.Hops {
		p.Steps = append(p.Steps, PathStep{Point: h.Label, Key: f.Key})
	}
	return p
}

// Path returns the points t crossed before the rewrite, the rewrite, and
// the points after it. Sides the capture did not see contribute no points.
func (t Translation) Path() Path {
	p := Path{Title: t.Kind + ": " + t.Original.String()}
	if t.Before != nil {
		for _, pt := range t.Before.Points {
			p.Steps = append(p.Steps, PathStep{Point: pt, Key: t.Original})
		}
	}
	p.Steps = append(p.Steps, PathStep{Key: t.Translated, NAT: t.Kind})
	if t.After != nil {
		for _, pt := range t.After.Points {
			p.Steps = append(p.Steps, PathStep{Point: pt, Key: t.Translated})
		}
	}
	return p
}

// WriteDOT writes p as a Graphviz digraph, left to right: the client
// address, each step as a box labelled with the point and the addresses
// seen there (a rewrite as a diamond), and the server address.
func WriteDOT(w io.Writer, p Path) error {
	var b strings.Builder
	b.WriteString("digraph path {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  rankdir=LR;\n", dotQuote(p.Title))
	b.WriteString("  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n")
	if len(p.Steps) == 0 {
		b.WriteString("}\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	first, last := p.Steps[0].Key, p.Steps[len(p.Steps)-1].Key
	fmt.Fprintf(&b, "  client [shape=ellipse, label=%s];\n", dotQuote(first.Src.Addr().String()))
	for i, s := range p.Steps {
		if s.NAT != "" {
			fmt.Fprintf(&b, "  s%d [shape=diamond, label=%s];\n", i, dotQuote(s.NAT+"\n"+s.Key.String()))
			continue
		}
		fmt.Fprintf(&b, "  s%d [label=%s];\n", i, dotQuote(s.Point+"\n"+s.Key.String()))
	}
	fmt.Fprintf(&b, "  server [shape=ellipse, label=%s];\n", dotQuote(last.Dst.Addr().String()))

	prev := "client"
	for i := range p.Steps {
		fmt.Fprintf(&b, "  %s -> s%d;\n", prev, i)
		prev = fmt.Sprintf("s%d", i)
	}
	fmt.Fprintf(&b, "  %s -> server;\n}\n", prev)
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote returns s as a DOT double-quoted string. A newline becomes the
// DOT escape \n, which centres the next line.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
