package netns

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/topolab/topolab/topology"
	"golang.org/x/sys/unix"
)

// The lab host's ruleset mirrors what Docker Engine 29 programs with its
// iptables backend, written as iptables-nft would write it: tables filter,
// nat and raw of family ip, with Docker's chain names. One extra table of
// family bridge drops same-bridge traffic of icc=false networks, which
// Docker does with br_netfilter (see setupHostSysctls).
//
// NOTE: Docker 28.x also jumps to DOCKER-ISOLATION-STAGE-1 from
// DOCKER-FORWARD, which drops bridge-to-bridge traffic. Whether that also
// stops a container from reaching another network's published port through
// a host address depends on the jump's position and is not reproduced:
// this ruleset follows 29, which allows it.
//
// Rules, in iptables terms (br = a bridge, ctr = a container address):
//
//	raw PREROUTING:     -d ctr ! -i br DROP                 (per endpoint)
//	                    -d 127.0.0.1 ! -i lo -p P --dport H DROP (per 127.0.0.1 binding)
//	filter FORWARD:     policy DROP; -j DOCKER-USER; -j DOCKER-FORWARD
//	DOCKER-FORWARD:     -j DOCKER-CT; -j DOCKER-INTERNAL; -j DOCKER-BRIDGE;
//	                    -i br ACCEPT (icc) or -i br -o br DROP; -i br ACCEPT
//	DOCKER-CT:          -o br ctstate RELATED,ESTABLISHED ACCEPT
//	DOCKER-BRIDGE:      -o br -j DOCKER
//	DOCKER:             -d ctr ! -i br -o br -p P --dport C ACCEPT (per port);
//	                    ! -i br -o br DROP
//	DOCKER-INTERNAL:    ! -s subnet -o br DROP; ! -d subnet -i br DROP
//	nat PREROUTING:     -m addrtype --dst-type LOCAL -j DOCKER
//	nat OUTPUT:         ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
//	nat DOCKER:         [-d hostIP] ! -i br -p P --dport H -j DNAT --to ctr:C
//	nat POSTROUTING:    -s subnet ! -o br -j MASQUERADE     (newest network first)
//
// Internal networks get DOCKER-INTERNAL rules and an explicit -i br -o br
// ACCEPT (or DROP for icc=false) instead of the CT, BRIDGE and MASQUERADE
// rules.

var (
	loopbackNet = netip.MustParsePrefix("127.0.0.0/8")
	policyDrop  = nftables.ChainPolicyDrop
)

// programFirewall writes the lab host's ruleset in one nftables transaction
// on a netlink socket in the lab host namespace.
func (l *lab) programFirewall() error {
	conn, err := nftables.New(nftables.WithNetNSFd(l.hostFd))
	if err != nil {
		return fmt.Errorf("opening nftables connection: %w", err)
	}
	fw := &firewall{conn: conn, plan: l.plan}
	fw.raw()
	fw.filter()
	fw.nat()
	fw.bridgeICC()
	fw.flush()
	if fw.err != nil {
		return fmt.Errorf("programming nftables in the lab host: %w", fw.err)
	}
	return nil
}

// flushEvery is the most messages sent in one nftables batch. The kernel
// acknowledges each message of a batch before the library reads any
// acknowledgement, and a larger batch overflows the socket's default
// receive buffer (ENOBUFS).
const flushEvery = 128

type firewall struct {
	conn *nftables.Conn
	plan *topology.Plan
	// pending counts the messages queued since the last flush; err is the
	// first flush error.
	pending int
	err     error
}

func (fw *firewall) flush() {
	if fw.err == nil {
		fw.err = fw.conn.Flush()
	}
	fw.pending = 0
}

// queued counts one message and flushes when the batch is full.
func (fw *firewall) queued() {
	if fw.pending++; fw.pending >= flushEvery {
		fw.flush()
	}
}

func (fw *firewall) table(name string, family nftables.TableFamily) *nftables.Table {
	fw.queued()
	return fw.conn.AddTable(&nftables.Table{Name: name, Family: family})
}

