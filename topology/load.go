package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// MaxFileSize is the largest topology file Load accepts, in bytes.
const MaxFileSize = 1 << 20

var (
	topLevelFields  = []string{"name", "networks", "containers", "outside", "probes", "expect"}
	networkFields   = []string{"driver", "subnet", "gateway", "internal", "icc", "options"}
	containerFields = []string{"image", "networks", "hostname", "ports", "listen", "network_mode"}
	attachFields    = []string{"aliases", "ipv4_address", "gw_priority"}
	probeFields     = []string{"from", "to", "kind", "by", "network", "name", "port", "via"}
	expectFields    = append(append([]string(nil), probeFields...), "result", "resolves_to")
)

// Load reads, parses and validates the topology file at path. Errors in the
// file's content are an ErrorList; errors.Is(err, ErrInvalid) tells them from
// errors reading the file.
func Load(path string) (*Topology, error) {
	// Check the type before opening: opening a FIFO blocks until a writer
	// comes.
	if info, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("reading topology file: %w", err)
	} else if !info.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: "not a regular file but " + describeMode(info.Mode()),
			Fix: "give the path of a YAML topology file"}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading topology file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading topology file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: "not a regular file but " + describeMode(info.Mode()),
			Fix: "give the path of a YAML topology file"}
	}
	// Read one byte past the limit so that Parse can reject the file by its
	// size without reading all of a huge one.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading topology file: %w", err)
	}
	return Parse(path, data)
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// Parse parses and validates a topology file's content. name is the path or
// fixture name used in error messages and, without its extension, as the lab
// name when the file sets none.
func Parse(name string, data []byte) (*Topology, error) {
	d := &diagnostics{file: name}
	if len(data) > MaxFileSize {
		d.add(Pos{Line: 1, Column: 1}, "", "split the lab or remove unused entries",
			"file is larger than %d bytes", MaxFileSize)
		return nil, d.err()
	}
	if i := strings.IndexByte(string(data), 0); i >= 0 {
		line := strings.Count(string(data[:i]), "\n") + 1
		col := i - strings.LastIndexByte(string(data[:i]), '\n')
		d.add(Pos{Line: line, Column: col}, "", "save the file as UTF-8 YAML text",
			"file contains a NUL byte: it is not a text file")
		return nil, d.err()
	}

	// A UTF-8 byte order mark may start a YAML stream; it is no content.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		i := invalidUTF8(data)
		line := bytes.Count(data[:i], []byte("\n")) + 1
		col := i - bytes.LastIndexByte(data[:i], '\n')
		d.add(Pos{Line: line, Column: col}, "", "save the file as UTF-8 text",
			"file is not valid UTF-8: byte 0x%02x cannot start or continue a character", data[i])
		return nil, d.err()
	}
	if !checkComplexity(d, data) {
		return nil, d.err()
	}
	// Duplicate keys are left to the walker, which names the field.
	file, err := parser.Parse(lexer.Tokenize(string(data)), 0, parser.AllowDuplicateMapKey())
	if err != nil {
		addSyntaxError(d, err)
		return nil, d.err()
	}
	var body ast.Node
	for i, doc := range file.Docs {
		if doc.Body == nil {
			continue
		}
		switch doc.Body.(type) {
		case *ast.CommentGroupNode, *ast.DirectiveNode:
			continue
		}
		if body != nil {
			d.add(nodePos(doc.Body), "", "remove the --- separator and keep one document",
				"file has more than one YAML document (document %d)", i+1)
			return nil, d.err()
		}
		body = doc.Body
	}
	if body == nil {
		d.add(Pos{Line: 1, Column: 1}, "", "add at least a containers: section", "file is empty")
		return nil, d.err()
	}

	w := newWalker(d)
	w.bindAliases(body)
	t := &Topology{File: name}
	l := &loader{w: w, d: d, t: t}
	l.top(body, name)
	// Validation runs even after loading errors, so that one run lists
	// every problem. Once the node budget is spent the topology is too
	// incomplete for that.
	if !w.exhausted {
		d.beginValidation()
		validate(t, d)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// invalidUTF8 returns the offset of the first byte of data that is not
// part of a valid UTF-8 encoding.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// Limits that keep hostile files cheap. The YAML parser's time grows with
// the square of a mapping's entries and of the nesting depth (measured with
// goccy/go-yaml v1.19.2), so both are bounded before it runs. A lab of a few
// hundred containers stays far below both limits.
const (
	maxTokens = 20_000
	maxDepth  = 64
)

// checkComplexity estimates the YAML tokens of data and its depth of flow
// collections ([ and {) without parsing it, and reports a file beyond
// maxTokens or maxDepth. The estimate counts every word and punctuation
// mark outside quotes and comments, so it never undercounts by much.
func checkComplexity(d *diagnostics, data []byte) bool {
	tokens, depth := 0, 0
	line, col := 1, 0
	var quote byte
	inWord, comment := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		col++
		if c == '\n' {
			line, col = line+1, 0
			inWord, comment = false, false
			continue
		}
		switch {
		case comment:
			continue
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
				col++
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r':
			inWord = false
		case '#':
			if !inWord {
				comment = true
			}
		case '"', '\'':
			if !inWord {
				quote = c
				tokens++
			}
		case '[', '{':
			depth++
			tokens++
			inWord = false
			if depth > maxDepth {
				d.add(Pos{Line: line, Column: col}, "", "flatten the structure: a topology needs a few levels only",
					"YAML collections nest more than %d levels deep", maxDepth)
				return false
			}
		case ']', '}':
			depth = max(depth-1, 0)
			tokens++
			inWord = false
		case ',', ':':
			tokens++
			inWord = false
		default:
			if !inWord {
				tokens++
				inWord = true
			}
		}
		if tokens > maxTokens {
			d.add(Pos{Line: line, Column: col}, "", "split the lab into smaller files or remove unused entries",
				"file has more than %d YAML tokens (keys, values and punctuation)", maxTokens)
			return false
		}
	}
	return true
}

