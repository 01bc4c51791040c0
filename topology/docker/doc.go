// Package docker is topolab's Docker Engine runtime: it instantiates a
// topology.Plan as real Docker networks and containers through the Engine
// API, so that probes observe what Docker itself does. It is not a general
// Docker client and never touches an object without the topolab.lab label.
//
// # Objects
//
// Every network and container of a lab is named <lab>-<name> and labelled
// topolab.lab=<lab>, plus topolab.network=<name> or topolab.node=<name>.
// One more container, <lab>_outside, labelled topolab.role=outside, holds
// the outside namespace and records the topology (topolab.topology), which
// Runtime.Attach plans again to open the lab from another process.
// Down, List and every rollback find the lab by that label alone. Containers
// are created on their first network and connected to the others in plan
// order after they start, so eth0, eth1, ... match the plan. The plan decides
// every address on user-defined networks. On the default bridge Docker
// assigns addresses itself, so Lab.Plan returns the plan with the addresses
// Docker chose, and Lab.Differences lists where they differ. Each endpoint
// on a user-defined network gets the plan's DNS names as aliases, because
// Docker itself registers <lab>-<name> and its own short ID, and each of
// them as <name>.<network>, because Docker answers that form only for its
// network name <lab>-<network>.
//
// Docker sorts a container's endpoints, which decides its default gateway
// and the order in which its embedded DNS server consults networks, by
// gw-priority and then by Docker network name. The lab prefix can move the
// default bridge, which keeps the name bridge, to the other side of a user
// network. When it does, Up sends gw-priorities that restore the plan's
// order (API 1.48 and later); older daemons ignore them and a file's own
// gw_priority, and Lab.Differences reports both, also as logged warnings.
//
// # Probe image
//
// Containers that name no image, or whose image is not present on the
// daemon, run the probe image. No registry is needed to build it: the build
// context holds a Dockerfile, a statically linked busybox (Debian's
// busybox-static, /bin/busybox) and the statically linked
// topolab-responder (CGO_ENABLED=0 go build ./cmd/topolab-responder), and
// the Dockerfile is
//
//	FROM scratch
//	COPY busybox /bin/busybox
//	COPY topolab-responder /bin/topolab-responder
//	RUN ["/bin/busybox", "--install", "-s", "/bin"]
//	ENV PATH=/bin
//	ENTRYPOINT ["/bin/topolab-responder"]
//
// The image is tagged topolab-probe:<first 12 hex digits of the SHA-256 of
// the three inputs> and built only when no image of that tag exists. The
// responder serves the container's listen ports, named by the environment
// variables TOPOLAB_NODE and TOPOLAB_LISTEN.
//
// # Outside
//
// The outside hosts live in one network namespace, that of the lab's
// outside container, a probe-image container without networks, so the
// outside lasts as long as the lab and not as long as the process that ran
// Up. A veth connects it to the Docker host: the host side,
// named per lab, carries the uplink address 192.0.2.10/32, and the outside
// side carries the router address 192.0.2.1/24 and the outside hosts'
// addresses. The host gets routes only for the documentation prefixes of the
// outside hosts, through that veth, so Docker's own masquerade carries
// container traffic out and nothing leaves the machine. The router address
// is reached through policy rules for the lab's container addresses only,
// because 192.0.2.1 may be a real neighbour of the machine. The outside
// namespace serves DNS on 192.0.2.1:53 with the outside hosts' names and a
// responder on port 80 of every outside host. These servers run in the
// process that ran Up and in every process attached to the lab, which share
// the ports (SO_REUSEPORT). While no topolab process holds the lab, such as
// after topolab up exits, the outside hosts answer pings but their DNS and
// HTTP ports are closed; nothing leaves the machine either way. Containers
// get 192.0.2.1 as their DNS server (docker run --dns), as the plan's
// resolver.
//
// The host node and containers in host network mode run probes in this
// process's own namespace, the machine's real network. Their probes go only
// to loopback, the uplink address, outside hosts, lab bridge gateways
// assigned on this machine and lab container addresses, and to the outside
// router only from the uplink address (topology.SourceSelector), while the
// policy rule carries that address's traffic to the lab's veth.
//
// # Discover
//
// Runtime.Discover reads existing networks and containers, labelled by
// topolab or not, into a topology file. It only reads.
package docker