func (fw *firewall) chain(t *nftables.Table, name string) *nftables.Chain {
	fw.queued()
	return fw.conn.AddChain(&nftables.Chain{Name: name, Table: t})
}

func (fw *firewall) baseChain(t *nftables.Table, name string, typ nftables.ChainType,
	hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
	fw.queued()
	return fw.conn.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio})
}

func (fw *firewall) rule(c *nftables.Chain, exprs ...[]expr.Any) {
	var all []expr.Any
	for _, e := range exprs {
		all = append(all, e...)
	}
	fw.conn.AddRule(&nftables.Rule{Table: c.Table, Chain: c, Exprs: all})
	fw.queued()
}

// bridgeNetworks returns the networks that have a Linux bridge.
func (fw *firewall) bridgeNetworks() []*topology.PlannedNetwork {
	var out []*topology.PlannedNetwork
	for _, n := range fw.plan.Networks {
		if n.Bridge != "" {
			out = append(out, n)
		}
	}
	return out
}

func (fw *firewall) raw() {
	t := fw.table("raw", nftables.TableFamilyIPv4)
	pre := fw.baseChain(t, "PREROUTING", nftables.ChainTypeFilter,
		nftables.ChainHookPrerouting, nftables.ChainPriorityRaw)
	for _, c := range fw.plan.Containers {
		for _, i := range c.Interfaces {
			br := fw.plan.Network(i.Network).Bridge
			fw.rule(pre, daddr(i.Address.Addr()), iifname(br, false), drop())
		}
	}
	for _, c := range fw.plan.Containers {
		for _, p := range c.Ports {
			if p.HostIP == topology.Localhost {
				fw.rule(pre, daddr(p.HostIP), iifname("lo", false), dport(p.Proto, p.HostPort), drop())
			}
		}
	}
}

func (fw *firewall) filter() {
	t := fw.table("filter", nftables.TableFamilyIPv4)
	fw.queued()
	forward := fw.conn.AddChain(&nftables.Chain{Name: "FORWARD", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &policyDrop})
	user := fw.chain(t, "DOCKER-USER")
	fwd := fw.chain(t, "DOCKER-FORWARD")
	ct := fw.chain(t, "DOCKER-CT")
	internal := fw.chain(t, "DOCKER-INTERNAL")
	bridge := fw.chain(t, "DOCKER-BRIDGE")
	docker := fw.chain(t, "DOCKER")
	fw.rule(forward, jump(user))
	fw.rule(forward, jump(fwd))
	fw.rule(fwd, jump(ct))
	fw.rule(fwd, jump(internal))
	fw.rule(fwd, jump(bridge))

	for _, c := range fw.plan.Containers {
		for _, p := range c.Ports {
			br := fw.plan.Network(p.Network).Bridge
			fw.rule(docker, daddr(p.ContainerIP), iifname(br, false), oifname(br, true),
				dport(p.Proto, p.ContainerPort), accept())
		}
	}
	for _, n := range fw.bridgeNetworks() {
		br := n.Bridge
		if n.Internal {
			fw.rule(internal, saddrIn(n.Subnet, false), oifname(br, true), drop())
			fw.rule(internal, daddrIn(n.Subnet, false), iifname(br, true), drop())
			verdict := accept()
			if !n.ICC {
				verdict = drop()
			}
			fw.rule(fwd, iifname(br, true), oifname(br, true), verdict)
			continue
		}
		fw.rule(ct, oifname(br, true), ctEstablished(), accept())
		fw.rule(bridge, oifname(br, true), jump(docker))
		fw.rule(docker, iifname(br, false), oifname(br, true), drop())
		if !n.ICC {
			fw.rule(fwd, iifname(br, true), oifname(br, true), drop())
		}
		fw.rule(fwd, iifname(br, true), accept())
	}
}

