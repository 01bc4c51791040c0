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
const maxNodes = 100_000

// walker turns goccy/go-yaml AST nodes into Go values, recording an Error
// with the node's position for every value of the wrong shape.
type walker struct {
	d *diagnostics
	// aliases maps every alias to the value of the anchor it names, bound
	// in document order by bindAliases.
	aliases map[*ast.AliasNode]ast.Node
	// selfAliases are aliases inside the value of the anchor they name.
	selfAliases map[*ast.AliasNode]bool
	visited     int
	// exhausted is set once the node budget is spent; what the walker
	// returns after that is incomplete.
	exhausted bool
}

func newWalker(d *diagnostics) *walker {
	if d.where == nil {
		d.where = map[string]Pos{}
	}
	return &walker{d: d, aliases: map[*ast.AliasNode]ast.Node{}, selfAliases: map[*ast.AliasNode]bool{}}
}

func nodePos(n ast.Node) Pos {
	switch v := n.(type) {
	case nil:
		return Pos{}
	case *ast.MappingValueNode:
		// The token of a key: value pair is its ':'; users look for the key.
		return nodePos(v.Key)
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return nodePos(v.Values[0].Key)
		}
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{Line: t.Position.Line, Column: t.Position.Column}
}

// bindAliases binds every alias of the document to its anchor. An alias
// names the closest anchor before it in the file, as YAML defines. An
// anchor is bound only after its own value is complete, so an alias inside
// that value stays unbound and the alias graph has no cycles. Anchors in
// fields that the loader rejects still count, as in YAML.
func (w *walker) bindAliases(body ast.Node) {
	anchors := map[string]ast.Node{}
	open := map[string]int{}
	var bind func(n ast.Node)
	bind = func(n ast.Node) {
		switch v := n.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				bind(mv)
			}
		case *ast.MappingValueNode:
			bind(v.Key)
			bind(v.Value)
		case *ast.MappingKeyNode:
			bind(v.Value)
		case *ast.SequenceNode:
			for _, item := range v.Values {
				bind(item)
			}
		case *ast.TagNode:
			bind(v.Value)
		case *ast.AnchorNode:
			if v.Name == nil {
				bind(v.Value)
				break
			}
			name := v.Name.String()
			open[name]++
			bind(v.Value)
			open[name]--
			anchors[name] = v.Value
		case *ast.AliasNode:
			if v.Value == nil {
				break
			}
			name := v.Value.String()
			if open[name] > 0 {
				w.selfAliases[v] = true
			} else if target, ok := anchors[name]; ok {
				w.aliases[v] = target
			}
		}
	}
	bind(body)
}

