package reliability

import (
	"os"
	"strings"
	"testing"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestLeakCheckSeesLab shows that the leak checks find a running lab's
// namespaces, supervisor and files, and changes to the outer namespace, so
// that the tests that rely on them cannot pass by seeing nothing.
func TestLeakCheckSeesLab(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	lab := labName("rel-check")
	file := labFile(t, "alpine-net", lab)
	check := newLeakChecker(t, outer)
	cleanupLab(t, h, lab)

	h.mustRun("up", file)
	// alpine-net has a lab host, an outside and four container namespaces.
	if n := check.sample(); n < 6 {
		t.Errorf("the running lab holds %d new network namespaces, want at least 6", n)
	}
	left := strings.Join(check.leaks(lab), "\n")
	for _, want := range []string{"network namespace", "process ", "supervise", lab + ".json", lab + ".lock"} {
		if !strings.Contains(left, want) {
			t.Errorf("leaks of a running lab lack %q:\n%s", want, left)
		}
	}

	// A sysctl without side effects on others, flipped and restored.
	const sysctl = "/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts"
	var old []byte
	err := outer.in(func() error {
		var err error
		if old, err = os.ReadFile(sysctl); err != nil {
			return err
		}
		return os.WriteFile(sysctl, []byte(flip(strings.TrimSpace(string(old)))), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	nh, err := netlink.NewHandleAt(vnetns.NsHandle(outer.fd), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	if err := nh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "relcheck0"}, PeerName: "relcheck1"}); err != nil {
		t.Fatal(err)
	}
	left = strings.Join(check.leaks(lab), "\n")
	for _, want := range []string{"gained link", "relcheck0", "sysctl net/ipv4/icmp_echo_ignore_broadcasts changed"} {
		if !strings.Contains(left, want) {
			t.Errorf("leaks after changing the outer namespace lack %q:\n%s", want, left)
		}
	}
	if l, err := nh.LinkByName("relcheck0"); err == nil {
		nh.LinkDel(l)
	}
	outer.in(func() error { return os.WriteFile(sysctl, old, 0) })

	h.mustRun("down", lab)
	check.checkClean(t, lab, "after down")
}

func flip(v string) string {
	if v == "0" {
		return "1"
	}
	return "0"
}
