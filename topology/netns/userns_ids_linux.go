package netns

import (
	"fmt"
	"os"
	"strings"
)

// inChildUserNamespace reports whether the process runs in a user namespace
// other than the initial one, whose uid_map is the single identity line
// "0 0 4294967295".
func inChildUserNamespace() bool {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(data)), " ") != "0 0 4294967295"
}

// outerUID returns the user ID that the process's user ID maps to in the
// parent user namespace, or the user ID itself outside a user namespace.
func outerUID() int {
	uid := os.Getuid()
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	for _, line := range strings.Split(string(data), "\n") {
		var inside, outside, count int
		if n, _ := fmt.Sscan(line, &inside, &outside, &count); n == 3 && uid >= inside && uid < inside+count {
			return outside + uid - inside
		}
	}
	return uid
}
