package capture

import (
	"fmt"

	"github.com/ti-mo/conntrack"
)

// ReadConntrack dumps the conntrack table of the namespace that do runs in,
// or of the caller's when do is nil, and returns every TCP, UDP, ICMP and
// ICMPv6 entry as a Translation. Entries that rewrite nothing have KindNone.
// Pass the result to Capture.NAT to pair it with captured packets. Call it
// before the lab goes down, because the table goes with the namespace.
func ReadConntrack(do func(func() error) error) ([]Translation, error) {
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	var flows []conntrack.Flow
	err := do(func() error {
		// The netlink socket is created on the calling thread, which do has
		// switched into the namespace, and stays bound to it.
		conn, err := conntrack.Dial(nil)
		if err != nil {
			return fmt.Errorf("opening conntrack netlink socket: %w", err)
		}
		defer conn.Close()
		flows, err = conn.Dump(nil)
		if err != nil {
			return fmt.Errorf("dumping conntrack table: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading conntrack: %w", err)
	}

	out := make([]Translation, 0, len(flows))
	for _, f := range flows {
		if t, ok := translationOf(f); ok {
			out = append(out, t)
		}
	}
	sortTranslations(out)
	return out, nil
}
