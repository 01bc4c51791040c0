package topology_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/topology"
)

// Bounds every hostile file must be rejected within. TotalAlloc counts all
// bytes allocated, so it bounds the peak heap from above.
const (
	maxRejectTime  = time.Second
	maxRejectAlloc = 100 << 20
)

// hostileCase is a generated file and the errors it must give: want lists
// the first errors in order, and count, when not zero, the length of the
// whole list.
type hostileCase struct {
	name  string
	data  []byte
	want  []string
	count int
}

func hostileCases() []hostileCase {
	var cases []hostileCase
	add := func(name string, data []byte, count int, want ...string) {
		cases = append(cases, hostileCase{name: name, data: data, want: want, count: count})
	}

	add("nul-byte", []byte("containers:\n  web: {}\n  db\x00: {}\n"), 1,
		"3:5: file contains a NUL byte: it is not a text file; fix: save the file as UTF-8 YAML text")

	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	garbage[100] = 0
	add("binary-garbage", garbage, 1)

	add("invalid-utf8", []byte("containers:\n  w\xffeb: {}\n"), 1,
		"2:4: file is not valid UTF-8: byte 0xff cannot start or continue a character; fix: save the file as UTF-8 text")

	big := bytes.Repeat([]byte("# padding\n"), topology.MaxFileSize/10+1)
	add("over-1-MiB", big, 1,
		"1:1: file is larger than 1048576 bytes; fix: split the lab or remove unused entries")

	add("deep-flow-lists", []byte("containers: "+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)), 1,
		"1:77: YAML collections nest more than 64 levels deep; fix: flatten the structure: a topology needs a few levels only")
	add("deep-flow-mappings", []byte("containers: "+strings.Repeat("{a: ", 50_000)+strings.Repeat("}", 50_000)), 1,
		"1:269: YAML collections nest more than 64 levels deep; fix: flatten the structure: a topology needs a few levels only")

	var deep strings.Builder
	deep.WriteString("containers:\n")
	for i := 1; i < 1400; i++ {
		deep.WriteString(strings.Repeat(" ", i+1) + "a:\n")
	}
	add("deep-indentation", []byte(deep.String()), 1,
		"3:4: containers.a.a: unknown field \"a\"; fix: remove it (known fields: image, networks, hostname, ports, listen, network_mode)")

	var many strings.Builder
	many.WriteString("containers:\n")
	for i := 0; many.Len() < topology.MaxFileSize-100; i++ {
		fmt.Fprintf(&many, "  c%d: {listen: [80]}\n", i)
	}
	add("too-many-tokens", []byte(many.String()), 1,
		"2224:3: file has more than 20000 YAML tokens (keys, values and punctuation); fix: split the lab into smaller files or remove unused entries")

	var bomb strings.Builder
	bomb.WriteString("containers:\n  base: &big\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&bomb, "    k%d: 1\n", i)
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&bomb, "  c%d: *big\n", i)
	}
	add("alias-expansion", []byte(bomb.String()), 201,
		"3:5: containers.base.k0: unknown field \"k0\"; fix: remove it (known fields: image, networks, hostname, ports, listen, network_mode)")

	var names strings.Builder
	names.WriteString("containers:\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&names, "  web_%d: {}\n", i)
	}
	add("errors-capped", []byte(names.String()), 201,
		"2:3: containers.web_0: invalid container name \"web_0\": not a DNS label; fix: use letters, digits and '-', at most 63 characters")

	add("long-value", []byte("name: "+strings.Repeat("A", 500_000)+"\ncontainers:\n  web: {}\n"), 1,
		"1:7: name: invalid lab name \""+strings.Repeat("A", 100)+"...\"; fix: use lower-case letters, digits and '-', starting with a letter or digit, at most 40 characters")

	add("31-networks", userNetworks(31), 1,
		"32:3: networks.net30: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network; "+
			"fix: give the network an explicit subnet: outside 172.16.0.0/12 and 192.168.0.0/16, or use fewer networks")
	add("1000-networks", userNetworks(1000), 201,
		"32:3: networks.net30: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network; "+
			"fix: give the network an explicit subnet: outside 172.16.0.0/12 and 192.168.0.0/16, or use fewer networks")

	var chain strings.Builder
	chain.WriteString("containers:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&chain, "  c%d: {network_mode: \"container:c%d\"}\n", i, (i+1)%2000)
	}
	add("long-network-mode-loop", []byte(chain.String()), 201)

	var ranges strings.Builder
	ranges.WriteString("containers:\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&ranges, "  c%d: {ports: [\"1-65535:1-65535/udp\"]}\n", i)
	}
	add("port-ranges", []byte(ranges.String()), 49,
		"3:16: containers.c1.ports[0]: Bind for 0.0.0.0:1 failed: port is already allocated (by c0, \"1-65535:1-65535/udp\"); "+
			"fix: choose another host port, or bind the two on different host addresses",
		"4:16: containers.c2.ports[0]: the file publishes more than 131070 ports in all; fix: publish port ranges of fewer ports")
	return cases
}