// syntaxFixes maps messages of the YAML parser to what the user should do.
var syntaxFixes = []struct{ message, fix string }{
	{"cannot start any token", "indent with spaces: YAML does not allow tabs"},
	{"'}'", "close the { mapping with } and separate its entries with commas"},
	{"']'", "close the [ list with ] and separate its items with commas"},
	{"quoted", "close the quoted text with the same quote it starts with"},
	{"not allowed in this context", "check the indentation: keys of one mapping start in the same column, and a value needs a space after ':'"},
	{"non-map value", "check the indentation: keys of one mapping start in the same column"},
	{"invalid key", "check the indentation: keys of one mapping start in the same column"},
	{"unexpected key name", "check the indentation, and write key: value with a space after ':'"},
	{"anchor", "write the anchor as &name directly before a value"},
	{"alias", "write the alias as *name of an anchor defined earlier"},
}

func addSyntaxError(d *diagnostics, err error) {
	var se *yaml.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		d.add(Pos{Line: 1, Column: 1}, "", "correct the YAML syntax", "invalid YAML: %v", err)
		return
	}
	fix := "correct the YAML syntax at this position"
	for _, f := range syntaxFixes {
		if strings.Contains(se.Message, f.message) {
			fix = f.fix
			break
		}
	}
	p := se.Token.Position
	d.add(Pos{Line: p.Line, Column: p.Column}, "", fix, "invalid YAML: %s", se.Message)
}

// loader fills a Topology from the AST; validation across fields happens
// afterwards in validate.
type loader struct {
	w *walker
	d *diagnostics
	t *Topology
	// positions of fields that validation needs to point at
	namePos Pos
	// ports counts the published ports of all containers, ranges expanded.
	ports int
}

// maxPorts bounds the published ports of one file, ranges expanded, so that
// a few ranges of every port cannot fill memory. Every port of TCP and UDP
// once each fits.
const maxPorts = 2 * 65535

func (l *loader) top(body ast.Node, file string) {
	r := l.w.resolve(body, "")
	if r == nil {
		return
	}
	switch r.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		l.d.add(nodePos(r), "", "start the file with fields such as name:, networks: and containers:",
			"expected a mapping at the top of the file, found %s", kindName(r))
		return
	}
	entries, ok := l.w.mapping(r, "", topLevelFields)
	if !ok {
		return
	}
	for _, e := range entries {
		switch e.key {
		case "name":
			if s, ok := l.w.str(e.value, "name"); ok {
				l.t.Name = s
				l.namePos = nodePos(e.value)
				if !validLabName(s) {
					l.d.add(l.namePos, "name", "use lower-case letters, digits and '-', starting with a letter or digit, at most 40 characters",
						"invalid lab name %q", s)
				}
			}
		case "networks":
			l.networks(e.value)
		case "containers":
			l.containers(e.value)
		case "outside":
			l.outside(e.value)
		case "probes":
			l.probes(e.value)
		case "expect":
			l.expects(e.value)
		}
	}
	if l.t.Name == "" && !l.d.hasError("name") {
		base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		l.t.Name = strings.ToLower(base)
		if !validLabName(l.t.Name) {
			l.d.add(Pos{Line: 1, Column: 1}, "name", "add a name: field with lower-case letters, digits and '-'",
				"the file sets no name and its file name %q is not a valid lab name", base)
		}
	}
}

