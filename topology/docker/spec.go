package docker

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// Driver options of Docker's bridge driver that the plan decides.
const (
	optionBridgeName = "com.docker.network.bridge.name"
	optionEnableICC  = "com.docker.network.bridge.enable_icc"
)

// networkSpec returns the request that creates the user-defined network n
// of lab, as docker network create would send it.
func networkSpec(lab string, n *topology.PlannedNetwork) client.NetworkCreateOptions {
	options := map[string]string{}
	for k, v := range n.Options {
		options[k] = v
	}
	if n.Driver == topology.DriverBridge {
		// The plan names the bridge device so that captures of both runtimes
		// name the same interfaces.
		if n.Bridge != "" {
			options[optionBridgeName] = n.Bridge
		}
		options[optionEnableICC] = strconv.FormatBool(n.ICC)
	}
	return client.NetworkCreateOptions{
		Driver:   n.Driver,
		Internal: n.Internal,
		IPAM: &network.IPAM{
			Driver: "default",
			Config: []network.IPAMConfig{{Subnet: n.Subnet, Gateway: n.Gateway}},
		},
		Options: options,
		Labels:  map[string]string{LabelLab: lab, LabelNetwork: n.Name},
	}
}

// connection is one network a container joins after it starts.
type connection struct {
	network  string // Docker network name
	endpoint *network.EndpointSettings
}

// containerSpec is everything needed to create and wire one container.
type containerSpec struct {
	create client.ContainerCreateOptions
	// connect lists the networks after the first, in plan order.
	connect []connection
	// reordered is true when the endpoints carry gw-priorities of topolab's
	// own, because Docker would otherwise sort them differently from the
	// plan.
	reordered bool
}

// dockerNetwork returns the Docker name of the plan's network name.
func dockerNetwork(lab, name string) string {
	if name == topology.DefaultBridge {
		return name
	}
	return objectName(lab, name)
}

// endpointSpec returns the endpoint settings of iface on a user-defined
// network: the plan's address, and every DNS name of the plan as an alias,
// because Docker registers the container's own name, <lab>-<name>, and its
// real short ID rather than the plan's. Docker rejects addresses and
// aliases on the default bridge and assigns the address itself there.
// priority is the gw-priority to send, which daemons before API 1.48
// ignore.
//
// NOTE: no daemon of API 1.48 or later has run this yet, so whether it
// accepts a gw-priority on the default bridge is unchecked.
func endpointSpec(iface *topology.Interface, priority int) *network.EndpointSettings {
	if iface.Network == topology.DefaultBridge {
		return &network.EndpointSettings{GwPriority: priority}
	}
	return &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: iface.Address.Addr()},
		Aliases:    endpointAliases(iface),
		GwPriority: priority,
	}
}

// endpointAliases returns the aliases of iface: its DNS names, then each
// of them as <name>.<network> with the plan's network name. Docker's
// embedded DNS server answers name.network only for the Docker network
// name, <lab>-<network>, so the plan's form needs an alias of its own.
// Engine 20.10 (API 1.41) accepts dotted aliases and resolves them.
func endpointAliases(iface *topology.Interface) []string {
	names := iface.DNSNames
	if len(names) == 0 {
		names = iface.Aliases
	}
	aliases := slices.Clone(names)
	for _, name := range names {
		dotted := name + "." + iface.Network
		if !slices.Contains(aliases, dotted) {
			aliases = append(aliases, dotted)
		}
	}
	return aliases
}

// dockerEndpointOrder returns c's interfaces in the order Docker sorts its
// endpoints, which breaks ties by the Docker network name. User networks
// are named <lab>-<name> but the default bridge stays bridge, so the lab
// prefix can move the default bridge before or after a user network.
func dockerEndpointOrder(plan *topology.Plan, c *topology.PlannedContainer) []*topology.Interface {
	renamed := &topology.Plan{Lab: plan.Lab}
	byCopy := map[*topology.Interface]*topology.Interface{}
	var ifaces []*topology.Interface
	for _, iface := range c.Interfaces {
		n := *plan.Network(iface.Network)
		n.Name = dockerNetwork(plan.Lab, n.Name)
		renamed.Networks = append(renamed.Networks, &n)
		ic := *iface
		ic.Network = n.Name
		byCopy[&ic] = iface
		ifaces = append(ifaces, &ic)
	}
	renamed.BuildIndex()
	sorted := topology.SortEndpoints(renamed, ifaces)
	for i, ic := range sorted {
		sorted[i] = byCopy[ic]
	}
	return sorted
}

