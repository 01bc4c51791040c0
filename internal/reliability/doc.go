// Package reliability holds end-to-end tests that check the topolab command
// leaves nothing behind and keeps labs apart. They interrupt labs at random
// points, run labs of different names side by side, start a name twice,
// take away privilege or Docker, leave stale or corrupt state, and soak a
// lab through many up, probe and down cycles.
//
// The tests build the command once per run and drive it as a user would.
// The package has no code of its own besides this comment.
package reliability