// userNetworks returns a file with n user-defined networks and no subnets,
// named net0, net1 and so on, each on its own line from line 2.
func userNetworks(n int) []byte {
	var b strings.Builder
	b.WriteString("networks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  net%d: {}\n", i)
	}
	b.WriteString("containers:\n  web: {}\n")
	return []byte(b.String())
}

func TestParseHostileInputs(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name + ".yaml"
			_, err := loadAndPlan(name, tc.data)
			var list topology.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error = %v, want a topology.ErrorList", err)
			}
			if tc.count != 0 && len(list) != tc.count {
				t.Errorf("got %d errors, want %d", len(list), tc.count)
			}
			for i, want := range tc.want {
				if i >= len(list) {
					t.Errorf("missing error %d: %s", i, want)
					continue
				}
				if got := strings.TrimPrefix(list[i].Error(), name+":"); got != want {
					t.Errorf("error %d:\ngot  %s\nwant %s", i, got, want)
				}
			}
		})
	}
}

// TestHostileInputsCheap rejects every invalid file, generated or under
// testdata/invalid, and checks the time and memory each one costs. The
// costliest took about 120 ms and allocated about 43 MiB (BenchmarkParseHostile
// on 2 loaded CPUs), so a failure points to a path that grows with the file
// faster than it should rather than to a slow machine.
func TestHostileInputsCheap(t *testing.T) {
	cases := hostileCases()
	for _, tc := range invalidCases {
		data, err := os.ReadFile(filepath.Join("testdata", "invalid", tc.name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, hostileCase{name: tc.name, data: data})
	}
	for _, tc := range cases {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := loadAndPlan(tc.name+".yaml", tc.data)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if elapsed > maxRejectTime {
			t.Errorf("%s: rejected after %v, want at most %v", tc.name, elapsed, maxRejectTime)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxRejectAlloc {
			t.Errorf("%s: allocated %d MiB, want at most %d MiB", tc.name, alloc>>20, maxRejectAlloc>>20)
		}
	}
}

func BenchmarkParseHostile(b *testing.B) {
	for _, tc := range hostileCases() {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				loadAndPlan(tc.name+".yaml", tc.data)
			}
		})
	}
}

// largeValidFiles returns files near the size limits that load and plan,
// each built to hit one path whose cost grows with the file.
func largeValidFiles() map[string][]byte {
	files := map[string][]byte{}
	var b strings.Builder

	b.WriteString("networks:\n")
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&b, "  ov%d: {driver: overlay}\n", i)
	}
	b.WriteString("containers:\n  web: {networks: [ov0]}\n")
	files["2500-overlay-networks"] = []byte(b.String())

	b.Reset()
	b.WriteString("networks:\n  big: {subnet: 10.0.0.0/8}\ncontainers:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "  c%d: {networks: [big]}\n", i)
	}
	files["2000-containers-one-network"] = []byte(b.String())

	b.Reset()
	b.WriteString("networks:\n")
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "  n%d: {subnet: 10.%d.%d.0/24}\n", i, i/256, i%256)
	}
	b.WriteString("containers:\n  web:\n    networks:\n")
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "      - n%d\n", i)
	}
	files["1500-attachments"] = []byte(b.String())

	b.Reset()
	b.WriteString("containers:\n  web:\n    ports: [\"1-65535:1-65535\", \"192.0.2.10:1-45535:1-45535/udp\"]\n  eph:\n    ports: [\"1-10000/udp\"]\n")
	files["all-ports-published"] = []byte(b.String())

	b.Reset()
	b.WriteString("containers:\n  a: {}\n  b: {}\nprobes:\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - {from: a, to: b, kind: tcp, port: 80}\n")
	}
	files["1000-probes"] = []byte(b.String())
	return files
}

// maxLargeFileTime bounds planning a valid file near the limits. Such a
// file does more work than a rejected one, so it gets more time.
const maxLargeFileTime = 3 * time.Second

// TestLargeValidFilesCheap plans files near the limits. The costliest, all
// ports published, took about 100 ms to 570 ms and allocated 58 MiB on 2
// loaded CPUs.
func TestLargeValidFilesCheap(t *testing.T) {
	for name, data := range largeValidFiles() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		fromPlan, err := loadAndPlan(name+".yaml", data)
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Errorf("%s: rejected (by planning: %v): %.300v", name, fromPlan, err)
		}
		if elapsed > maxLargeFileTime {
			t.Errorf("%s: took %v, want at most %v", name, elapsed, maxLargeFileTime)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxRejectAlloc {
			t.Errorf("%s: allocated %d MiB, want at most %d MiB", name, alloc>>20, maxRejectAlloc>>20)
		}
		t.Logf("%s: %d bytes, %v, %d KiB allocated", name, len(data), elapsed, (after.TotalAlloc-before.TotalAlloc)>>10)
	}
}