// resolve follows anchors, aliases and tags to the node that carries the
// value. It returns nil for an unknown alias or once the node budget is spent;
// both are reported.
func (w *walker) resolve(n ast.Node, field string) ast.Node {
	for depth := 0; n != nil; depth++ {
		w.visited++
		if w.visited > maxNodes {
			if !w.exhausted {
				w.exhausted = true
				w.d.add(nodePos(n), field, "use fewer aliases, or write the values out",
					"file expands to more than %d YAML nodes through aliases", maxNodes)
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			target, ok := w.aliases[v]
			if !ok && w.selfAliases[v] {
				name := v.Value.String()
				w.d.add(nodePos(n), field, "move the alias out of the value that &"+name+" names",
					"alias *%s is inside the value of its own anchor &%s", name, name)
				return nil
			}
			if !ok {
				name := v.Value.String()
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
	// Errors about the value point at its use, which for an alias is the
	// alias rather than the anchor it names.
	at := nodePos(n)
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
		w.d.add(at, field, "write it as key: value lines", "expected a mapping, found %s", kindName(n))
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
		if prev, dup := seen[key]; dup {
			w.d.add(pos, join(field, key), "remove one of them",
				"duplicate key %q, first defined at line %d", key, prev.Line)
			continue
		}
		seen[key] = pos
		if key == "<<" {
			merged, ok := w.mapping(mv.Value, field, known)
			if ok {
				out = append(out, merged...)
			}
			continue
		}
		if known != nil && !contains(known, key) {
			if w.d.full() {
				w.d.dropped++
				continue
			}
			fix := "remove it"
			if s := closest(key, known); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
				// The misspelt field is probably the one that later
				// checks find missing; they need not say so again.
				w.d.markFailed(join(field, s))
			}
			w.d.add(pos, join(field, key), fix+" (known fields: "+strings.Join(known, ", ")+")",
				"unknown field %q", key)
			continue
		}
		w.d.where[join(field, key)] = valuePos(mv.Value, pos)
		out = append(out, entry{key: key, value: mv.Value, pos: pos})
	}
	return out, true
}

// valuePos returns the position of a mapping value, or of its key when the
// value is an implicit null without a position of its own.
func valuePos(value ast.Node, key Pos) Pos {
	if p := nodePos(value); p.Line > 0 {
		return p
	}
	return key
}

// sequence returns the items of a list node. A null node is an empty list.
func (w *walker) sequence(n ast.Node, field string) ([]ast.Node, bool) {
	at := nodePos(n)
	n = w.resolve(n, field)
	if isNull(n) {
		return nil, true
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		w.d.add(at, field, "write it as a list: [a, b] or lines starting with -",
			"expected a list, found %s", kindName(n))
		return nil, false
	}
	for i, item := range s.Values {
		w.d.where[fmt.Sprintf("%s[%d]", field, i)] = nodePos(item)
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
	at := nodePos(n)
	n = w.resolve(n, field)
	if n == nil {
		return "", false
	}
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		w.d.add(at, field, "write a single value", "expected a string, found %s", kindName(n))
		return "", false
	case *ast.NullNode:
		w.d.add(at, field, "give it a value or remove the field", "expected a string, found null")
		return "", false
	}
	return scalarText(n), true
}

func (w *walker) boolean(n ast.Node, field string) (bool, bool) {
	at := nodePos(n)
	n = w.resolve(n, field)
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, true
	}
	if n != nil {
		w.d.add(at, field, "write true or false", "expected a boolean, found %s %q", kindName(n), scalarText(n))
	}
	return false, false
}

func (w *walker) integer(n ast.Node, field string, min, max int) (int, bool) {
	at := nodePos(n)
	n = w.resolve(n, field)
	if n == nil {
		return 0, false
	}
	if _, ok := n.(*ast.IntegerNode); ok {
		v, err := strconv.ParseInt(scalarText(n), 0, 64)
		if err == nil && v >= int64(min) && v <= int64(max) {
			return int(v), true
		}
		w.d.add(at, field, fmt.Sprintf("use a whole number from %d to %d", min, max),
			"%s is out of range", scalarText(n))
		return 0, false
	}
	w.d.add(at, field, fmt.Sprintf("use a whole number from %d to %d", min, max),
		"expected a whole number, found %s %q", kindName(n), scalarText(n))
	return 0, false
}

// strList accepts a list of strings, or a single string as a list of one.
// It returns the strings and the position of each.
func (w *walker) strList(n ast.Node, field string) ([]string, []Pos) {
	r := w.resolve(n, field)
	if r == nil {
		return nil, nil
	}
	if _, ok := r.(*ast.SequenceNode); !ok {
		if s, ok := w.str(r, field); ok {
			return []string{s}, []Pos{nodePos(r)}
		}
		return nil, nil
	}
	items, _ := w.sequence(r, field)
	out := make([]string, 0, len(items))
	var pos []Pos
	for i, it := range items {
		if s, ok := w.str(it, fmt.Sprintf("%s[%d]", field, i)); ok {
			out = append(out, s)
			pos = append(pos, nodePos(it))
		}
	}
	return out, pos
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
// none is within a third of its length plus one edit. A word that would
// have to be replaced whole, such as "a" for "c", is no suggestion.
func closest(s string, known []string) string {
	best, bestDist := "", len(s)/3+2
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		d := editDistance(strings.ToLower(s), k)
		if d < bestDist && d < len(s) && d < len(k) {
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
