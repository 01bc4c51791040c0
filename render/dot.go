package render

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// dotGraph accumulates the statements of a DOT digraph in order, so the same
// input always gives byte-identical DOT.
type dotGraph struct {
	buf    bytes.Buffer
	indent int
}

// attr is one DOT attribute. A value of type html is written as an HTML-like
// label <...>; any other value is written as a quoted string.
type attr struct {
	key   string
	value any
}

// html is a Graphviz HTML-like label body, already escaped.
type html string

func (g *dotGraph) line(format string, args ...any) {
	g.buf.WriteString(strings.Repeat("\t", g.indent))
	fmt.Fprintf(&g.buf, format, args...)
	g.buf.WriteByte('\n')
}

func (g *dotGraph) open(format string, args ...any) {
	g.line(format+" {", args...)
	g.indent++
}

func (g *dotGraph) close() {
	g.indent--
	g.line("}")
}

// defaults writes a graph, node or edge default attribute statement.
func (g *dotGraph) defaults(kind string, attrs ...attr) {
	g.line("%s %s;", kind, attrList(attrs))
}

func (g *dotGraph) node(id string, attrs ...attr) {
	g.line("%s %s;", quoteID(id), attrList(attrs))
}

func (g *dotGraph) edge(from, to string, attrs ...attr) {
	g.line("%s -> %s %s;", quoteID(from), quoteID(to), attrList(attrs))
}

func attrList(attrs []attr) string {
	parts := make([]string, 0, len(attrs))
	for _, a := range attrs {
		parts = append(parts, a.key+"="+attrValue(a.value))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func attrValue(v any) string {
	switch v := v.(type) {
	case html:
		return "<" + string(v) + ">"
	case string:
		return quoteID(v)
	default:
		return quoteID(fmt.Sprint(v))
	}
}

// quoteID quotes s as a DOT string. Backslashes are doubled so that Graphviz's
// escapes such as \N or \l never apply to names taken from a topology file.
func quoteID(s string) string {
	return `"` + dotEscaper.Replace(s) + `"`
}

var (
	dotEscaper  = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

// escapeHTML escapes text for use inside an HTML-like label.
func escapeHTML(s string) string {
	return htmlEscaper.Replace(s)
}

// htmlLines joins escaped lines of an HTML-like label. The first line is
// bold; later lines are set in a smaller size and the given colour.
func htmlLines(title string, detailColor string, details ...string) html {
	var b strings.Builder
	b.WriteString("<b>" + escapeHTML(title) + "</b>")
	for _, d := range details {
		if d == "" {
			continue
		}
		fmt.Fprintf(&b, `<br/><font point-size="%d" color="%s">%s</font>`, detailSize, detailColor, escapeHTML(d))
	}
	return html(b.String())
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