func (fw *firewall) nat() {
	t := fw.table("nat", nftables.TableFamilyIPv4)
	pre := fw.baseChain(t, "PREROUTING", nftables.ChainTypeNAT,
		nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := fw.baseChain(t, "OUTPUT", nftables.ChainTypeNAT,
		nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	post := fw.baseChain(t, "POSTROUTING", nftables.ChainTypeNAT,
		nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	docker := fw.chain(t, "DOCKER")
	fw.rule(pre, fibLocal(), jump(docker))
	fw.rule(out, daddrIn(loopbackNet, false), fibLocal(), jump(docker))

	for _, c := range fw.plan.Containers {
		for _, p := range c.Ports {
			br := fw.plan.Network(p.Network).Bridge
			var match []expr.Any
			if !p.HostIP.IsUnspecified() {
				match = daddr(p.HostIP)
			}
			fw.rule(docker, match, iifname(br, false), dport(p.Proto, p.HostPort),
				dnat(p.ContainerIP, p.ContainerPort))
		}
	}
	// Docker inserts each network's rule at the top, so the newest network
	// comes first.
	nets := fw.bridgeNetworks()
	for i := len(nets) - 1; i >= 0; i-- {
		n := nets[i]
		if n.Internal {
			continue
		}
		fw.rule(post, saddrIn(n.Subnet, true), oifname(n.Bridge, false), []expr.Any{&expr.Masq{}})
	}
}

// bridgeICC drops IPv4 frames that an icc=false bridge forwards from one of
// its ports to another, at the bridge family's forward hook: `nft add rule
// bridge topolab-icc forward iifname VETH ether type ip drop` for each host
// veth on such a bridge. A forwarded frame leaves by another port of the
// bridge it came in on, so matching the input port is enough.
// NOTE: matching the bridge itself (meta ibrname) needs nft_meta_bridge,
// which kernels built without it reject, hence one rule per port.
func (fw *firewall) bridgeICC() {
	var forward *nftables.Chain
	for _, c := range fw.plan.Containers {
		for _, i := range c.Interfaces {
			if fw.plan.Network(i.Network).ICC {
				continue
			}
			if forward == nil {
				t := fw.table("topolab-icc", nftables.TableFamilyBridge)
				forward = fw.baseChain(t, "forward", nftables.ChainTypeFilter,
					nftables.ChainHookForward, nftables.ChainPriorityFilter)
			}
			fw.rule(forward, iifname(i.HostVeth, true), []expr.Any{
				&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)},
			}, drop())
		}
	}
}

func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func cmpOp(eq bool) expr.CmpOp {
	if eq {
		return expr.CmpOpEq
	}
	return expr.CmpOpNeq
}

// iifname matches `iifname NAME` (eq) or `iifname != NAME`.
func iifname(name string, eq bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: cmpOp(eq), Register: 1, Data: ifnameBytes(name)},
	}
}

// oifname matches `oifname NAME` (eq) or `oifname != NAME`.
func oifname(name string, eq bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: cmpOp(eq), Register: 1, Data: ifnameBytes(name)},
	}
}

// IPv4 header offsets of the source and destination addresses.
const (
	offSaddr = 12
	offDaddr = 16
)

func daddr(a netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offDaddr, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

func addrIn(offset uint32, p netip.Prefix, in bool) []expr.Any {
	m := make([]byte, 4)
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)},
		&expr.Cmp{Op: cmpOp(in), Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// saddrIn matches `ip saddr PREFIX` (in) or `ip saddr != PREFIX`.
func saddrIn(p netip.Prefix, in bool) []expr.Any { return addrIn(offSaddr, p, in) }

// daddrIn matches `ip daddr PREFIX` (in) or `ip daddr != PREFIX`.
func daddrIn(p netip.Prefix, in bool) []expr.Any { return addrIn(offDaddr, p, in) }

func protoNumber(proto string) byte {
	if proto == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// dport matches `meta l4proto PROTO th dport PORT`.
func dport(proto string, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(proto)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// fibLocal matches `fib daddr type local`, iptables' `-m addrtype
// --dst-type LOCAL`.
func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// ctEstablished matches `ct state established,related`.
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// dnat is `dnat to ADDR:PORT`.
func dnat(a netip.Addr, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func jump(c *nftables.Chain) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: c.Name}}
}

func accept() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}} }

func drop() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }
