package docker

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// DiscoverOptions selects what Discover reads. With neither Containers nor
// Labels, it reads every container and every user-defined network. The
// networks of the selected containers, and the containers whose namespaces
// they share, are always read.
type DiscoverOptions struct {
	// Name is the lab name written into the file; empty means
	// "discovered".
	Name string
	// Containers selects containers by Docker name or ID.
	Containers []string
	// Labels selects the containers and networks that carry every label,
	// each KEY or KEY=VALUE, as docker ps --filter label= takes them.
	Labels []string
	// All includes stopped containers, as docker ps -a.
	All bool
}

// Discovery is a topology file read from a live Docker host.
type Discovery struct {
	// YAML is the topology file, which topology.Parse accepts.
	YAML []byte
	// Networks and Containers are the names the file gives the objects,
	// in file order.
	Networks, Containers []string
	// Warnings lists, one sentence each, what Docker reports but the file
	// cannot express, such as IPv6 port bindings or unknown driver options.
	Warnings []string
}

// discoverableOptions are the driver options that topolab's file format
// accepts, per driver, as topology's validation lists them. Discover drops
// the others with a warning.
var discoverableOptions = map[string][]string{
	topology.DriverBridge: {
		optionBridgeName,
		"com.docker.network.bridge.enable_ip_masquerade",
		"com.docker.network.driver.mtu",
		"com.docker.network.container_iface_prefix",
	},
	topology.DriverMacvlan: {"parent", "macvlan_mode", "com.docker.network.driver.mtu"},
	topology.DriverIPvlan:  {"parent", "ipvlan_mode", "ipvlan_flag", "com.docker.network.driver.mtu"},
	topology.DriverOverlay: {"encrypted", "com.docker.network.driver.mtu"},
}

// discoverer collects one Discover call's objects.
type discoverer struct {
	r    *Runtime
	opts DiscoverOptions
	// containers are the inspected containers in file order; names maps
	// their IDs to their names in the file.
	containers []container.InspectResponse
	names      map[string]string
	// networks are the user-defined networks in file order, which is
	// creation order; netNames maps their Docker names to names in the file.
	networks []network.Inspect
	netNames map[string]string
	warnings []string
}

// Discover reads the Docker host's networks and containers into a
// topology file. It only reads: it creates, changes and removes nothing.
func (r *Runtime) Discover(ctx context.Context, opts DiscoverOptions) (*Discovery, error) {
	d := &discoverer{r: r, opts: opts, names: map[string]string{}, netNames: map[string]string{}}
	if err := d.selectContainers(ctx); err != nil {
		return nil, err
	}
	if err := d.selectNetworks(ctx); err != nil {
		return nil, err
	}
	return d.write()
}

// labelFilter returns the filter of opts.Labels.
func (d *discoverer) labelFilter() client.Filters {
	f := make(client.Filters)
	for _, l := range d.opts.Labels {
		f.Add("label", l)
	}
	return f
}

// selectContainers inspects the selected containers and the containers
// whose namespaces they share, in creation order.
func (d *discoverer) selectContainers(ctx context.Context) error {
	var ids []string
	if len(d.opts.Containers) > 0 {
		ids = append(ids, d.opts.Containers...)
	} else {
		list, err := d.r.client.ContainerList(ctx, client.ContainerListOptions{All: d.opts.All, Filters: d.labelFilter()})
		if err != nil {
			return fmt.Errorf("listing containers: %w", d.r.unreachable(err))
		}
		for _, c := range list.Items {
			// A topolab lab's outside container is part of the runtime, not
			// of the topology.
			if c.Labels[LabelRole] != roleOutside {
				ids = append(ids, c.ID)
			}
		}
	}
	seen := map[string]bool{}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		info, err := d.r.client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspecting container %s: %w", id, d.r.unreachable(err))
		}
		c := info.Container
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		d.containers = append(d.containers, c)
		if mode := networkMode(c); strings.HasPrefix(mode, "container:") {
			ids = append(ids, strings.TrimPrefix(mode, "container:"))
		}
	}
	slices.SortStableFunc(d.containers, func(a, b container.InspectResponse) int {
		return strings.Compare(a.Created, b.Created)
	})
	taken := map[string]bool{}
	for _, c := range d.containers {
		dockerName := strings.TrimPrefix(c.Name, "/")
		name := uniqueName(fileName(c.Config.Labels[LabelNode], dockerName), taken)
		if c.Config.Labels[LabelNode] == "" && name != dockerName {
			d.warn("container %s is written as %s: topolab names must be DNS labels, so the lab resolves it by the new name", dockerName, name)
		}
		d.names[c.ID] = name
	}
	return nil
}

// selectNetworks reads the user-defined networks of the selected
// containers, and with a label selection or none also the matching
// networks that no selected container uses.
func (d *discoverer) selectNetworks(ctx context.Context) error {
	var ids []string
	for _, c := range d.containers {
		if c.NetworkSettings == nil {
			continue
		}
		for name, ep := range c.NetworkSettings.Networks {
			if !predefinedNetwork(name) {
				ids = append(ids, firstNonEmpty(ep.NetworkID, name))
			}
		}
	}
	if len(d.opts.Containers) == 0 {
		list, err := d.r.client.NetworkList(ctx, client.NetworkListOptions{Filters: d.labelFilter()})
		if err != nil {
			return fmt.Errorf("listing networks: %w", d.r.unreachable(err))
		}
		for _, n := range list.Items {
			if !predefinedNetwork(n.Name) {
				ids = append(ids, n.ID)
			}
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		info, err := d.r.client.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspecting network %s: %w", id, d.r.unreachable(err))
		}
		if seen[info.Network.ID] {
			continue
		}
		seen[info.Network.ID] = true
		d.networks = append(d.networks, info.Network)
	}
	slices.SortStableFunc(d.networks, func(a, b network.Inspect) int { return a.Created.Compare(b.Created) })
	taken := map[string]bool{topology.DefaultBridge: true, topology.HostNetwork: true, topology.NoneNetwork: true}
	for _, n := range d.networks {
		name := uniqueName(fileName(n.Labels[LabelNetwork], n.Name), taken)
		if n.Labels[LabelNetwork] == "" && name != n.Name {
			d.warn("network %s is written as %s: topolab names must be DNS labels", n.Name, name)
		}
		d.netNames[n.Name] = name
	}
	return nil
}

func predefinedNetwork(name string) bool {
	return name == topology.DefaultBridge || name == topology.HostNetwork || name == topology.NoneNetwork
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// networkMode returns the container's network mode, with Docker's
// "default" spelt bridge.
func networkMode(c container.InspectResponse) string {
	if c.HostConfig == nil || c.HostConfig.NetworkMode == "" || c.HostConfig.NetworkMode == "default" {
		return topology.DefaultBridge
	}
	return string(c.HostConfig.NetworkMode)
}

var invalidNameChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// fileName returns the name an object gets in the file: its topolab label
// when it has one, else its Docker name with every character a DNS label
// cannot hold replaced by a hyphen.
func fileName(label, dockerName string) string {
	name := label
	if name == "" {
		name = dockerName
	}
	name = strings.Trim(invalidNameChars.ReplaceAllString(name, "-"), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if name == "" {
		name = "unnamed"
	}
	return name
}

// uniqueName returns name, or name-2, name-3, ... when taken has it, and
// marks the result taken.
func uniqueName(name string, taken map[string]bool) string {
	candidate := name
	for i := 2; taken[candidate]; i++ {
		candidate = name + "-" + strconv.Itoa(i)
	}
	taken[candidate] = true
	return candidate
}

func (d *discoverer) warn(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// write encodes the selected objects as a topology file.
func (d *discoverer) write() (*Discovery, error) {
	out := &Discovery{}
	name := d.opts.Name
	if name == "" {
		name = "discovered"
	}
	doc := yaml.MapSlice{{Key: "name", Value: name}}

	containers := yaml.MapSlice{}
	for _, c := range d.containers {
		entry, err := d.containerEntry(c)
		if err != nil {
			return nil, err
		}
		containers = append(containers, yaml.MapItem{Key: d.names[c.ID], Value: entry})
		out.Containers = append(out.Containers, d.names[c.ID])
	}

	networks := yaml.MapSlice{}
	for _, n := range d.networks {
		networks = append(networks, yaml.MapItem{Key: d.netNames[n.Name], Value: d.networkEntry(n)})
		out.Networks = append(out.Networks, d.netNames[n.Name])
	}

	if len(networks) > 0 {
		doc = append(doc, yaml.MapItem{Key: "networks", Value: networks})
	}
	if len(containers) > 0 {
		doc = append(doc, yaml.MapItem{Key: "containers", Value: containers})
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding topology %s: %w", name, err)
	}
	header := "# Discovered from Docker networks and containers by topolab discover.\n"
	out.YAML = append([]byte(header), data...)
	out.Warnings = d.warnings
	return out, nil
}

// networkEntry returns the file entry of the user-defined network n.
func (d *discoverer) networkEntry(n network.Inspect) yaml.MapSlice {
	entry := yaml.MapSlice{{Key: "driver", Value: n.Driver}}

	var v4 []network.IPAMConfig
	for _, cfg := range n.IPAM.Config {
		if cfg.Subnet.Addr().Is4() {
			v4 = append(v4, cfg)
		}
	}
	if len(v4) > 0 {
		entry = append(entry, yaml.MapItem{Key: "subnet", Value: v4[0].Subnet.String()})
		if v4[0].Gateway.IsValid() {
			entry = append(entry, yaml.MapItem{Key: "gateway", Value: v4[0].Gateway.String()})
		}
	}
	if len(v4) > 1 {
		d.warn("network %s: only the first of %d IPv4 subnets is written", n.Name, len(v4))
	}
	if n.Internal {
		entry = append(entry, yaml.MapItem{Key: "internal", Value: true})
	}

	options := yaml.MapSlice{}
	keys := make([]string, 0, len(n.Options))
	for k := range n.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := n.Options[k]
		switch {
		case k == optionEnableICC && n.Driver == topology.DriverBridge:
			if v == "false" {
				entry = append(entry, yaml.MapItem{Key: "icc", Value: false})
			}
		case k == optionBridgeName && n.Labels[LabelLab] != "":
			// topolab names the bridges of its own labs; a copy of the lab must
			// not ask for the same device.
		case slices.Contains(discoverableOptions[n.Driver], k):
			options = append(options, yaml.MapItem{Key: k, Value: v})
		default:
			d.warn("network %s: option %s=%s is not written: topolab does not support it for the %s driver", n.Name, k, v, n.Driver)
		}
	}
	if len(options) > 0 {
		entry = append(entry, yaml.MapItem{Key: "options", Value: options})
	}
	return entry
}

// containerEntry returns the file entry of container c.
func (d *discoverer) containerEntry(c container.InspectResponse) (yaml.MapSlice, error) {
	name := d.names[c.ID]
	entry := yaml.MapSlice{}
	if c.Config != nil && c.Config.Image != "" {
		entry = append(entry, yaml.MapItem{Key: "image", Value: c.Config.Image})
	}

	mode := networkMode(c)
	switch {
	case mode == topology.HostNetwork || mode == topology.NoneNetwork:
		entry = append(entry, yaml.MapItem{Key: "network_mode", Value: mode})
	case strings.HasPrefix(mode, "container:"):
		target, ok := d.containerName(strings.TrimPrefix(mode, "container:"))
		if !ok {
			return nil, fmt.Errorf("reading container %s: network mode %s names a container that was not found", name, mode)
		}
		entry = append(entry, yaml.MapItem{Key: "network_mode", Value: "container:" + target})
	default:
		networks, err := d.attachments(c, mode)
		if err != nil {
			return nil, err
		}
		if networks != nil {
			entry = append(entry, yaml.MapItem{Key: "networks", Value: networks})
		}
	}

	// Docker's default hostname is the short ID, and topolab gives its
	// containers the plan's short ID, so a 12-hex-digit hostname is left out.
	if c.Config != nil && mode != topology.HostNetwork && !strings.HasPrefix(mode, "container:") &&
		c.Config.Hostname != "" && !looksLikeShortID(c.Config.Hostname) {
		entry = append(entry, yaml.MapItem{Key: "hostname", Value: c.Config.Hostname})
	}
	if ports := d.ports(name, c); len(ports) > 0 {
		entry = append(entry, yaml.MapItem{Key: "ports", Value: ports})
	}
	if listen := listenPorts(c); len(listen) > 0 {
		entry = append(entry, yaml.MapItem{Key: "listen", Value: listen})
	}
	return entry, nil
}

// containerName returns the file name of the container with the given ID,
// ID prefix or Docker name.
func (d *discoverer) containerName(ref string) (string, bool) {
	for _, c := range d.containers {
		if strings.HasPrefix(c.ID, ref) || strings.TrimPrefix(c.Name, "/") == ref {
			return d.names[c.ID], true
		}
	}
	return "", false
}

// attachments returns the networks entry of c: a list of network names,
// or a map of network settings when any endpoint has aliases, a static
// address or a gw-priority. The network c was created on, its network
// mode, comes first. The others follow in the order of their ethN inside
// the container when the daemon is local and the container runs, else by
// name.
func (d *discoverer) attachments(c container.InspectResponse, mode string) (any, error) {
	if c.NetworkSettings == nil || len(c.NetworkSettings.Networks) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(c.NetworkSettings.Networks))
	for n := range c.NetworkSettings.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	rank := d.interfaceRanks(c)
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case a == mode:
			return -1
		case b == mode:
			return 1
		}
		return rank(c.NetworkSettings.Networks[a]) - rank(c.NetworkSettings.Networks[b])
	})

	list := make([]string, 0, len(names))
	settings := yaml.MapSlice{}
	plain := true
	for _, n := range names {
		ep := c.NetworkSettings.Networks[n]
		fileNet := topology.DefaultBridge
		if n != topology.DefaultBridge {
			var ok bool
			if fileNet, ok = d.netNames[n]; !ok {
				return nil, fmt.Errorf("reading container %s: network %s was not found", d.names[c.ID], n)
			}
		}
		list = append(list, fileNet)
		s := yaml.MapSlice{}
		if aliases := userAliases(c, ep, fileNet); len(aliases) > 0 && n != topology.DefaultBridge {
			s = append(s, yaml.MapItem{Key: "aliases", Value: aliases})
		}
		if ep != nil && ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address.IsValid() {
			s = append(s, yaml.MapItem{Key: "ipv4_address", Value: ep.IPAMConfig.IPv4Address.String()})
		}
		if ep != nil && ep.GwPriority != 0 {
			s = append(s, yaml.MapItem{Key: "gw_priority", Value: ep.GwPriority})
		}
		if len(s) > 0 {
			plain = false
		}
		settings = append(settings, yaml.MapItem{Key: fileNet, Value: s})
	}
	if plain {
		return list, nil
	}
	return settings, nil
}