func (l *loader) networks(n ast.Node) {
	entries, _ := l.w.mapping(n, "networks", nil)
	for _, e := range entries {
		field := "networks." + e.key
		net := &Network{Name: e.key, Driver: DriverBridge, ICC: true, Pos: e.pos}
		body, _ := l.w.mapping(e.value, field, networkFields)
		for _, f := range body {
			ff := join(field, f.key)
			switch f.key {
			case "driver":
				if s, ok := l.w.str(f.value, ff); ok {
					net.Driver = s
					if !contains([]string{DriverBridge, DriverMacvlan, DriverIPvlan, DriverOverlay}, s) {
						l.d.add(nodePos(f.value), ff, "use bridge, macvlan, ipvlan or overlay",
							"unknown network driver %q", s)
					}
				}
			case "subnet":
				if s, ok := l.w.str(f.value, ff); ok {
					p, err := netip.ParsePrefix(s)
					switch {
					case err != nil || !p.Addr().Is4():
						l.d.add(nodePos(f.value), ff, "write an IPv4 CIDR such as 172.18.0.0/16", "invalid subnet %q", s)
					case p.Masked() != p:
						l.d.add(nodePos(f.value), ff, fmt.Sprintf("write %s", p.Masked()),
							"subnet %q has host bits set", s)
					case p.Bits() > 30:
						l.d.add(nodePos(f.value), ff, "use a prefix of /30 or shorter",
							"subnet %q has no room for a gateway and a container", s)
					default:
						net.Subnet = p
					}
				}
			case "gateway":
				if s, ok := l.w.str(f.value, ff); ok {
					a, err := netip.ParseAddr(s)
					if err != nil || !a.Is4() {
						l.d.add(nodePos(f.value), ff, "write an IPv4 address such as 172.18.0.1", "invalid gateway %q", s)
					} else {
						net.Gateway = a
					}
				}
			case "internal":
				net.Internal, _ = l.w.boolean(f.value, ff)
			case "icc":
				net.ICC, _ = l.w.boolean(f.value, ff)
			case "options":
				opts, _ := l.w.mapping(f.value, ff, nil)
				net.Options = map[string]string{}
				for _, o := range opts {
					if s, ok := l.w.str(o.value, join(ff, o.key)); ok {
						net.Options[o.key] = s
					}
				}
			}
		}
		l.t.Networks = append(l.t.Networks, net)
	}
}

func (l *loader) containers(n ast.Node) {
	entries, _ := l.w.mapping(n, "containers", nil)
	for _, e := range entries {
		field := "containers." + e.key
		c := &Container{Name: e.key, Pos: e.pos}
		body, _ := l.w.mapping(e.value, field, containerFields)
		for _, f := range body {
			ff := join(field, f.key)
			switch f.key {
			case "image":
				c.Image, _ = l.w.str(f.value, ff)
			case "hostname":
				if s, ok := l.w.str(f.value, ff); ok {
					c.Hostname = s
					if !validHostname(s) {
						l.d.add(nodePos(f.value), ff, "use labels of letters, digits and '-' separated by dots, at most 64 characters in all",
							"invalid hostname %q: not a DNS name", s)
					}
				}
			case "networks":
				l.attachments(c, f.value, ff)
			case "ports":
				for i, item := range l.listItems(f.value, ff) {
					fi := fmt.Sprintf("%s[%d]", ff, i)
					s, ok := l.w.str(item, fi)
					if !ok {
						continue
					}
					specs, err := parsePortSpec(s, maxPorts-l.ports)
					if errors.Is(err, errTooManyPorts) {
						l.d.add(nodePos(item), fi, "publish port ranges of fewer ports",
							"the file publishes more than %d ports in all", maxPorts)
						continue
					}
					if err != nil {
						l.d.add(nodePos(item), fi, "write [ip:][host_port:]container_port[/tcp|udp], such as 8080:80",
							"invalid port %q: %v", s, err)
						continue
					}
					l.ports += len(specs)
					for j := range specs {
						specs[j].Pos = nodePos(item)
					}
					c.Ports = append(c.Ports, specs...)
				}
			case "listen":
				for i, item := range l.listItems(f.value, ff) {
					fi := fmt.Sprintf("%s[%d]", ff, i)
					s, ok := l.w.str(item, fi)
					if !ok {
						continue
					}
					ls, err := parseListen(s)
					if err != nil {
						l.d.add(nodePos(item), fi, "write port[/tcp|udp], such as 80/tcp", "invalid listen port %q: %v", s, err)
						continue
					}
					c.Listen = append(c.Listen, ls)
				}
			case "network_mode":
				if s, ok := l.w.str(f.value, ff); ok {
					c.ModePos = nodePos(f.value)
					switch {
					case s == "host" || s == "none":
						c.NetworkMode = s
					case s == "bridge" || s == "default":
						c.NetworkMode = ModeBridge
					case strings.HasPrefix(s, "container:") && len(s) > len("container:"):
						c.NetworkMode = ModeContainer
						c.ModeTarget = strings.TrimPrefix(s, "container:")
					default:
						l.d.add(c.ModePos, ff, "use host, none, bridge or container:NAME",
							"invalid network mode %q", s)
					}
				}
			}
		}
		l.t.Containers = append(l.t.Containers, c)
	}
}

// listItems accepts a list, or a single scalar as a list of one.
func (l *loader) listItems(n ast.Node, field string) []ast.Node {
	r := l.w.resolve(n, field)
	if r == nil {
		return nil
	}
	if _, ok := r.(*ast.SequenceNode); !ok {
		if isNull(r) {
			return nil
		}
		return []ast.Node{r}
	}
	items, _ := l.w.sequence(r, field)
	return items
}

func (l *loader) attachments(c *Container, n ast.Node, field string) {
	r := l.w.resolve(n, field)
	if r == nil || isNull(r) {
		return
	}
	if _, ok := r.(*ast.SequenceNode); ok {
		items, _ := l.w.sequence(r, field)
		for i, it := range items {
			if s, ok := l.w.str(it, fmt.Sprintf("%s[%d]", field, i)); ok {
				c.Networks = append(c.Networks, &Attachment{Network: s, Pos: nodePos(it)})
			}
		}
		return
	}
	entries, _ := l.w.mapping(r, field, nil)
	for _, e := range entries {
		a := &Attachment{Network: e.key, Pos: e.pos}
		ff := join(field, e.key)
		body, _ := l.w.mapping(e.value, ff, attachFields)
		for _, f := range body {
			fff := join(ff, f.key)
			switch f.key {
			case "aliases":
				var pos []Pos
				a.Aliases, pos = l.w.strList(f.value, fff)
				for i, al := range a.Aliases {
					if !validDNSName(al) {
						l.d.add(pos[i], fff, "use letters, digits and '-' in labels of at most 63 characters, separated by dots",
							"invalid alias %q: not a DNS name", al)
					}
				}
			case "ipv4_address":
				if s, ok := l.w.str(f.value, fff); ok {
					addr, err := netip.ParseAddr(s)
					if err != nil || !addr.Is4() {
						l.d.add(nodePos(f.value), fff, "write an IPv4 address such as 172.18.0.10", "invalid IPv4 address %q", s)
					} else {
						a.IPv4Address = addr
					}
				}
			case "gw_priority":
				a.GwPriority, _ = l.w.integer(f.value, fff, -1<<31, 1<<31-1)
			}
		}
		c.Networks = append(c.Networks, a)
	}
}

