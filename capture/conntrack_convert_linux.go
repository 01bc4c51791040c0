package capture

import (
	"net/netip"

	"github.com/ti-mo/conntrack"
)

// IP protocol numbers of the protocols flows are kept for.
const (
	ipProtoICMP   = 1
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	ipProtoICMPv6 = 58
)

// keyOfTuple converts a conntrack tuple to a FlowKey, or returns false for
// protocols the flow table does not keep.
func keyOfTuple(t conntrack.Tuple) (FlowKey, bool) {
	src, dst := t.IP.SourceAddress.Unmap(), t.IP.DestinationAddress.Unmap()
	if !src.IsValid() || !dst.IsValid() {
		return FlowKey{}, false
	}
	p := t.Proto
	switch p.Protocol {
	case ipProtoTCP:
		return FlowKey{ProtoTCP, netip.AddrPortFrom(src, p.SourcePort), netip.AddrPortFrom(dst, p.DestinationPort)}, true
	case ipProtoUDP:
		return FlowKey{ProtoUDP, netip.AddrPortFrom(src, p.SourcePort), netip.AddrPortFrom(dst, p.DestinationPort)}, true
	case ipProtoICMP:
		return FlowKey{ProtoICMP, netip.AddrPortFrom(src, p.ICMPID), netip.AddrPortFrom(dst, p.ICMPID)}, true
	case ipProtoICMPv6:
		return FlowKey{ProtoICMPv6, netip.AddrPortFrom(src, p.ICMPID), netip.AddrPortFrom(dst, p.ICMPID)}, true
	}
	return FlowKey{}, false
}

// translationOf converts a conntrack entry to a Translation, or returns
// false for protocols the flow table does not keep.
func translationOf(f conntrack.Flow) (Translation, bool) {
	orig, ok := keyOfTuple(f.TupleOrig)
	if !ok {
		return Translation{}, false
	}
	reply, ok := keyOfTuple(f.TupleReply)
	if !ok {
		return Translation{}, false
	}
	translated := translatedKey(reply)
	t := Translation{
		Kind:            classify(orig, translated),
		Original:        orig,
		Translated:      translated,
		Start:           f.Timestamp.Start,
		OriginalCounter: Counter{Packets: f.CountersOrig.Packets, Bytes: f.CountersOrig.Bytes},
		ReplyCounter:    Counter{Packets: f.CountersReply.Packets, Bytes: f.CountersReply.Bytes},
	}
	return t, true
}