// gatewayPriorities returns the gw-priority of each of c's interfaces, by
// plan network name, that makes Docker sort c's endpoints as the plan
// does. It returns the plan's own priorities when Docker's order by its
// network names already matches, and distinct priorities descending in
// plan order otherwise; the plan's order already accounts for the user's
// priorities.
func gatewayPriorities(plan *topology.Plan, c *topology.PlannedContainer) (priorities map[string]int, reordered bool) {
	want := topology.SortEndpoints(plan, c.Interfaces)
	got := dockerEndpointOrder(plan, c)
	priorities = map[string]int{}
	reordered = !slices.Equal(want, got)
	for i, iface := range want {
		priorities[iface.Network] = iface.GwPriority
		if reordered {
			priorities[iface.Network] = len(want) - i
		}
	}
	return priorities, reordered
}

// buildContainerSpec returns the request that creates container c of plan
// from image. probeImage is true when image is topolab's probe image.
func buildContainerSpec(plan *topology.Plan, c *topology.PlannedContainer, image string, probeImage bool) (*containerSpec, error) {
	listen := make([]string, 0, len(c.Listen))
	for _, l := range c.Listen {
		listen = append(listen, fmt.Sprintf("%d/%s", l.Port, l.Proto))
	}
	cfg := &container.Config{
		Image: image,
		Env:   []string{"TOPOLAB_NODE=" + c.Name, "TOPOLAB_LISTEN=" + strings.Join(listen, ",")},
		Labels: map[string]string{
			LabelLab:  plan.Lab,
			LabelNode: c.Name,
		},
	}
	if !probeImage {
		// As docker run -dit: a shell image such as alpine stays up on a
		// terminal, and a server image such as nginx runs its own command.
		cfg.Tty = true
		cfg.OpenStdin = true
	}
	host := &container.HostConfig{}
	spec := &containerSpec{create: client.ContainerCreateOptions{
		Name:       objectName(plan.Lab, c.Name),
		Config:     cfg,
		HostConfig: host,
	}}

	switch c.Mode {
	case topology.ModeHost:
		host.NetworkMode = "host"
		return spec, nil
	case topology.ModeNone:
		host.NetworkMode = "none"
		host.DNS = []netip.Addr{plan.Router}
		cfg.Hostname = c.Hostname
		return spec, nil
	case topology.ModeContainer:
		host.NetworkMode = container.NetworkMode("container:" + objectName(plan.Lab, c.ModeTarget))
		return spec, nil
	}

	if len(c.Interfaces) == 0 {
		return nil, fmt.Errorf("planning container %s: no interfaces in bridge mode", c.Name)
	}
	cfg.Hostname = c.Hostname
	// The plan's resolver: Docker writes it into resolv.conf on the default
	// bridge and forwards to it from the embedded DNS server elsewhere.
	host.DNS = []netip.Addr{plan.Router}
	priorities, reordered := gatewayPriorities(plan, c)
	spec.reordered = reordered
	first := c.Interfaces[0]
	host.NetworkMode = container.NetworkMode(dockerNetwork(plan.Lab, first.Network))
	spec.create.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		dockerNetwork(plan.Lab, first.Network): endpointSpec(first, priorities[first.Network]),
	}}
	for _, iface := range c.Interfaces[1:] {
		spec.connect = append(spec.connect, connection{
			network:  dockerNetwork(plan.Lab, iface.Network),
			endpoint: endpointSpec(iface, priorities[iface.Network]),
		})
	}

	if len(c.Ports) > 0 {
		host.PortBindings = network.PortMap{}
		cfg.ExposedPorts = network.PortSet{}
	}
	for _, pb := range c.Ports {
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", pb.ContainerPort, pb.Proto))
		if err != nil {
			return nil, fmt.Errorf("planning port %d/%s of %s: %w", pb.ContainerPort, pb.Proto, c.Name, err)
		}
		binding := network.PortBinding{}
		if pb.HostIP.IsValid() && !pb.HostIP.IsUnspecified() {
			binding.HostIP = pb.HostIP
		}
		if pb.HostPort != 0 {
			binding.HostPort = strconv.Itoa(int(pb.HostPort))
		}
		host.PortBindings[port] = append(host.PortBindings[port], binding)
		cfg.ExposedPorts[port] = struct{}{}
	}
	return spec, nil
}

// creationOrder returns the plan's containers with every container-mode
// container after the container whose namespace it shares.
func creationOrder(plan *topology.Plan) ([]*topology.PlannedContainer, error) {
	done := map[string]bool{}
	var order []*topology.PlannedContainer
	for len(order) < len(plan.Containers) {
		progress := false
		for _, c := range plan.Containers {
			if done[c.Name] || (c.Mode == topology.ModeContainer && !done[c.ModeTarget]) {
				continue
			}
			done[c.Name] = true
			order = append(order, c)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("planning containers: network_mode container: forms a cycle or names a missing container")
		}
	}
	return order, nil
}