func (l *loader) outside(n ast.Node) {
	entries, _ := l.w.mapping(n, "outside", nil)
	for _, e := range entries {
		field := "outside." + e.key
		s, ok := l.w.str(e.value, field)
		if !ok {
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil || !addr.Is4() {
			l.d.add(nodePos(e.value), field, "write an IPv4 documentation address such as 203.0.113.10",
				"invalid address %q", s)
			continue
		}
		l.t.Outside = append(l.t.Outside, &OutsideHost{Name: e.key, Address: addr, Pos: e.pos})
	}
}

func (l *loader) probes(n ast.Node) {
	items, _ := l.w.sequence(n, "probes")
	for i, it := range items {
		field := fmt.Sprintf("probes[%d]", i)
		entries, ok := l.w.mapping(it, field, probeFields)
		if !ok {
			continue
		}
		p := ProbeSpec{Pos: nodePos(it)}
		for _, e := range entries {
			l.probeField(&p, e, field)
		}
		l.t.Probes = append(l.t.Probes, p)
	}
}

func (l *loader) expects(n ast.Node) {
	items, _ := l.w.sequence(n, "expect")
	for i, it := range items {
		field := fmt.Sprintf("expect[%d]", i)
		entries, ok := l.w.mapping(it, field, expectFields)
		if !ok {
			continue
		}
		x := Expectation{ProbeSpec: ProbeSpec{Pos: nodePos(it)}}
		for _, e := range entries {
			ff := join(field, e.key)
			switch e.key {
			case "result":
				x.Result, _ = l.w.str(e.value, ff)
			case "resolves_to":
				x.ResolvesTo, _ = l.w.strList(e.value, ff)
				if x.ResolvesTo == nil {
					x.ResolvesTo = []string{}
				}
			default:
				l.probeField(&x.ProbeSpec, e, field)
			}
		}
		if x.Result == "" && !l.d.hasError(join(field, "result")) {
			l.d.add(x.Pos, join(field, "result"), "add result: ok (or timeout, refused, unreachable, no-name, error, fail)",
				"expectation has no result")
		}
		l.t.Expect = append(l.t.Expect, x)
	}
}

func (l *loader) probeField(p *ProbeSpec, e entry, field string) {
	ff := join(field, e.key)
	switch e.key {
	case "from":
		p.From, _ = l.w.str(e.value, ff)
	case "to":
		p.To, _ = l.w.str(e.value, ff)
	case "kind":
		p.Kind, _ = l.w.str(e.value, ff)
	case "by":
		p.By, _ = l.w.str(e.value, ff)
	case "network":
		p.Network, _ = l.w.str(e.value, ff)
	case "name":
		p.Name, _ = l.w.str(e.value, ff)
	case "port":
		p.Port, _ = l.w.integer(e.value, ff, 1, 65535)
	case "via":
		p.Via, _ = l.w.str(e.value, ff)
	}
}

// ParsePortSpec parses one docker run -p value:
// [ip:][host_port[-host_port]:]container_port[-container_port][/tcp|udp].
// Ranges are expanded to one PortSpec per port.
func ParsePortSpec(s string) ([]PortSpec, error) {
	return parsePortSpec(s, -1)
}

// errTooManyPorts is returned by parsePortSpec for a range beyond its limit.
var errTooManyPorts = errors.New("too many ports")

// parsePortSpec is ParsePortSpec, but returns errTooManyPorts before
// expanding a range of more than limit ports. A negative limit means no
// limit.
func parsePortSpec(s string, limit int) ([]PortSpec, error) {
	raw := s
	proto := "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		proto = strings.ToLower(s[i+1:])
		s = s[:i]
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("protocol %q is not tcp or udp", proto)
		}
	}
	var ipPart, hostPart, ctrPart string
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		ctrPart = parts[0]
	case 2:
		hostPart, ctrPart = parts[0], parts[1]
	case 3:
		ipPart, hostPart, ctrPart = parts[0], parts[1], parts[2]
	default:
		return nil, errors.New("too many ':' (IPv6 host addresses are not supported)")
	}
	var hostIP netip.Addr
	if ipPart != "" {
		a, err := netip.ParseAddr(ipPart)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("host address %q is not an IPv4 address", ipPart)
		}
		// 0.0.0.0 is Docker's own default: every host address, as when the
		// address is left out.
		if !a.IsUnspecified() {
			hostIP = a
		}
	}
	cLo, cHi, err := parsePortRange(ctrPart, "container port")
	if err != nil {
		return nil, err
	}
	var hLo, hHi int
	if hostPart != "" {
		if hLo, hHi, err = parsePortRange(hostPart, "host port"); err != nil {
			return nil, err
		}
		if hHi-hLo != cHi-cLo && cLo != cHi {
			return nil, fmt.Errorf("host range %s has %d ports but container range %s has %d",
				hostPart, hHi-hLo+1, ctrPart, cHi-cLo+1)
		}
	}
	if limit >= 0 && cHi-cLo+1 > limit {
		return nil, errTooManyPorts
	}
	out := make([]PortSpec, 0, cHi-cLo+1)
	for p := cLo; p <= cHi; p++ {
		spec := PortSpec{HostIP: hostIP, ContainerPort: uint16(p), Proto: proto, Raw: raw}
		if hostPart != "" {
			spec.HostPort = uint16(hLo + (p - cLo))
		}
		out = append(out, spec)
	}
	return out, nil
}

func parsePortRange(s, what string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err = strconv.Atoi(a)
	if err != nil || lo < 1 || lo > 65535 {
		return 0, 0, fmt.Errorf("%s %q is not a number from 1 to 65535", what, a)
	}
	hi = lo
	if isRange {
		hi, err = strconv.Atoi(b)
		if err != nil || hi < 1 || hi > 65535 {
			return 0, 0, fmt.Errorf("%s %q is not a number from 1 to 65535", what, b)
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("%s range %s ends before it starts", what, s)
		}
	}
	return lo, hi, nil
}

func parseListen(s string) (Listen, error) {
	port, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return Listen{}, fmt.Errorf("protocol %q is not tcp or udp", proto)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return Listen{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return Listen{Port: uint16(p), Proto: proto}, nil
}