// interfaceRanks returns a function ordering c's endpoints by the number of
// the ethN that carries their address inside the container. Endpoints not
// found sort last.
func (d *discoverer) interfaceRanks(c container.InspectResponse) func(*network.EndpointSettings) int {
	const unknown = 1 << 20
	var numbers map[netip.Addr]int
	if d.r.local && c.State != nil && c.State.Running && c.State.Pid > 0 {
		var err error
		if numbers, err = interfaceNumbers(c.State.Pid); err != nil {
			d.warn("container %s: interface order taken from network names: %v", d.names[c.ID], err)
		}
	}
	return func(ep *network.EndpointSettings) int {
		if ep == nil {
			return unknown
		}
		if n, ok := numbers[ep.IPAddress]; ok {
			return n
		}
		return unknown
	}
}

// userAliases returns the aliases of ep, on the network the file calls
// network, that the user gave. Engine 20.10 lists the container's short ID
// among them, and topolab adds the plan's DNS names (container name, short
// ID, hostname) and each DNS name as <name>.<network>, which a file states
// by itself.
func userAliases(c container.InspectResponse, ep *network.EndpointSettings, network string) []string {
	own := map[string]bool{strings.TrimPrefix(c.Name, "/"): true}
	if len(c.ID) >= 12 {
		own[c.ID[:12]] = true
	}
	if c.Config != nil {
		own[c.Config.Hostname] = true
		if node := c.Config.Labels[LabelNode]; node != "" {
			own[node] = true
		}
	}
	var aliases []string
	for _, a := range ep.Aliases {
		if own[a] || slices.Contains(aliases, a) || looksLikeShortID(a) {
			continue
		}
		if c.Config != nil && c.Config.Labels[LabelLab] != "" {
			if name, ok := strings.CutSuffix(a, "."+network); ok && (own[name] || looksLikeShortID(name) || slices.Contains(ep.Aliases, name)) {
				continue
			}
		}
		aliases = append(aliases, a)
	}
	return aliases
}

var shortIDRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// looksLikeShortID reports whether a is a 12-hex-digit name, as Docker
// and topolab's plans give containers.
//
// NOTE: discover drops an alias or hostname of this form that the user gave.
func looksLikeShortID(a string) bool { return shortIDRE.MatchString(a) }

// ports returns c's published ports as docker run -p writes them, from the
// bindings the container was created with, so that ephemeral host ports
// stay ephemeral.
func (d *discoverer) ports(name string, c container.InspectResponse) []string {
	if c.HostConfig == nil {
		return nil
	}
	var ports []string
	for port, bindings := range c.HostConfig.PortBindings {
		for _, b := range bindings {
			if b.HostIP.Is6() {
				d.warn("container %s: port binding [%s]:%s->%s is not written: topolab has no IPv6", name, b.HostIP, b.HostPort, port)
				continue
			}
			spec := fmt.Sprintf("%d/%s", port.Num(), port.Proto())
			if b.HostPort != "" {
				spec = b.HostPort + ":" + spec
			} else if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				spec = ":" + spec
			}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				spec = b.HostIP.String() + ":" + spec
			}
			ports = append(ports, spec)
		}
	}
	slices.Sort(ports)
	return ports
}

// listenPorts returns the servers c runs: the listen ports topolab gave its
// probe image, else the ports the image exposes, taken as its servers.
func listenPorts(c container.InspectResponse) []string {
	if c.Config == nil {
		return nil
	}
	for _, env := range c.Config.Env {
		if v, ok := strings.CutPrefix(env, "TOPOLAB_LISTEN="); ok {
			if v == "" {
				return nil
			}
			return strings.Split(v, ",")
		}
	}
	var listen []string
	for port := range c.Config.ExposedPorts {
		listen = append(listen, fmt.Sprintf("%d/%s", port.Num(), port.Proto()))
	}
	slices.Sort(listen)
	return listen
}
