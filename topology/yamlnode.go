package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// maxNodes bounds how many YAML nodes one file may expand to, counting every
// use of an alias, so an alias bomb is rejected instead of exhausting memory.
const maxNodes = 200_000

// walker turns goccy/go-yaml AST nodes into Go values, recording an Error
// with the node's position for every value of the wrong shape.
type walker struct {
	d       *diagnostics
	anchors map[string]ast.Node
	visited int
}

func nodePos(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{Line: t.Position.Line, Column: t.Position.Column}
}

// resolve follows anchors, aliases and tags to the node that carries the
// value. It returns nil for an unknown alias or once the node budget is spent;
// both are reported.
func (w *walker) resolve(n ast.Node, field string) ast.Node {
	for depth := 0; n != nil; depth++ {
		w.visited++
		if w.visited > maxNodes {
			if w.visited == maxNodes+1 {
				w.d.add(nodePos(n), field, "remove the repeated aliases",
					"file expands to more than %d YAML nodes through aliases", maxNodes)
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			if name := v.Name.String(); name != "" {
				w.anchors[name] = v.Value
			}
			n = v.Value
		case *ast.AliasNode:
			name := v.Value.String()
			target, ok := w.anchors[name]
			if !ok {
				w.d.add(nodePos(n), field, "define the anchor &"+name+" before this alias",
					"unknown alias *%s", name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
		if depth > 100 {
			w.d.add(nodePos(n), field, "simplify the anchors", "aliases nest more than 100 deep")
			return nil
		}
	}
	return nil
}

// isNull reports whether n is absent or an explicit null.
func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

func kindName(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode, nil:
		return "null"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	default:
		return "a string"
	}
}

// entry is one key and value of a YAML mapping.
type entry struct {
	key   string
	value ast.Node
	pos   Pos
}

// mapping returns the entries of a mapping node in file order. A null node
// is an empty mapping. known, when not nil, lists the accepted keys; any
// other key is reported with the closest known one as the fix.
func (w *walker) mapping(n ast.Node, field string, known []string) ([]entry, bool) {
	n = w.resolve(n, field)
	if isNull(n) {
		return nil, true
	}
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		w.d.add(nodePos(n), field, "write it as key: value lines", "expected a mapping, found %s", kindName(n))
		return nil, false
	}
	var out []entry
	seen := map[string]Pos{}
	for _, mv := range values {
		keyNode := w.resolve(mv.Key, field)
		if keyNode == nil {
			continue
		}
		key := scalarText(keyNode)
		pos := nodePos(mv.Key)
		if key == "<<" {
			merged, ok := w.mapping(mv.Value, field, known)
			if ok {
				out = append(out, merged...)
			}
			continue
		}
		if prev, dup := seen[key]; dup {
			w.d.add(pos, join(field, key), "remove one of them",
				"duplicate key %q, first defined at line %d", key, prev.Line)
			continue
		}
		seen[key] = pos
		if known != nil && !contains(known, key) {
			fix := "remove it"
			if s := closest(key, known); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			w.d.add(pos, join(field, key), fix+" (known fields: "+strings.Join(known, ", ")+")",
				"unknown field %q", key)
			continue
		}
		out = append(out, entry{key: key, value: mv.Value, pos: pos})
	}
	return out, true
}

// sequence returns the items of a list node. A null node is an empty list.
func (w *walker) sequence(n ast.Node, field string) ([]ast.Node, bool) {
	n = w.resolve(n, field)
	if isNull(n) {
		return nil, true
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		w.d.add(nodePos(n), field, "write it as a list: [a, b] or lines starting with -",
			"expected a list, found %s", kindName(n))
		return nil, false
	}
	return s.Values, true
}

func scalarText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case *ast.NullNode:
		return ""
	}
	if t := n.GetToken(); t != nil {
		return t.Value
	}
	return n.String()
}

// str returns a scalar as text. Numbers and booleans are accepted as their
// literal text, so "subnet: 10" fails later with a subnet message rather
// than a type message.
func (w *walker) str(n ast.Node, field string) (string, bool) {
	n = w.resolve(n, field)
	if n == nil {
		return "", false
	}
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		w.d.add(nodePos(n), field, "write a single value", "expected a string, found %s", kindName(n))
		return "", false
	case *ast.NullNode:
		w.d.add(nodePos(n), field, "give it a value or remove the field", "expected a string, found null")
		return "", false
	}
	return scalarText(n), true
}

func (w *walker) boolean(n ast.Node, field string) (bool, bool) {
	n = w.resolve(n, field)
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, true
	}
	if n != nil {
		w.d.add(nodePos(n), field, "write true or false", "expected a boolean, found %s %q", kindName(n), scalarText(n))
	}
	return false, false
}

func (w *walker) integer(n ast.Node, field string, min, max int) (int, bool) {
	n = w.resolve(n, field)
	if n == nil {
		return 0, false
	}
	if _, ok := n.(*ast.IntegerNode); ok {
		v, err := strconv.ParseInt(scalarText(n), 0, 64)
		if err == nil && v >= int64(min) && v <= int64(max) {
			return int(v), true
		}
		w.d.add(nodePos(n), field, fmt.Sprintf("use a whole number from %d to %d", min, max),
			"%s is out of range", scalarText(n))
		return 0, false
	}
	w.d.add(nodePos(n), field, fmt.Sprintf("use a whole number from %d to %d", min, max),
		"expected a whole number, found %s %q", kindName(n), scalarText(n))
	return 0, false
}

// strList accepts a list of strings, or a single string as a list of one.
func (w *walker) strList(n ast.Node, field string) []string {
	r := w.resolve(n, field)
	if r == nil {
		return nil
	}
	if _, ok := r.(*ast.SequenceNode); !ok {
		if s, ok := w.str(r, field); ok {
			return []string{s}
		}
		return nil
	}
	items, _ := w.sequence(r, field)
	out := make([]string, 0, len(items))
	for i, it := range items {
		if s, ok := w.str(it, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// closest returns the known word nearest to s by edit distance, or "" when
// none is within a third of its length.
func closest(s string, known []string) string {
	best, bestDist := "", len(s)/3+2
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if d := editDistance(strings.ToLower(s), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
