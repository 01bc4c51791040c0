package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

// tsharkFields runs tshark on a pcapng file with a display filter and
// returns one line per packet with the fields tab-separated.
func tsharkFields(t *testing.T, file, filter string, fields ...string) []string {
	t.Helper()
	args := []string{"-r", file, "-T", "fields", "-Y", filter}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestRunCapturesNAT runs the NAT lesson and finds its translations in the
// pcapng file, read by tshark, and in nat.md. An outside host's request to
// the uplink's published port must arrive at web1:80 with the reply
// rewritten back, and a container's ping must leave the uplink from
// 192.0.2.10.
func TestRunCapturesNAT(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		if testenv.Required() {
			t.Fatalf("tshark is not installed: apt-get install tshark")
		}
		t.Skip("tshark is not installed")
	}
	dir := t.TempDir()
	if _, errOut, code := runCLI(t, "run", "nat", "-o", dir); code != exitOK {
		t.Fatalf("run nat exited %d:\n%s", code, errOut)
	}
	pcap := filepath.Join(dir, "capture.pcapng")
	const outside = "203.0.113.10"
	const web1 = "172.17.0.2"

	in := tsharkFields(t, pcap, "tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src=="+outside,
		"frame.interface_name", "ip.dst", "tcp.dstport")
	if !containsLine(in, "uplink\t192.0.2.10\t8080") {
		t.Errorf("no SYN from %s to 192.0.2.10:8080 on the uplink; saw %q", outside, in)
	}
	if !containsLine(in, "web1 eth0 (bridge)\t"+web1+"\t80") {
		t.Errorf("no SYN from %s to %s:80 on web1's veth; saw %q", outside, web1, in)
	}
	back := tsharkFields(t, pcap, "tcp.flags.syn==1 && tcp.flags.ack==1 && ip.dst=="+outside,
		"frame.interface_name", "ip.src", "tcp.srcport")
	if !containsLine(back, "web1 eth0 (bridge)\t"+web1+"\t80") {
		t.Errorf("no SYN-ACK from %s:80 on web1's veth; saw %q", web1, back)
	}
	if !containsLine(back, "uplink\t192.0.2.10\t8080") {
		t.Errorf("the reply is not rewritten back to 192.0.2.10:8080 on the uplink; saw %q", back)
	}
	pings := tsharkFields(t, pcap, "icmp.type==8 && ip.dst=="+outside, "frame.interface_name", "ip.src")
	if !containsLine(pings, "uplink\t192.0.2.10") {
		t.Errorf("no echo request to %s leaving the uplink from 192.0.2.10; saw %q", outside, pings)
	}

	nat, err := os.ReadFile(filepath.Join(dir, "nat.md"))
	if err != nil {
		t.Fatal(err)
	}
	dnat := regexp.MustCompile(`\| dnat \| tcp 203\.0\.113\.10:\d+ > 192\.0\.2\.10:8080 \| uplink \| tcp 203\.0\.113\.10:\d+ > 172\.17\.0\.2:80 \| [^|]*web1 eth0 \(bridge\)[^|]* \| yes \|`)
	if !dnat.Match(nat) {
		t.Errorf("nat.md has no confirmed DNAT of %s to web1:80:\n%s", outside, nat)
	}
	masq := regexp.MustCompile(`\| masquerade \| icmp 172\.17\.0\.\d+ > 203\.0\.113\.10 id \d+ \| [^|]+ \| icmp 192\.0\.2\.10 > 203\.0\.113\.10 id \d+ \| uplink \| yes \|`)
	if !masq.Match(nat) {
		t.Errorf("nat.md has no confirmed masquerade of a ping to %s:\n%s", outside, nat)
	}
	for _, name := range []string{"nat-path-dnat.svg", "nat-path-masquerade.svg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
